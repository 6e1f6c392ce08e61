"""L-BFGS with the options scikit-learn's ``LogisticRegression`` uses (our own iteration
without bounds, scipy's L-BFGS-B with them), in one precision or in two stages (float32
evaluations, then float64 ones: the stages are made by :mod:`sk_softmax._precision`), on
preconditioned coefficients.

**Preconditioners.**  L-BFGS starts every solve with a multiple of the identity as its
inverse-Hessian estimate, so coefficients of very different or coupled curvature
(features of different scales, correlated features, weights and their intercept) slow it
down.  L-BFGS therefore runs on ``v``, a linear change of variables of ``coef``, the same as
starting from the inverse-Hessian estimate it implies:

- without bounds, where the loss gives a Kronecker-factored Hessian estimate
  (:meth:`sk_softmax._loss.SoftmaxLoss.curvature_kronecker`: dense data),
  ``coef_k = L^-T v_k`` for every class row, ``L`` the Cholesky factor of its feature
  factor (:func:`kronecker_preconditioner`);
- otherwise (CSR data, bounds, wide data) ``v = coef / s``, ``s = 1 / sqrt(h)`` from the
  Hessian diagonal's estimate (:meth:`~sk_softmax._loss.SoftmaxLoss.curvature_diagonal`,
  averaged over the classes), where it spreads over at least
  :data:`MIN_CURVATURE_SPREAD`: a Jacobi preconditioner (:func:`jacobi_scale`).

The stopping test stays on the gradient of ``coef``: a callback stops the solve when the
max-norm of its projected gradient is at most ``tol``, as scipy's ``gtol`` does without a
preconditioner.  Measured in benchmarks/results/preconditioner.md.  Without bounds the
iteration is :func:`lbfgs_unbounded`, not scipy's.
"""

import warnings
from collections import deque

import numpy as np
from scipy import linalg, optimize
from scipy.linalg import blas
from sklearn.exceptions import ConvergenceWarning

from .. import _precision

__all__ = ["minimize_lbfgs", "two_loop"]


class _NonFinite(Exception):
    """A float32 evaluation overflowed: the float32 stage ends there."""


class _RefreshAtStart(Exception):
    """The starting point's objective is below the Kronecker factor's refresh level (a
    warm start): the solve starts again with the refreshed factor."""


class _ConvergedAtStart(Exception):
    """The starting point already meets the stopping test (scaled solves, where scipy's
    own test is off)."""


#: Curvatures below this fraction of the largest are raised to it before the scaling
#: ``1 / sqrt(h)``: a column of zeros (or an unpenalised one at ``C = inf``) has no
#: curvature, and its scale would be infinite.
_MIN_RELATIVE_CURVATURE = 1e-12
#: The scaling is used only where the (class-averaged) curvatures of all coefficients,
#: weights and intercepts, spread over at least this factor (largest / smallest).  Where
#: it applies since the Kronecker preconditioner (CSR data, bounds, wide dense data),
#: measured on the text-like CSR sets (class-averaged, always on; none -> scaled
#: evaluations): 100000 rows at C = 1 (spread ~4600) 44 -> 22 and C = 10 (~3e4) 49 -> 26,
#: 50000 rows at C = 1 (~2400) 35 -> 34; below it, 100000 rows at C = 0.1 (~480) 13 -> 20;
#: columns of scales 1e-3..1e3 and unscaled wine (spreads 1e6 and more): thousands ->
#: tens or hundreds.  docs/design.md.
MIN_CURVATURE_SPREAD = 1e3


