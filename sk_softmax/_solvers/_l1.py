"""The full-batch solver for an L1 term: bound-constrained L-BFGS-B on split weights, then
OWL-QN with Newton steps once a sparse support has settled.

Phase 1 writes each penalised weight as ``w = u - v`` with ``u, v >= 0``; the L1 term
becomes the linear, smooth ``l1 * sum(u + v)``, and scipy's L-BFGS-B (the solver
scikit-learn's lbfgs uses, with the same ``maxls`` and ``ftol``) minimises

    f(u - v, b) + l1 * sum(u + v)   over u, v >= 0, b free,

with the gradient ``(g + l1, -g + l1)`` from one evaluation of the fused kernel.  Its
generalised Cauchy point identifies the active bounds (the zero weights) well on
models with many non-zero weights, where OWL-QN's orthant projections keep
re-zeroing coordinates.  At the solution one of ``u_i, v_i`` is zero (for ``l1 > 0``),
and weights at their bounds are exactly zero.

Phase 2: on very sparse models L-BFGS-B's tail is slow (an ill-conditioned smooth
problem in the few hundred weights left), so once at most 2% of the non-zero weights
changed for two iterations in a row and at most a fifth of them are non-zero, the
solve continues with :func:`sk_softmax._solvers._owlqn.minimize_owlqn` from there, whose
truncated Newton steps on the settled support converge fast.

The stopping test is the same in both phases: the max-norm of the least-norm
subgradient of the original objective (:meth:`sk_softmax._penalty.ElasticNet.min_norm_subgradient`)
at most ``tol``, checked after every iteration with the gradient of the accepted point;
also L-BFGS-B's relative-decrease test (``ftol = 64 eps``).  docs/design.md has the
measurements behind this design.
"""

import numpy as np
from scipy import optimize

from ._owlqn import (
    NEWTON_MAX_SUPPORT,
    L1Result,
    minimize_owlqn,
    support_kept,
    warn_not_converged,
)

__all__ = ["minimize_l1"]

# phase 1 hands over once the support kept (within SUPPORT_CHANGE) this many times
_SETTLED_AFTER = 2


