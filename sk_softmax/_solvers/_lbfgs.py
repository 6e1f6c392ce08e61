"""L-BFGS-B (scipy) with the options scikit-learn's ``LogisticRegression`` uses."""

import warnings

import numpy as np
from scipy import optimize
from sklearn.exceptions import ConvergenceWarning

__all__ = ["minimize_lbfgs"]


def minimize_lbfgs(loss, coef0, *, max_iter=100, tol=1e-4, verbose=0, callback=None):
    """Minimise ``loss.loss_gradient`` from ``coef0`` with scipy's L-BFGS-B.

    The options are ``LogisticRegression``'s: ``maxiter=max_iter``, ``gtol=tol`` (on
    the projected gradient's max-norm), ``ftol=64 * eps`` and ``maxls=50``; scipy's
    default memory (``maxcor=10``) is kept so that both stop at comparable objectives.

    Parameters
    ----------
    loss : object with ``loss_gradient(coef) -> (float, ndarray)``
        Usually a :class:`sk_softmax._loss.SoftmaxLoss`.
    coef0 : ndarray of shape (n_params,)
        Starting point (float64).
    max_iter : int
        Maximum number of L-BFGS iterations.
    tol : float
        Stop when the max-norm of the gradient is below ``tol``.
    verbose : int
        If positive, print the objective and gradient norm after every iteration.
    callback : callable or None
        Called as ``callback(coef, loss)`` after every iteration; raising
        ``StopIteration`` there ends the solve without a warning.

    Returns
    -------
    coef : ndarray of shape (n_params,)
        The solution.
    n_iter : int
        Number of iterations run (at most ``max_iter``).
    result : scipy.optimize.OptimizeResult
        scipy's result (``nfev``, ``fun``, ``status``, ``message``...).

    Warns
    -----
    ConvergenceWarning
        When L-BFGS stops before the gradient criterion is met; it names ``max_iter``
        when that limit was hit.
    """
    state = {"it": 0, "grad": None}

    def _fun(coef):
        value, grad = loss.loss_gradient(coef)
        state["grad"] = grad
        return value, grad

    def _iteration(intermediate_result):
        state["it"] += 1
        if verbose:
            # L-BFGS-B's line search ends on the accepted point, so the last gradient
            # evaluated is the one at intermediate_result.x.
            gnorm = np.max(np.abs(state["grad"]))
            print(
                f"L-BFGS iter {state['it']:4d}  objective {intermediate_result.fun:.10e}"
                f"  |grad|_inf {gnorm:.3e}",
                flush=True,
            )
        if callback is not None:
            callback(intermediate_result.x, intermediate_result.fun)

    result = optimize.minimize(
        _fun,
        np.asarray(coef0, dtype=np.float64),
        method="L-BFGS-B",
        jac=True,
        callback=_iteration if (verbose or callback is not None) else None,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    n_iter = min(int(result.nit), max_iter)
    # status 99: the callback raised StopIteration (a stop asked for, not a failure)
    if result.status not in (0, 99):
        msg = (
            f"lbfgs failed to converge after {n_iter} iteration(s) "
            f"(status={result.status}): {result.message}"
        )
        if n_iter >= max_iter:
            msg += (
                f"\nIncrease the number of iterations (max_iter={max_iter}) or scale "
                "the data (e.g. with sklearn.preprocessing.StandardScaler)."
            )
        warnings.warn(msg, ConvergenceWarning, stacklevel=4)
    return result.x, n_iter, result