def jacobi_scale(h):
    """The scaling ``s = 1 / sqrt(h)`` of a Hessian-diagonal estimate ``h``, normalised to
    a median of 1 (the first L-BFGS step, a multiple of the gradient, keeps its size).

    Parameters
    ----------
    h : ndarray of shape (n_params,) or None

    Returns
    -------
    s : ndarray of shape (n_params,), float64, or None
        None when ``h`` is None, has no positive finite entry, or its entries spread
        over less than :data:`MIN_CURVATURE_SPREAD` (no scaling).
    """
    if h is None:
        return None
    h = np.asarray(h, dtype=np.float64)
    top = float(np.max(h, initial=0.0))
    if not (np.isfinite(top) and top > 0.0):
        return None
    h = np.maximum(h, _MIN_RELATIVE_CURVATURE * top)
    if top < MIN_CURVATURE_SPREAD * float(h.min()):
        return None
    s = 1.0 / np.sqrt(h)
    return s / np.median(s)


#: Added to the unit diagonal of the equilibrated matrix before its Cholesky factor: a
#: floor on its eigenvalues (collinear or constant columns, at a weak penalty) that
#: keeps the factorisation defined and bounds by ``1 / sqrt(ridge) = 100`` how much the
#: change of variables amplifies the gradient's rounding along such directions (float32
#: evaluations with collinear columns: at 1e-8 two float32 fits of the same data, summed
#: in different orders, ended 5e-4 apart in probability, at 1e-4 3e-5); MNIST, its
#: folds and digits took as many iterations at 1e-8 to 1e-3.
_KRONECKER_RIDGE = 1e-4
#: The Kronecker estimate is the Hessian at the start, where every row contributes the
#: class curvature ``c``.  On data that the model comes to separate, the rows' curvature
#: falls with the cross-entropy (``p (1 - p) ~ -log p`` for a row classified with near
#: certainty) while the penalty's stays, and a preconditioner that still weighs the data
#: as at the start makes the penalty-dominated directions ill-conditioned: on 4000 MNIST
#: rows at C=1000 L-BFGS took 3299 iterations to tol=1e-8 (LogisticRegression: 685).
#: So the preconditioner is refactored with ``c`` scaled by ``phi = 2 f / sum(c)`` (at most
#: 1) whenever the objective ``f`` falls below ``phi / _KRONECKER_REFRESH * sum(c) / 2``,
#: ``phi`` the factor's in use (L-BFGS restarts there, with an empty memory): 545
#: iterations there (docs/design.md, "The Kronecker factor refreshed ...").
_KRONECKER_REFRESH = 4.0


class _Diagonal:
    """``coef = v * s`` (:func:`jacobi_scale`): the gradient in ``v`` is ``g * s``."""

    def __init__(self, s):
        self.s = s

    def to_coef(self, v):
        return v * self.s

    def to_v(self, coef):
        return coef / self.s

    def grad_v(self, grad):
        return grad * self.s

    def grad_coef(self, grad_v):
        return grad_v / self.s


class _Kronecker:
    """``coef_k = L^-T v_k`` for each class row ``k`` (its weights and intercept), where
    ``L L^T = A``: the inverse square root of the Kronecker estimate ``c (x) A``, so that
    L-BFGS meets a Hessian near the identity in ``v`` (see
    :func:`kronecker_preconditioner`)."""

    def __init__(self, L, n_rows, curvature=None, phi=1.0):
        self.L = L
        self.shape = (n_rows, L.shape[0])
        self.curvature, self.phi = curvature, phi

    def refresh_below(self):
        """The objective below which :func:`refreshed` gives a new factor (see
        ``_KRONECKER_REFRESH``), or None."""
        if self.curvature is None or not np.any(self.curvature.penalty_curvature > 0.0):
            return None  # (no penalty: a new factor would be the same)
        return self.phi / _KRONECKER_REFRESH * self.c_sum / 2.0

    @property
    def c_sum(self):
        """``sum(c)`` of the estimate: a row's curvature at the start."""
        return float(np.sum(self.curvature.class_curvature))

    def _solve(self, M, trans):
        # (m, K) right-hand sides: L^-T (trans) or L^-1 applied to every class row
        return linalg.solve_triangular(self.L, M.T, lower=True, trans=trans, check_finite=False)

    def to_coef(self, v):
        return self._solve(v.reshape(self.shape), "T").T.ravel()

    def to_v(self, coef):
        return (self.L.T @ coef.reshape(self.shape).T).T.ravel()

    def grad_v(self, grad):
        return self._solve(grad.reshape(self.shape), "N").T.ravel()

    def grad_coef(self, grad_v):
        return (self.L @ grad_v.reshape(self.shape).T).T.ravel()