class _SplitWeights:
    """Phase 1's problem: each penalised weight as ``w = u - v``, ``u, v >= 0``.

    ``z = [x with u in the penalised entries, v]`` of length ``n_params + n_penalised``;
    the objective ``f(u - v, b) + sum l1_i (u_i + v_i)`` is smooth and its gradient
    ``(g + l1, -g + l1)`` comes from one evaluation of ``loss``; ``l1`` is the penalty's
    strength, per weight with penalty factors.  The penalty's box ``lo <= w <= hi``
    becomes bounds on the parts: ``u`` in ``[max(lo, 0), max(hi, 0)]`` and ``v`` in
    ``[max(-hi, 0), max(-lo, 0)]``, exact for every box (one that excludes zero fixes
    one of the parts at 0 and the other inside the box).  The last point evaluated and
    its smooth gradient are kept (L-BFGS-B's line search ends on the accepted point, so
    after an iteration they are the iterate's).
    """

    def __init__(self, loss):
        self.loss = loss
        penalty = loss.penalty
        self.mask = loss.layout.penalty_mask
        self.pen = np.flatnonzero(self.mask)
        self.P = self.mask.shape[0]
        self.l1 = float(penalty.l1)
        if penalty.factor is not None:  # one strength per penalised weight
            self.l1 = self.l1 * np.tile(penalty.factor, self.pen.shape[0] // penalty.factor.size)
        self.x = self.g = None

    def unpack(self, z):
        x = z[: self.P].copy()
        x[self.pen] -= z[self.P :]
        return x

    def start(self, x0):
        """``z0`` for ``x0`` (projected into the box) and the bounds of ``z``."""
        pen, P = self.pen, self.P
        x0 = self.loss.penalty.project(x0, self.mask)
        z0 = np.concatenate([x0, np.zeros(pen.shape[0])])
        z0[pen] = np.maximum(x0[pen], 0.0)
        z0[P:] = np.maximum(-x0[pen], 0.0)
        box = self.loss.penalty.flat_bounds(self.mask)
        if box is None:
            bounds = [(None, None)] * P
            for i in pen:
                bounds[i] = (0.0, None)
            bounds += [(0.0, None)] * pen.shape[0]
            return z0, bounds
        lo, hi = np.full(P + pen.shape[0], -np.inf), np.full(P + pen.shape[0], np.inf)
        wlo, whi = box[0][pen], box[1][pen]
        lo[pen], hi[pen] = np.maximum(wlo, 0.0), np.maximum(whi, 0.0)
        lo[P:], hi[P:] = np.maximum(-whi, 0.0), np.maximum(-wlo, 0.0)
        z0 = np.clip(z0, lo, hi)
        return z0, optimize.Bounds(lo, hi)

    def __call__(self, z):
        pen, P, l1 = self.pen, self.P, self.l1
        x = self.unpack(z)
        f, g = self.loss.loss_gradient(x)
        self.x, self.g = x, g
        if np.ndim(l1):
            F = f + float(np.dot(l1, z[pen] + z[P:]))
        else:
            F = f + l1 * (float(z[pen].sum()) + float(z[P:].sum()))
        gz = np.empty_like(z)
        gz[:P] = g
        gz[pen] += l1
        gz[P:] = l1 - g[pen]
        return F, gz


class _Phase1Monitor:
    """L-BFGS-B's per-iteration callback in phase 1: the stopping test on the least-norm
    subgradient, the user's callback, and the hand-over once the support has settled
    (each ends the solve by raising ``StopIteration``).

    Attributes
    ----------
    it : int
    status : int or None
        0 (subgradient below tol, or stopped by the callback there), 99 (stopped by the
        callback), None (not stopped here).
    handover : bool
        The support settled: OWL-QN with Newton steps continues.
    pg_norm : float
    """

    def __init__(self, problem, x0, tol, verbose, callback):
        self.problem, self.tol, self.verbose, self.callback = problem, tol, verbose, callback
        self.it, self.stable, self.status, self.handover = 0, 0, None, False
        self.support = x0[problem.mask] != 0.0
        self.pg_norm = np.inf

    def __call__(self, intermediate_result):
        problem = self.problem
        x, g, mask = problem.x, problem.g, problem.mask
        self.it += 1
        pg = problem.loss.penalty.min_norm_subgradient(x, g, mask)
        self.pg_norm = pg_norm = float(np.max(np.abs(pg)))
        support = x[mask] != 0.0
        self.stable = self.stable + 1 if support_kept(self.support, support) else 0
        self.support = support
        if self.verbose:
            print(
                f"L1 L-BFGS-B iter {self.it:4d}  objective "
                f"{intermediate_result.fun:.10e}  |subgrad|_inf {pg_norm:.3e}  "
                f"nonzero {int(support.sum())}/{support.size}",
                flush=True,
            )
        if self.callback is not None:
            try:
                self.callback(x, intermediate_result.fun)
            except StopIteration:
                self.status = 0 if pg_norm <= self.tol else 99
                raise
        if pg_norm <= self.tol:
            self.status = 0
            raise StopIteration
        if (
            self.stable >= _SETTLED_AFTER
            and np.count_nonzero(support) <= NEWTON_MAX_SUPPORT * support.size
        ):
            self.handover = True
            raise StopIteration


def minimize_l1(loss, coef0, *, max_iter=100, tol=1e-4, verbose=0, callback=None):
    """Minimise ``loss``'s smooth part plus its L1 term (``loss.penalty.l1 > 0``).

    It runs in the precision of ``loss`` only: the L1 path has no float32 stage
    (:mod:`sk_softmax._precision` builds none for it).

    Parameters
    ----------
    loss : FullBatchLoss
        The solver contract (:mod:`sk_softmax._solvers._contract`).
    coef0 : ndarray of shape (n_params,)
        Starting point.
    max_iter : int
        Maximum number of iterations of both phases together.
    tol : float
        Stop when the max-norm of the least-norm subgradient is at most ``tol``.
    verbose : int
        If positive, print the objective, the subgradient norm and the non-zeros after
        every iteration.
    callback : callable or None
        Called as ``callback(coef, objective)`` after every iteration; raising
        ``StopIteration`` ends the solve without a warning.

    Returns
    -------
    coef : ndarray of shape (n_params,), float64
        The solution, with exact zeros.
    n_iter : int
        Iterations of both phases.
    result : L1Result
        ``fun``, ``nit``, ``nfev``, ``status`` (0 converged, 1 max_iter, 2 line search
        failed, 99 stopped by the callback), ``message``, ``subgrad_norm`` and ``phases``
        (``"lbfgsb"`` or ``"lbfgsb+owlqn"``).

    Warns
    -----
    ConvergenceWarning
        When the solve ends before the subgradient test (or the ``ftol`` test) holds.
    """
    x0 = np.array(coef0, dtype=np.float64)
    problem = _SplitWeights(loss)
    monitor = _Phase1Monitor(problem, x0, tol, verbose, callback)
    z0, bounds = problem.start(x0)
    res = optimize.minimize(
        problem,
        z0,
        method="L-BFGS-B",
        jac=True,
        bounds=bounds,
        callback=monitor,
        options={"maxiter": max_iter, "maxls": 50, "gtol": 0.0, "ftol": 64 * np.finfo(float).eps},
    )
    x = problem.unpack(res.x)
    n_iter = min(monitor.it, max_iter)
    if monitor.handover and n_iter < max_iter:
        x, it2, res2 = minimize_owlqn(
            loss,
            x,
            max_iter=max_iter - n_iter,
            tol=tol,
            verbose=verbose,
            callback=callback,
            settled=True,
            warn=False,
        )
        result = L1Result(
            fun=res2.fun,
            nit=n_iter + it2,
            nfev=int(res.nfev) + res2.nfev,
            status=res2.status,
            message=res2.message,
            subgrad_norm=res2.subgrad_norm,
            phases="lbfgsb+owlqn",
        )
    else:
        status, message = _phase1_outcome(monitor, res, n_iter, max_iter)
        result = L1Result(
            fun=float(res.fun),
            nit=n_iter,
            nfev=int(res.nfev),
            status=status,
            message=message,
            subgrad_norm=monitor.pg_norm,
            phases="lbfgsb",
        )
    if result.status not in (0, 99):
        warn_not_converged(f"L1: {result.phases}", result, tol, max_iter)
    return x, result.nit, result


def _phase1_outcome(monitor, res, n_iter, max_iter):
    """``(status, message)`` of a solve that ended in phase 1."""
    if monitor.status in (0, 99):
        return monitor.status, (
            "subgradient below tol" if monitor.status == 0 else "stopped by the callback"
        )
    if res.status == 0:  # L-BFGS-B's own tests (ftol): converged as far as it can
        return 0, str(res.message)
    if n_iter >= max_iter:
        return 1, "max_iter reached"
    return 2, str(res.message)
