"""L-BFGS-B (scipy) with the options scikit-learn's ``LogisticRegression`` uses, in one
precision or in two stages (float32 evaluations, then float64 ones: the stages are
made by :mod:`sk_softmax._precision`)."""

import warnings

import numpy as np
from scipy import optimize
from sklearn.exceptions import ConvergenceWarning

from .. import _precision

__all__ = ["minimize_lbfgs"]


class _NonFinite(Exception):
    """A float32 evaluation overflowed: the float32 stage ends there."""


def minimize_lbfgs(loss, coef0, *, max_iter=100, tol=1e-4, verbose=0, callback=None, **stages):
    """Minimise ``loss.loss_gradient`` from ``coef0`` with scipy's L-BFGS-B.

    The options are ``LogisticRegression``'s: ``maxiter=max_iter``, ``gtol=tol`` (on
    the projected gradient's max-norm), ``ftol=64 * eps`` and ``maxls=50``; scipy's
    default memory (``maxcor=10``) is kept so that both stop at comparable objectives.
    ``bounds`` (the penalty's box, :meth:`ElasticNet.flat_bounds`, from
    :func:`~sk_softmax._solvers.minimize_full_batch`) are L-BFGS-B's bounds in both
    stages; ``coef0`` is projected into them, and ``tol`` bounds the projected
    gradient ``P(x - g) - x`` (L-BFGS-B's measure).
    With ``float32_loss`` (the same objective evaluated on a float32 copy of the data,
    :func:`sk_softmax._precision.precision_stages`) the solve has two stages: L-BFGS
    on ``float32_loss`` until its gradient's max-norm is below
    ``max(tol, FLOAT32_STAGE_TOL_FLOOR)`` (or its line search gives up, or an evaluation
    overflows), then L-BFGS on ``loss`` from there, whose first evaluation checks the
    stopping test in float64: the result meets the same test as a float64-only solve.
    The second stage starts with an empty L-BFGS memory.

    Parameters
    ----------
    loss : object with ``loss_gradient(coef) -> (float, ndarray)``
        Usually a :class:`sk_softmax._loss.SoftmaxLoss`.
    coef0 : ndarray of shape (n_params,)
        Starting point (float64).
    max_iter : int
        Maximum number of L-BFGS iterations (of both stages together).
    tol : float
        Stop when the max-norm of the gradient is below ``tol``.
    verbose : int
        If positive, print the objective and gradient norm after every iteration.
    callback : callable or None
        Called as ``callback(coef, loss)`` after every iteration (in the float32 stage
        with its objective); raising ``StopIteration`` there ends the solve without a
        warning.
    **stages
        ``float32_loss``: the float32 evaluation of the same objective (object with
        ``loss_gradient``), or None (default) for a one-stage solve; ``bounds``:
        ``(lower, upper)``, ndarrays of shape (n_params,) (``-inf`` / ``inf``: none),
        or None (default, unbounded).

    Returns
    -------
    coef : ndarray of shape (n_params,)
        The solution.
    n_iter : int
        Number of iterations run (at most ``max_iter``).
    result : scipy.optimize.OptimizeResult
        scipy's result of the last stage (``fun``, ``status``, ``message``...), with
        ``nfev`` counting the evaluations of both stages and ``float32_nit`` the
        iterations of the float32 stage (0 without one).

    Warns
    -----
    ConvergenceWarning
        When L-BFGS stops before the gradient criterion is met; it names ``max_iter``
        when that limit was hit.
    """
    coef0, float32_loss, bounds = _stages(coef0, **stages)
    it1 = nfev1 = 0
    if float32_loss is not None:
        tol32 = max(tol, _precision.FLOAT32_STAGE_TOL_FLOOR)
        coef0, it1, result1 = _run(
            float32_loss,
            coef0,
            max_iter,
            tol32,
            verbose,
            callback,
            0,
            "float32 ",
            float32=True,
            bounds=bounds,
        )
        nfev1 = int(result1.nfev)
        if result1.status == 99:  # the callback asked to stop
            result1.float32_nit = it1
            return coef0, it1, result1
    if it1 >= max_iter:
        coef, it2, result = coef0, 0, _check_only(loss, coef0, tol, bounds)
    else:
        coef, it2, result = _run(
            loss, coef0, max_iter - it1, tol, verbose, callback, it1, "", bounds=bounds
        )
    n_iter = it1 + it2
    result.nfev = int(result.nfev) + nfev1
    result.float32_nit = it1
    # status 99: the callback raised StopIteration (a stop asked for, not a failure)
    if result.status not in (0, 99):
        _warn_not_converged(result, n_iter, max_iter)
    return coef, n_iter, result