def kronecker_preconditioner(curvature, phi=1.0):
    """The preconditioner of a :class:`~sk_softmax._loss.KroneckerCurvature`
    ``diag(c) (x) S + I (x) diag(p)``, approximated as ``mean(c) I (x) A`` with
    ``A = S + diag(p) / mean(c)``.

    One matrix for every class: the change of variables then keeps the sum of the
    classes' coefficients where it starts (the softmax's gradient sums to zero over the
    classes), as unpreconditioned L-BFGS does, so that the intercepts' common shift,
    which the objective leaves free, stays that of ``LogisticRegression`` (zero from a
    zero start); per-class factors ``1 / sqrt(c_k)`` would move it.  ``A`` is
    equilibrated (unit diagonal; a diagonal entry below ``_MIN_RELATIVE_CURVATURE`` of
    the largest is raised to it), ``_KRONECKER_RIDGE`` is added to its diagonal, and
    its Cholesky factor scaled back.

    ``phi`` scales ``c`` (:func:`refreshed`: the data's curvature fallen with the
    objective), so that the penalty weighs more in ``A``.

    Returns
    -------
    preconditioner : _Kronecker or None
        None when ``c`` has no positive entry or the factorisation fails.
    """
    c, S, p = (np.asarray(a, dtype=np.float64) for a in curvature)
    c_mean = float(np.mean(c)) * phi if c.size else 0.0
    if not (np.isfinite(c_mean) and c_mean > 0.0):
        return None
    A = np.array(S)
    A[np.diag_indices_from(A)] += p / c_mean
    diag = np.diag(A)
    top = float(np.max(diag, initial=0.0))
    if not (np.isfinite(top) and top > 0.0):
        return None
    r = 1.0 / np.sqrt(np.maximum(diag, _MIN_RELATIVE_CURVATURE * top))
    R = A * r[:, None] * r[None, :]
    R[np.diag_indices_from(R)] += _KRONECKER_RIDGE
    try:
        L = linalg.cholesky(R, lower=True, check_finite=True)
    except (linalg.LinAlgError, ValueError):
        return None
    return _Kronecker(L / r[:, None], c.shape[0], curvature, phi)


def refreshed(precond, value):
    """The preconditioner for the rest of a solve whose objective has fallen to
    ``value``: ``precond`` itself, or a :class:`_Kronecker` refactored with
    ``phi = min(1, 2 value / sum(c))`` (see ``_KRONECKER_REFRESH``), or None where that
    factorisation fails (the solve goes on without one)."""
    below = precond.refresh_below() if isinstance(precond, _Kronecker) else None
    if below is None or not value < below:
        return precond
    phi = min(1.0, 2.0 * max(float(value), 0.0) / precond.c_sum)
    return kronecker_preconditioner(precond.curvature, phi)


