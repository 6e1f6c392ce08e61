"""Orthant-wise limited-memory quasi-Newton (OWL-QN) for the L1 / elastic-net objective.

OWL-QN (Andrew and Gao, "Scalable training of L1-regularized log-linear models", ICML
2007) minimises ``F(x) = f(x) + l1 * ||x[mask]||_1`` with ``f`` smooth, using nothing
but ``f``'s value and gradient, so it runs on the same fused loss+gradient kernel as
L-BFGS, one pass over ``X`` per evaluation.  Within an orthant (a fixed sign pattern)
``F`` is smooth; each iteration:

1. takes the pseudo-gradient ``pg``, the least-norm subgradient of ``F``
   (:meth:`sk_softmax._penalty.ElasticNet.min_norm_subgradient`): at ``x_i = 0`` it is zero when
   ``|g_i| <= l1`` (the coordinate stays at zero), else ``g_i -/+ l1``;
2. scales it by the L-BFGS inverse-Hessian estimate of the smooth part (two-loop
   recursion over the last ``memory`` pairs of steps and *smooth* gradient changes,
   restricted to the coordinates not pinned at zero) and zeroes the direction's
   components whose sign disagrees with ``-pg``;
3. backtracks along it (Armijo on ``F`` with ``pg``), projecting every trial point onto
   the orthant of the current point (signs of ``x``, or of ``-pg`` where ``x_i = 0``):
   coordinates that would cross zero stop at exactly zero, which is where the exact
   zeros of the L1 solution come from; then onto the penalty's box (bounds on the
   weights), whose active bounds the least-norm subgradient already takes into account
   (zero where the gradient pushes a weight out of the box).

**Newton steps on a settled support.**  OWL-QN's tail is slow on strongly penalised
problems: once the set of non-zero weights has settled, what remains is an
ill-conditioned smooth problem in those weights, and L-BFGS converges on it only
linearly (MNIST at 10x the critical C: 800 evaluations to the objective that saga
reaches in 59 epochs).  So once at most 2% of the non-zero weights changed for two
iterations in a row, and while at most a fifth of the weights are non-zero, the
direction is instead a truncated Newton step (conjugate gradients on Hessian-vector
products, :meth:`sk_softmax._loss.SoftmaxLoss.hessian_product`) in the non-zero weights
and intercepts, with the Hessian subsampled to 5000 rows so that a product costs a
fraction of an evaluation; the same orthant-projected line search follows, and weights
that cross zero stop there.  When the largest violation of optimality is at a zero
weight, a quasi-Newton step (which can move it) is taken instead: without that rule a
settled support never let such a weight in, and the solve stalled.  A Newton step the
line search rejects turns Newton steps off for the rest of the solve.

It stops when ``max |pg| <= tol`` (the same test as L-BFGS's ``gtol``, and the same
measure for every ``l1_ratio``: the distance of zero from the subdifferential), when
the objective's relative decrease falls below ``64 * eps`` (L-BFGS-B's ``ftol`` as
scikit-learn sets it), or after ``max_iter`` iterations.  docs/design.md gives the
measurements behind the choice of this method.
"""

import warnings
from collections import deque

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._lbfgs import two_loop

__all__ = [
    "NEWTON_MAX_SUPPORT",
    "SUPPORT_CHANGE",
    "L1Result",
    "minimize_owlqn",
    "support_kept",
    "warn_not_converged",
]

_ARMIJO = 1e-4
_MAX_LINE_SEARCH = 50
_FTOL = 64 * np.finfo(float).eps
# Newton steps (see minimize_owlqn) once, for _NEWTON_AFTER iterations in a row, at most
# SUPPORT_CHANGE of the non-zero weights changed, and while at most NEWTON_MAX_SUPPORT
# of the weights are non-zero; the Hessian is subsampled to _HESSIAN_ROWS rows; CG takes
# at most _CG_MAX_ITER products per step.  Measured in docs/design.md.  The L1 solver's
# hand-over to OWL-QN (sk_softmax._solvers._l1) uses the same two public thresholds.
_NEWTON_AFTER = 2
SUPPORT_CHANGE = 0.02
NEWTON_MAX_SUPPORT = 0.2
_HESSIAN_ROWS = 5000
_CG_MAX_ITER = 50


