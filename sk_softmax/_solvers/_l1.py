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
subgradient of the original objective (:func:`sk_softmax._loss.min_norm_subgradient`)
at most ``tol``, checked after every iteration with the gradient of the accepted point;
also L-BFGS-B's relative-decrease test (``ftol = 64 eps``).  docs/design.md has the
measurements behind this design.
"""

import numpy as np
from scipy import optimize

from .._loss import min_norm_subgradient
from ._lbfgs import minimize_lbfgs
from ._owlqn import (
    _NEWTON_MAX_SUPPORT,
    _SUPPORT_CHANGE,
    OWLQNResult,
    minimize_owlqn,
    warn_not_converged,
)

__all__ = ["minimize_full_batch", "minimize_l1"]

# phase 1 hands over once the support kept (within _SUPPORT_CHANGE) this many times
_SETTLED_AFTER = 2


def minimize_l1(loss, coef0, *, max_iter=100, tol=1e-4, verbose=0, callback=None):
    """Minimise ``loss``'s smooth part plus its L1 term (``loss.l1_reg_strength > 0``).

    Parameters
    ----------
    loss : SoftmaxLoss
        Provides ``loss_gradient``, ``l1_reg_strength``, ``penalty_mask`` and
        ``hessian_product``.
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
    result : OWLQNResult
        ``fun``, ``nit``, ``nfev``, ``status`` (0 converged, 1 max_iter, 2 line search
        failed, 99 stopped by the callback), ``message``, ``subgrad_norm`` and ``phases``
        (``"lbfgsb"`` or ``"lbfgsb+owlqn"``).

    Warns
    -----
    ConvergenceWarning
        When the solve ends before the subgradient test (or the ``ftol`` test) holds.
    """
    l1 = float(loss.l1_reg_strength)
    mask = loss.penalty_mask
    pen = np.flatnonzero(mask)
    P = mask.shape[0]
    x0 = np.array(coef0, dtype=np.float64)

    def unpack(z):
        x = z[:P].copy()
        x[pen] -= z[P:]
        return x

    last = {}

    def fun(z):
        x = unpack(z)
        f, g = loss.loss_gradient(x)
        last["x"], last["g"] = x, g
        F = f + l1 * (float(z[pen].sum()) + float(z[P:].sum()))
        gz = np.empty_like(z)
        gz[:P] = g
        gz[pen] += l1
        gz[P:] = l1 - g[pen]
        return F, gz

    track = {"it": 0, "stable": 0, "support": x0[mask] != 0.0, "status": None, "pg": np.inf}

    def on_iteration(intermediate_result):
        # L-BFGS-B's line search ends on the accepted point: the last evaluation
        x, g = last["x"], last["g"]
        track["it"] += 1
        pg = min_norm_subgradient(x, g, l1, mask)
        track["pg"] = pg_norm = float(np.max(np.abs(pg)))
        support = x[mask] != 0.0
        changed = int(np.count_nonzero(support != track["support"]))
        kept = changed <= _SUPPORT_CHANGE * max(1, int(np.count_nonzero(support)))
        track["stable"] = track["stable"] + 1 if kept else 0
        track["support"] = support
        if verbose:
            print(f"L1 L-BFGS-B iter {track['it']:4d}  objective "
                  f"{intermediate_result.fun:.10e}  |subgrad|_inf {pg_norm:.3e}  "
                  f"nonzero {int(support.sum())}/{support.size}", flush=True)
        if callback is not None:
            try:
                callback(x, intermediate_result.fun)
            except StopIteration:
                track["status"] = 0 if pg_norm <= tol else 99
                raise
        if pg_norm <= tol:
            track["status"] = 0
            raise StopIteration
        if (track["stable"] >= _SETTLED_AFTER
                and np.count_nonzero(support) <= _NEWTON_MAX_SUPPORT * support.size):
            track["status"] = "handover"
            raise StopIteration

    z0 = np.concatenate([x0, np.zeros(pen.shape[0])])
    z0[pen] = np.maximum(x0[pen], 0.0)
    z0[P:] = np.maximum(-x0[pen], 0.0)
    bounds = [(None, None)] * P
    for i in pen:
        bounds[i] = (0.0, None)
    bounds += [(0.0, None)] * pen.shape[0]
    res = optimize.minimize(
        fun, z0, method="L-BFGS-B", jac=True, bounds=bounds, callback=on_iteration,
        options={"maxiter": max_iter, "maxls": 50, "gtol": 0.0,
                 "ftol": 64 * np.finfo(float).eps},
    )
    x = unpack(res.x)
    n_iter = min(track["it"], max_iter)
    nfev = int(res.nfev)
    phases = "lbfgsb"
    if track["status"] == "handover" and n_iter < max_iter:
        x, it2, res2 = minimize_owlqn(loss, x, max_iter=max_iter - n_iter, tol=tol,
                                      verbose=verbose, callback=callback, settled=True,
                                      warn=False)
        n_iter += it2
        nfev += res2.nfev
        status, message, pg_norm = res2.status, res2.message, res2.subgrad_norm
        fval = res2.fun
        phases = "lbfgsb+owlqn"
    else:
        fval = float(res.fun)
        pg_norm = track["pg"]
        if track["status"] in (0, 99):
            status = track["status"]
            message = ("subgradient below tol" if status == 0 else "stopped by the callback")
        elif res.status == 0:  # L-BFGS-B's own tests (ftol): converged as far as it can
            status, message = 0, str(res.message)
        elif n_iter >= max_iter:
            status, message = 1, "max_iter reached"
        else:
            status, message = 2, str(res.message)
    result = OWLQNResult(fun=fval, nit=n_iter, nfev=nfev, status=status, message=message,
                         subgrad_norm=pg_norm, phases=phases)
    if status not in (0, 99):
        warn_not_converged(f"L1: {phases}", result, tol, max_iter)
    return x, n_iter, result


def minimize_full_batch(loss, coef0, coarse_loss=None, **options):
    """The full-batch solve of ``loss``: :func:`minimize_l1` when it has an L1 term,
    else L-BFGS (:func:`sk_softmax._solvers._lbfgs.minimize_lbfgs`, in two precisions
    when ``coarse_loss`` is given: ``loss.float32_twin()``); ``options`` are their
    common keywords (``max_iter``, ``tol``, ``verbose``, ``callback``).

    Returns ``(coef, n_iter, result)``."""
    if loss.l1_reg_strength > 0:
        return minimize_l1(loss, coef0, **options)
    return minimize_lbfgs(loss, coef0, coarse_loss=coarse_loss, **options)