def minimize_lbfgs(loss, coef0, *, max_iter=100, tol=1e-4, verbose=0, callback=None, **stages):
    """Minimise ``loss.loss_gradient`` from ``coef0`` with L-BFGS (L-BFGS-B with bounds).

    The options are ``LogisticRegression``'s: ``maxiter=max_iter``, ``gtol=tol`` (on
    the projected gradient's max-norm of ``coef``, also when scaled), ``ftol=64 * eps``,
    ``maxls=50`` and scipy's default memory (``maxcor=10``).
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
        or None; ``kronecker``: a :class:`~sk_softmax._loss.KroneckerCurvature`, whose
        preconditioner (:func:`kronecker_preconditioner`, refreshed as the objective
        falls: :func:`refreshed`) L-BFGS uses in both stages without bounds, or None;
        ``curvature``: a Hessian-diagonal estimate
        (n_params,), or a callable that returns one (called only when no Kronecker
        preconditioner is made), that scales ``coef`` in both stages otherwise, where
        its entries spread widely (:func:`jacobi_scale`), or None;
        ``n_class_rows``: the layout's class rows (``K``), over which the diagonal is
        averaged (every class scaled alike, see :func:`kronecker_preconditioner`).

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
    coef0, float32_loss, bounds, precond = _stages(coef0, **stages)
    it1 = nfev1 = 0
    if float32_loss is not None:
        tol32 = max(tol, _precision.FLOAT32_STAGE_TOL_FLOOR)
        coef0, it1, result1 = _run(
            float32_loss, coef0, max_iter, tol32, verbose, callback, 0, "float32 ",
            float32=True, bounds=bounds, precond=precond,
        )  # fmt: skip
        nfev1 = int(result1.nfev)
        precond = result1.precond  # (refreshed on the way)
        if result1.status == 99:  # the callback asked to stop
            result1.float32_nit = it1
            return coef0, it1, result1
    if it1 >= max_iter:
        coef, it2, result = coef0, 0, _check_only(loss, coef0, tol, bounds)
    else:
        coef, it2, result = _run(loss, coef0, max_iter - it1, tol, verbose, callback, it1, "",
                                 bounds=bounds, precond=precond)  # fmt: skip
    n_iter = it1 + it2
    result.nfev = int(result.nfev) + nfev1
    result.float32_nit = it1
    # status 99: the callback raised StopIteration (a stop asked for, not a failure)
    if result.status not in (0, 99):
        _warn_not_converged(result, n_iter, max_iter)
    return coef, n_iter, result


def _class_mean(h, n_class_rows):
    """``h`` with each coefficient's entry averaged over the classes' rows (the layout's
    ``(n_class_rows, -1)``): the same scale for every class, for the reason given in
    :func:`kronecker_preconditioner`."""
    h = np.asarray(h, dtype=np.float64)
    per_class = h.reshape(n_class_rows, -1)
    return np.broadcast_to(per_class.mean(axis=0), per_class.shape).ravel()


def _stages(
    coef0,
    float32_loss=None,
    bounds=None,
    curvature=None,
    kronecker=None,
    n_class_rows=1,
):
    """``coef0`` (a float64 copy) projected into ``bounds``, the float32 loss, the
    bounds as scipy's and the preconditioner: :func:`kronecker_preconditioner` without
    bounds (a box is not a box after its change of variables), else the diagonal
    scaling (:func:`jacobi_scale`), or None."""
    coef0 = np.array(coef0, dtype=np.float64)
    precond = None
    if bounds is None and kronecker is not None:
        precond = kronecker_preconditioner(kronecker)
    if precond is None and curvature is not None:
        h = curvature() if callable(curvature) else curvature  # made only when needed
        s = None if h is None else jacobi_scale(_class_mean(h, n_class_rows))
        precond = None if s is None else _Diagonal(s)
    if bounds is None:
        return coef0, float32_loss, None, precond
    coef0 = np.clip(coef0, bounds[0], bounds[1])
    return coef0, float32_loss, optimize.Bounds(*bounds), precond


def _projected_gradient_norm(coef, grad, bounds):
    """Max-norm of L-BFGS-B's projected gradient ``P(coef - grad) - coef`` (the gradient
    itself without bounds): the stopping test's measure."""
    pg = grad if bounds is None else np.clip(coef - grad, bounds.lb, bounds.ub) - coef
    return float(np.max(np.abs(pg), initial=0.0))