def support_kept(old_support, new_support):
    """Whether at most :data:`SUPPORT_CHANGE` of the non-zero weights changed."""
    changed = int(np.count_nonzero(new_support != old_support))
    return changed <= SUPPORT_CHANGE * max(1, int(np.count_nonzero(new_support)))


class L1Result(dict):
    """What the solve did: ``fun`` (objective), ``nit``, ``nfev``, ``status`` (0:
    converged, 1: max_iter reached, 2: line search failed, 99: stopped by the
    callback), ``message`` and ``subgrad_norm`` (the final ``max |pg|``)."""

    __getattr__ = dict.__getitem__


def _two_loop(pg, pairs, free):
    """``H @ pg`` for the L-BFGS inverse-Hessian estimate ``H`` of the stored pairs,
    restricted to the ``free`` coordinates (the others come out 0).

    Weights pinned at zero (``x_i = 0`` with ``|g_i| <= l1``) do not move, but their
    gradient changes still enter the pairs; left in, they distort the curvature the
    free coordinates see (an intercept-only model took hundreds of iterations).  So the
    products run over the free coordinates, as L-BFGS-B's subspace step does; a pair
    whose restricted curvature ``s.y`` is not positive is skipped.  The recursion itself
    is L-BFGS's (:func:`~sk_softmax._solvers._lbfgs.two_loop`) on the restricted pairs.
    """
    restricted = []
    for s, y in pairs:
        sf = np.where(free, s, 0.0)
        yf = np.where(free, y, 0.0)
        sy = float(np.dot(sf, yf))
        if sy <= 1e-10 * float(np.dot(yf, yf)) or sy <= 0.0:
            continue
        restricted.append((sf, yf, 1.0 / sy))
    return two_loop(np.where(free, pg, 0.0), restricted)


def _newton_direction(hessp, pg, free):
    """Truncated conjugate gradients on ``H d = -pg`` in the ``free`` coordinates.

    The relative residual tolerance ``min(0.5, sqrt(||pg||))`` makes the steps
    superlinear near the solution (Eisenstat and Walker's forcing term).  Stops at
    negative curvature (returning the last iterate, or ``-pg``).
    """
    g = np.where(free, pg, 0.0)
    g_norm = float(np.sqrt(np.dot(g, g)))
    tol = min(0.5, np.sqrt(g_norm)) * g_norm
    d = np.zeros_like(g)
    r = -g
    p = r.copy()
    rr = float(np.dot(r, r))
    for _ in range(_CG_MAX_ITER):
        Hp = hessp(p)
        curvature = float(np.dot(p, Hp))
        if not curvature > 0.0:
            break
        alpha = rr / curvature
        d += alpha * p
        r -= alpha * Hp
        rr_new = float(np.dot(r, r))
        if np.sqrt(rr_new) <= tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    if not np.any(d):
        d = -g
    return d