def _stages(coef0, float32_loss=None, bounds=None):
    """``coef0`` (a float64 copy) projected into ``bounds``, the float32 loss, and the
    bounds as scipy's."""
    coef0 = np.array(coef0, dtype=np.float64)
    if bounds is None:
        return coef0, float32_loss, None
    return np.clip(coef0, bounds[0], bounds[1]), float32_loss, optimize.Bounds(*bounds)


def _check_only(loss, coef, tol, bounds):
    """No iteration left after the float32 stage: one float64 evaluation decides between
    done and a warning (on the projected gradient, L-BFGS-B's test)."""
    value, grad = loss.loss_gradient(coef)
    pg = grad if bounds is None else np.clip(coef - grad, bounds.lb, bounds.ub) - coef
    done = float(np.max(np.abs(pg))) <= tol
    return optimize.OptimizeResult(
        x=coef,
        fun=value,
        jac=grad,
        nit=0,
        nfev=1,
        status=0 if done else 1,
        success=done,
        message="CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"
        if done
        else "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    )


def _warn_not_converged(result, n_iter, max_iter):
    """The ConvergenceWarning, at the level of the estimator method that called the
    solver (through ``minimize_full_batch``)."""
    msg = (
        f"lbfgs failed to converge after {n_iter} iteration(s) "
        f"(status={result.status}): {result.message}"
    )
    if n_iter >= max_iter:
        msg += (
            f"\nIncrease the number of iterations (max_iter={max_iter}) or scale "
            "the data (e.g. with sklearn.preprocessing.StandardScaler)."
        )
    warnings.warn(msg, ConvergenceWarning, stacklevel=5)


def _run(loss, coef0, max_iter, tol, verbose, callback, it0, label, float32=False, bounds=None):
    """One L-BFGS-B solve; returns ``(coef, n_iter, result)``, warning about nothing.

    ``float32``: an evaluation with a non-finite value or gradient ends the solve at the
    last accepted iterate (status 2) instead of handing scipy the overflow."""
    state = {"it": 0, "grad": None, "x": coef0, "nfev": 0}

    def _fun(coef):
        state["nfev"] += 1
        value, grad = loss.loss_gradient(coef)
        if float32 and not (np.isfinite(value) and np.isfinite(grad).all()):
            raise _NonFinite
        state["grad"] = grad
        return value, grad

    def _iteration(intermediate_result):
        state["it"] += 1
        if float32:  # where a non-finite evaluation would end the stage
            state["x"] = np.array(intermediate_result.x)  # scipy reuses its array
        if verbose:
            # L-BFGS-B's line search ends on the accepted point, so the last gradient
            # evaluated is the one at intermediate_result.x.
            gnorm = np.max(np.abs(state["grad"]))
            print(
                f"L-BFGS {label}iter {it0 + state['it']:4d}  objective "
                f"{intermediate_result.fun:.10e}  |grad|_inf {gnorm:.3e}",
                flush=True,
            )
        if callback is not None:
            callback(intermediate_result.x, intermediate_result.fun)

    try:
        result = optimize.minimize(
            _fun,
            coef0,
            method="L-BFGS-B",
            jac=True,
            bounds=bounds,
            callback=_iteration if (verbose or callback is not None or float32) else None,
            options={
                "maxiter": max_iter,
                "maxls": 50,
                "gtol": tol,
                "ftol": 64 * np.finfo(float).eps,
            },
        )
    except _NonFinite:
        x = np.array(state["x"], dtype=np.float64)
        return (
            x,
            state["it"],
            optimize.OptimizeResult(
                x=x,
                nit=state["it"],
                nfev=state["nfev"],
                status=2,
                success=False,
                message="non-finite float32 evaluation",
            ),
        )
    return result.x, min(int(result.nit), max_iter), result