def _check_only(loss, coef, tol, bounds):
    """No iteration left after the float32 stage: one float64 evaluation decides between
    done and a warning (on the projected gradient, L-BFGS-B's test)."""
    value, grad = loss.loss_gradient(coef)
    done = _projected_gradient_norm(coef, grad, bounds) <= tol
    return optimize.OptimizeResult(
        x=coef,
        fun=value,
        jac=grad,
        nit=0,
        nfev=1,
        status=0 if done else 1,
        success=done,
        message=_CONVERGED if done else "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
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


class _Solve:
    """One L-BFGS solve's evaluations and per-iteration work, on ``v``, the coefficients
    after the preconditioner's change of variables (``coef`` itself without one).

    ``float32``: an evaluation with a non-finite value or gradient ends the solve at the
    last accepted iterate instead of handing scipy the overflow.  ``precond`` (or None:
    none; with bounds only a :class:`_Diagonal`): L-BFGS works on ``v`` (the bounds
    scaled alike) with its ``gtol`` test off, and :meth:`iteration` stops it on the
    projected gradient of ``coef``, or asks :func:`_run` for a refreshed Kronecker
    factor (``refresh``) once the objective falls below its level."""

    def __init__(self, loss, coef0, tol, bounds, precond, float32, report, callback):
        self.loss, self.tol, self.bounds, self.precond = loss, tol, bounds, precond
        self.float32, self.report, self.callback = float32, report, callback
        self.scaled_bounds = bounds
        if precond is not None and bounds is not None:
            lb, ub = precond.to_v(bounds.lb), precond.to_v(bounds.ub)
            self.scaled_bounds = optimize.Bounds(lb, ub)
        self.it = self.nfev = self.evaluations = 0
        self.known = None  # (value, grad) answering the first call (see _run)
        self.grad, self.x, self.converged = None, coef0, False
        below = precond.refresh_below() if isinstance(precond, _Kronecker) else None
        self.refresh_below, self.refresh = below, False
        self.last = (None, None)

    def v0(self, coef0):
        return coef0 if self.precond is None else self.precond.to_v(coef0)

    def coef(self, v):
        """``coef`` of ``v``; with a diagonal scaling and bounds, a coefficient at a
        scaled bound exactly at its bound (``(lb / s) * s`` may round to either side of
        ``lb``)."""
        if self.precond is None:
            return v
        coef = self.precond.to_coef(v)
        if self.bounds is not None:
            lb, ub = self.bounds.lb, self.bounds.ub
            coef = np.where(v <= self.scaled_bounds.lb, lb, coef)
            coef = np.where(v >= self.scaled_bounds.ub, ub, coef)
            np.clip(coef, lb, ub, out=coef)
        return coef

    def fun(self, v):
        self.nfev += 1
        coef = self.coef(v)
        if self.known is not None:  # the first point of a restart: evaluated already
            (value, grad), self.known = self.known, None
        else:
            self.evaluations += 1
            value, grad = self.loss.loss_gradient(coef)
        if self.float32 and not (np.isfinite(value) and np.isfinite(grad).all()):
            raise _NonFinite
        self.grad = grad
        if self.precond is None:
            return value, grad
        # the accepted iterate is the last point evaluated: iteration() reuses its coef
        # (a Kronecker change of variables costs a sixth of an evaluation on 4000 x 784)
        self.last = (np.array(v), coef)
        if self.nfev == 1 and _projected_gradient_norm(coef, grad, self.bounds) <= self.tol:
            raise _ConvergedAtStart(value, grad)
        if self.nfev == 1 and self.refresh_below is not None and value < self.refresh_below:
            raise _RefreshAtStart(value, grad)  # a warm start, already down there
        return value, self.precond.grad_v(grad)

    def iteration(self, intermediate_result):
        self.it += 1
        v = intermediate_result.x
        last_v, last_coef = self.last
        if self.precond is None or not np.array_equal(v, last_v):
            x = self.coef(v)
        else:
            x = last_coef
        if self.float32:  # where a non-finite evaluation would end the stage
            self.x = np.array(x)  # (scipy reuses its array)
        # L-BFGS-B's line search ends on the accepted point, so the last gradient
        # evaluated is the one at x.
        if self.report is not None:
            self.report(self.it, intermediate_result.fun, self.grad)
        if self.callback is not None:
            self.callback(x, intermediate_result.fun)
        # after the user's callback, which sees every iterate, as with scipy's own test
        if self.precond is not None:
            if _projected_gradient_norm(x, self.grad, self.bounds) <= self.tol:
                self.converged = True
                raise StopIteration
            if self.refresh_below is not None and intermediate_result.fun < self.refresh_below:
                self.refresh = True  # _run goes on with a refreshed factor
                raise StopIteration

    def result(self, result, max_iter):
        """``(coef, n_iter, result)`` of a solve scipy ended, in unscaled terms."""
        coef = self.coef(result.x)
        result.x = coef
        if self.refresh:
            result.jac = self.grad
        elif self.converged:
            result.status, result.success, result.message = 0, True, _CONVERGED
            result.jac = self.grad
        elif self.precond is not None:
            result.jac = self.precond.grad_coef(result.jac)
        return coef, min(int(result.nit), max_iter), result


def _run(
    loss,
    coef0,
    max_iter,
    tol,
    verbose,
    callback,
    it0,
    label,
    float32=False,
    bounds=None,
    precond=None,
):
    """One L-BFGS-B solve (:class:`_Solve`), in runs restarted with a refreshed Kronecker
    factor (:func:`refreshed`) where one asks for it; returns ``(coef, n_iter, result)``
    with ``result.precond`` the factor in use at the end, warning about nothing."""
    n_iter = nfev = 0
    known = None  # (value, grad) at coef0: a restart's point, already evaluated
    while True:
        coef0, more, result, again = _run_once(
            loss, coef0, max_iter - n_iter, tol, verbose, callback, it0 + n_iter, label,
            float32, bounds, precond, known,
        )  # fmt: skip
        n_iter += more
        nfev += int(result.nfev)
        if again is None:
            break
        if n_iter >= max_iter:  # the limit reached on the iteration that asked for it
            result.status, result.success = 1, False
            result.message = "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT"
            break
        # the rest of the solve from the same point, with an empty memory
        precond, known = refreshed(precond, again[0]), again
    result.nfev, result.precond = nfev, precond
    return coef0, n_iter, result


def _run_once(
    loss, coef0, max_iter, tol, verbose, callback, it0, label, float32, bounds, precond, known
):
    """One run of :func:`_run`: ``(coef, n_iter, result, again)``, ``again`` the
    ``(value, grad)`` at ``coef`` where the run ended to have its factor refreshed, else
    None.  ``known``: the ``(value, grad)`` at ``coef0``, answering the first evaluation."""

    def report(it, value, grad):
        print(
            f"L-BFGS {label}iter {it0 + it:4d}  objective "
            f"{value:.10e}  |grad|_inf {np.max(np.abs(grad)):.3e}",
            flush=True,
        )

    solve = _Solve(
        loss, coef0, tol, bounds, precond, float32, report if verbose else None, callback
    )
    solve.known = known
    per_iteration = verbose or callback is not None or float32 or precond is not None
    options = {
        "maxiter": max_iter,
        "maxls": _MAXLS,
        "gtol": tol if precond is None else 0.0,
        "ftol": _FTOL,
    }
    try:
        if bounds is None:
            result = lbfgs_unbounded(solve.fun, solve.v0(coef0), solve.iteration, **options)
        else:
            result = optimize.minimize(
                solve.fun,
                solve.v0(coef0),
                method="L-BFGS-B",
                jac=True,
                bounds=solve.scaled_bounds,
                callback=solve.iteration if per_iteration else None,
                options=options,
            )
    except _NonFinite:
        x = np.array(solve.x, dtype=np.float64)
        status = dict(status=2, success=False, message="non-finite float32 evaluation")
        nfev = solve.evaluations
        return x, solve.it, optimize.OptimizeResult(x=x, nit=solve.it, nfev=nfev, **status), None
    except _RefreshAtStart as start:
        result = optimize.OptimizeResult(x=coef0, nit=0, nfev=solve.evaluations, status=99)
        return coef0, 0, result, start.args
    except _ConvergedAtStart as done:
        value, grad = done.args
        status = dict(status=0, success=True, message=_CONVERGED)
        nfev = solve.evaluations
        result = optimize.OptimizeResult(x=coef0, fun=value, jac=grad, nit=0, nfev=nfev, **status)
        return coef0, 0, result, None
    coef, n_iter, result = solve.result(result, max_iter)
    result.nfev = solve.evaluations
    again = (float(result.fun), solve.grad) if solve.refresh else None
    return coef, n_iter, result, again


_CONVERGED = "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"


# -- L-BFGS without bounds -------------------------------------------------------------
#: L-BFGS-B's options as scikit-learn sets them: the relative decrease of the objective
#: that stops a solve (``ftol``), line-search evaluations per iteration (``maxls``)
_FTOL = 64 * np.finfo(float).eps
_MAXLS = 50
_MEMORY = 10  # scipy's default ``maxcor``
# L-BFGS-B's line search (MINPACK-2's dcsrch): sufficient decrease, curvature, interval
_LS_FTOL, _LS_GTOL, _LS_XTOL, _LS_STPMAX = 1e-3, 0.9, 0.1, 1e10
_MESSAGES = {
    0: _CONVERGED,
    1: "STOP: TOTAL NO. OF ITERATIONS REACHED LIMIT",
    2: "ABNORMAL: LINE SEARCH FAILED",
    3: "CONVERGENCE: RELATIVE REDUCTION OF F <= FACTR*EPSMCH",
    99: "`callback` raised `StopIteration`.",
}


def lbfgs_unbounded(fun, x0, callback=None, *, maxiter, maxls, gtol, ftol):
    """L-BFGS without bounds: L-BFGS-B's iteration, with the two-loop recursion.

    Without bounds L-BFGS-B's step is the L-BFGS direction ``-H g`` (its compact
    representation and subspace minimisation reduce to it), found by the same line
    search (MINPACK-2's ``dcsrch``, scipy's port, with L-BFGS-B's constants; a first
    step of length 1, then the unit step) and the same tests: stop when
    ``max |g| <= gtol``, when the relative decrease ``(f_old - f) / max(|f_old|, |f|, 1)``
    is at most ``ftol``, or after ``maxiter`` iterations; a pair with
    ``s.y <= eps * (-g_old.s)`` is not stored; a failed line search clears the memory and
    retries once along ``-g``.  The direction costs ``O(memory * n)`` where L-BFGS-B's
    subspace step forms ``O(memory^2 * n)`` products: on a million coefficients (the
    text-like CSR fit) 36 ms per iteration against L-BFGS-B's 117 ms (docs/design.md).

    Parameters
    ----------
    fun : callable
        ``fun(x) -> (value, gradient)``.
    x0 : ndarray of shape (n,)
    callback : callable or None
        ``callback(intermediate_result)`` after every iteration (scipy's convention: its
        ``x`` and ``fun``); raising ``StopIteration`` ends the solve (status 99).
    maxiter, maxls : int
    gtol, ftol : float

    Returns
    -------
    result : scipy.optimize.OptimizeResult
        ``x``, ``fun``, ``jac``, ``nit``, ``nfev``, ``status`` (0 converged, 1
        ``maxiter``, 2 line search failed, 99 stopped by the callback), ``success``,
        ``message``.
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    counter = {"nfev": 1}
    pairs = deque(maxlen=_MEMORY)
    nit, status = 0, None
    if gtol > 0.0 and np.max(np.abs(g), initial=0.0) <= gtol:
        status = 0
    while status is None and nit < maxiter:
        found = _step(fun, x, f, g, pairs, nit == 0, maxls, counter)
        if found is None:
            status = 2
            break
        x_new, f_new, g_new = found
        s_k, y_k = x_new - x, g_new - g
        if float(s_k @ y_k) > np.finfo(float).eps * float(-(g @ s_k)):
            pairs.append((s_k, y_k, 1.0 / float(s_k @ y_k)))
        f_old, x, f, g = f, x_new, f_new, g_new
        nit += 1
        if callback is not None:
            try:
                callback(optimize.OptimizeResult(x=x, fun=f))
            except StopIteration:
                status = 99
                break
        if gtol > 0.0 and np.max(np.abs(g)) <= gtol:
            status = 0
        elif (f_old - f) <= ftol * max(abs(f_old), abs(f), 1.0):
            status = 3  # converged, on the objective's relative decrease
    status = 1 if status is None else status
    return optimize.OptimizeResult(
        x=x,
        fun=f,
        jac=g,
        nit=nit,
        nfev=counter["nfev"],
        status=0 if status == 3 else status,
        success=status in (0, 3),
        message=_MESSAGES[status],
    )


def _step(fun, x, f, g, pairs, first, maxls, counter):
    """One iteration's line search along the L-BFGS direction (the first from a step of
    length 1); when it fails with stored pairs, they are cleared and steepest descent is
    tried once.  ``(x, f, g)`` of the new point, or None."""
    d = -two_loop(g, pairs)
    step0 = min(1.0 / float(np.linalg.norm(d)), _LS_STPMAX) if first else 1.0
    found = _line_search(fun, x, f, g, d, step0, maxls, counter)
    if found is None and pairs:
        pairs.clear()
        d = -g
        step0 = min(1.0 / float(np.linalg.norm(d)), _LS_STPMAX)
        found = _line_search(fun, x, f, g, d, step0, maxls, counter)
    return found


def two_loop(g, pairs):
    """``H g`` for the L-BFGS inverse-Hessian estimate of ``pairs`` ``(s, y, 1 / s.y)``,
    its initial matrix ``(s.y / y.y) I`` from the newest pair (the identity without one)."""
    q = np.array(g, dtype=np.float64)
    alphas = []
    # BLAS axpy updates q in place: a million coefficients' temporaries would triple the
    # memory traffic of the recursion
    for s_k, y_k, rho in reversed(pairs):
        a = rho * float(s_k @ q)
        q = blas.daxpy(y_k, q, a=-a)
        alphas.append(a)
    if pairs:
        _, y_k, rho = pairs[-1]
        q *= 1.0 / (rho * float(y_k @ y_k))
    for (s_k, y_k, rho), a in zip(pairs, reversed(alphas)):
        q = blas.daxpy(s_k, q, a=a - rho * float(y_k @ q))
    return q


def _line_search(fun, x, f, g, d, step0, maxls, counter):
    """MINPACK-2's ``dcsrch`` along ``d`` (scipy's port), at most ``maxls`` evaluations
    (one per iteration of the search); ``(x, f, g)`` of the accepted point, or None."""
    from scipy.optimize._dcsrch import DCSRCH

    last = {}  # the latest evaluated step: dcsrch asks phi and derphi at the same point

    def phi(step):
        if step not in last:
            counter["nfev"] += 1
            x_new = x + step * d
            last.clear()
            last[step] = (x_new, *fun(x_new))
        return last[step][1]

    def derphi(step):
        phi(step)
        return float(last[step][2] @ d)

    derphi0 = float(g @ d)
    if not derphi0 < 0.0:
        return None
    search = DCSRCH(phi, derphi, _LS_FTOL, _LS_GTOL, _LS_XTOL, 0.0, _LS_STPMAX)
    step = search(step0, phi0=f, derphi0=derphi0, maxiter=maxls)[0]
    if step is None or step not in last:
        return None
    return last[step]