def minimize_owlqn(
    loss,
    coef0,
    *,
    max_iter=100,
    tol=1e-4,
    memory=10,
    verbose=0,
    callback=None,
    settled=False,
    warn=True,
):
    """Minimise ``loss``'s smooth part plus its L1 term with OWL-QN.

    Parameters
    ----------
    loss : FullBatchLoss
        The solver contract (:mod:`sk_softmax._solvers._contract`): ``loss_gradient``
        (the smooth part), ``penalty.l1``, ``layout.penalty_mask`` (the coefficients the
        L1 term applies to) and, where ``supports_hessian_product``, Newton steps.
    coef0 : ndarray of shape (n_params,)
    max_iter : int
        Maximum number of iterations (each one line search, usually one evaluation).
    tol : float
        Stop when the max-norm of the least-norm subgradient is at most ``tol``.
    memory : int
        Number of correction pairs kept (scipy's L-BFGS-B default, 10).
    verbose : int
        If positive, print the objective, subgradient norm and non-zeros per iteration.
    callback : callable or None
        Called as ``callback(coef, objective)`` after every iteration; raising
        ``StopIteration`` ends the solve without a warning.
    settled : bool
        The support of ``coef0`` has already settled (it comes from another solver):
        Newton steps may start at once.
    warn : bool
        Emit the ConvergenceWarning (else the caller does, from ``result``).

    Returns
    -------
    coef : ndarray of shape (n_params,), float64
        The solution; penalised coefficients are exactly 0 where the L1 term holds them.
    n_iter : int
    result : L1Result

    Warns
    -----
    ConvergenceWarning
        When the solve ends before ``max |pg| <= tol`` (``max_iter`` hit, or no step
        along the direction decreases the objective) and not by the ``ftol`` test.
    """
    mask = loss.layout.penalty_mask
    x, g, F, pg = _evaluate(loss, loss.penalty.project(coef0, mask), mask)
    pairs, nfev, n_iter = deque(maxlen=memory), 1, 0
    support = x[mask] != 0.0
    stable = _NEWTON_AFTER if settled else 0  # iterations the support has (nearly) kept
    newton_ok = loss.supports_hessian_product
    pg_norm = float(np.max(np.abs(pg))) if pg.size else 0.0
    status, message = (0, "subgradient below tol") if pg_norm <= tol else (1, "max_iter reached")
    while status != 0 and n_iter < max_iter:
        newton = newton_ok and _newton_due(x, pg, mask, support, stable)
        d, slope, newton = _direction(loss, x, pg, mask, pairs, newton)
        step = 1.0 if (pairs or newton) else min(1.0, 1.0 / np.sqrt(-slope))
        found, evaluations = _line_search(loss, x, d, pg, F, mask, step)
        nfev += evaluations
        if found is None:
            if newton:
                # the quadratic model misled: back to quasi-Newton steps for good
                newton_ok = False
                continue
            status, message = 2, "the line search found no decrease"
            break
        x_new, _, g_new, F_new = found
        _remember(pairs, x_new - x, g_new - g)
        x, g, F, F_old = x_new, g_new, F_new, F
        pg, pg_norm, support, stable = _at_new_point(loss, x, g, mask, support, stable)
        n_iter += 1
        if verbose:
            _report(n_iter, F, pg_norm, support)
        status, message = _converged(pg_norm, tol, F_old, F) or (status, message)
        if callback is not None and _stopped_by(callback, x, F):
            if status != 0:
                status, message = 99, "stopped by the callback"
            break
    result = L1Result(
        fun=F, nit=n_iter, nfev=nfev, status=status, message=message, subgrad_norm=pg_norm
    )
    if warn and status not in (0, 99):
        warn_not_converged("OWL-QN", result, tol, max_iter)
    return x, n_iter, result


def _at_new_point(loss, x, g, mask, support, stable):
    """``(pg, max |pg|, support, stable)`` at an accepted point: the least-norm
    subgradient, the non-zero weights, and for how many iterations the support has
    (nearly) kept."""
    pg = loss.penalty.min_norm_subgradient(x, g, mask)
    new_support = x[mask] != 0.0
    stable = stable + 1 if support_kept(support, new_support) else 0
    return pg, float(np.max(np.abs(pg))), new_support, stable


def _report(n_iter, F, pg_norm, support):
    print(
        f"OWL-QN iter {n_iter:4d}  objective {F:.10e}  |subgrad|_inf "
        f"{pg_norm:.3e}  nonzero {int(support.sum())}/{support.size}",
        flush=True,
    )


def _evaluate(loss, x, mask):
    """``(x, g, F, pg)`` at the start point: smooth gradient, objective, least-norm
    subgradient."""
    f, g = loss.loss_gradient(x)
    F = f + loss.penalty.l1_value(x[mask])
    return x, g, F, loss.penalty.min_norm_subgradient(x, g, mask)


def _remember(pairs, s, y):
    """Store the step ``s`` and gradient change ``y``, unless the curvature ``s.y`` is too
    small to keep the inverse-Hessian estimate positive definite."""
    if float(np.dot(s, y)) > 1e-10 * float(np.dot(y, y)):
        pairs.append((s, y))


def _stopped_by(callback, x, F):
    """Call the user's callback; whether it raised ``StopIteration``."""
    try:
        callback(x, F)
    except StopIteration:
        return True
    return False


def _converged(pg_norm, tol, F_old, F):
    """``(0, message)`` when an iteration meets a stopping test, else None: the
    subgradient test, or the objective's relative decrease below ``64 eps``
    (L-BFGS-B's ``ftol`` as scikit-learn sets it)."""
    if pg_norm <= tol:
        return 0, "subgradient below tol"
    if (F_old - F) <= _FTOL * max(abs(F_old), abs(F), 1.0):
        return 0, "relative reduction of the objective below 64 * eps"
    return None


def _newton_due(x, pg, mask, support, stable):
    """Whether the next direction is a Newton step: the support has settled, it is
    small, and the largest violation of optimality is not at a zero weight's (a
    quasi-Newton step, which can move that weight, goes first: else a settled support
    would never let it in)."""
    if not (
        stable >= _NEWTON_AFTER and np.count_nonzero(support) <= NEWTON_MAX_SUPPORT * support.size
    ):
        return False
    at_zero = mask & (x == 0.0)
    return bool(
        np.max(np.abs(pg[~at_zero]), initial=0.0) >= np.max(np.abs(pg[at_zero]), initial=0.0)
    )


def _direction(loss, x, pg, mask, pairs, newton):
    """The search direction ``d``, its slope ``pg . d`` and whether it is a Newton step.

    A Newton step (when due) in the non-zero weights and intercepts; else the two-loop
    quasi-Newton direction, projected onto the orthant ``-pg`` points to; a direction
    that is not one of descent clears the memory.  Without stored pairs the direction is
    ``-pg`` (steepest descent); that also replaces a Newton step on the first iteration
    after a hand-over, which starts with an empty memory.
    """
    d = slope = None
    if newton:
        free = ~mask | ((x != 0.0) & ~_at_bound(loss, x, mask))
        d = _newton_direction(loss.hessian_product(x, free, _HESSIAN_ROWS), pg, free)
        slope = float(np.dot(pg, d))
        newton = slope < 0.0
    if not newton and pairs:
        free = ~mask | (x != 0.0) | (pg != 0.0)
        d = -_two_loop(pg, pairs, free)
        # stay in the orthant -pg points to: a component that disagrees would move a
        # weight against its own subgradient
        d[mask & (d * pg >= 0.0)] = 0.0
        slope = float(np.dot(pg, d))
        if not slope < 0.0:  # not a descent direction: restart from -pg
            pairs.clear()
    if not pairs:
        d = -pg
        slope = -float(np.dot(pg, pg))
    return d, slope, newton


def _at_bound(loss, x, mask):
    """The coordinates at a bound of the penalty's box (all False without one)."""
    bounds = loss.penalty.flat_bounds(mask)
    if bounds is None:
        return np.zeros(x.shape[0], dtype=bool)
    return (x <= bounds[0]) | (x >= bounds[1])


def _line_search(loss, x, d, pg, F, mask, step):
    """Backtracking (Armijo on ``F`` with ``pg``) along ``d`` from ``x``, every trial
    point projected onto the orthant of ``x`` (signs of ``x``, or of ``-pg`` where
    ``x_i = 0``), then into the penalty's box: weights that would cross zero stop at
    exactly zero, and weights that would leave the box at its bound.

    Returns
    -------
    found : tuple ``(x, f, g, F)`` of the accepted point, or None
    n_evaluations : int
    """
    orthant = np.where(x != 0.0, np.sign(x), -np.sign(pg))
    bounds = loss.penalty.flat_bounds(mask)
    for i in range(_MAX_LINE_SEARCH):
        x_new = x + step * d
        x_new[mask & (np.sign(x_new) != orthant)] = 0.0
        if bounds is not None:
            np.clip(x_new, bounds[0], bounds[1], out=x_new)
        with np.errstate(over="ignore", invalid="ignore"):
            f_new, g_new = loss.loss_gradient(x_new)
        F_new = f_new + loss.penalty.l1_value(x_new[mask])
        if np.isfinite(F_new) and F_new <= F + _ARMIJO * float(np.dot(pg, x_new - x)):
            return (x_new, f_new, g_new, F_new), i + 1
        step *= 0.5
    return None, _MAX_LINE_SEARCH


def warn_not_converged(method, result, tol, max_iter):
    """The ConvergenceWarning of the L1 solvers, from their ``result``; raised at the
    level of the estimator method that called the solver (through minimize_full_batch)."""
    msg = (
        f"lbfgs ({method}) failed to converge after {result.nit} iteration(s) "
        f"(status={result.status}): {result.message}; max |subgradient| = "
        f"{result.subgrad_norm:.3e} > tol = {tol:g}"
    )
    if result.nit >= max_iter:
        msg += (
            f"\nIncrease the number of iterations (max_iter={max_iter}) or scale "
            "the data (e.g. with sklearn.preprocessing.StandardScaler)."
        )
    warnings.warn(msg, ConvergenceWarning, stacklevel=5)
