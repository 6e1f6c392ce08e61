"""The full-batch solver for a group-L1 term (:class:`sk_softmax._penalty.GroupElasticNet`):
proximal gradient with Barzilai-Borwein steps, then L-BFGS on the settled support.

Phase 1 is SpaRSA (Wright, Nowak and Figueiredo, IEEE TSP 2009): a proximal gradient
step ``x+ = prox(x - t g, t)`` (block soft-thresholding of each group, the intercepts
take a plain gradient step) with the Barzilai-Borwein step ``t = s.s / s.y`` of the
previous step, accepted under a non-monotone Armijo test against the largest objective
of the last 5 iterations, else halved.  The prox puts whole groups at exactly zero.
Each trial costs one evaluation of the fused loss+gradient kernel.

Phase 2: once the set of non-zero groups has not changed for two iterations, the group
norm is smooth on it (``||W_g||`` is differentiable away from 0), so scipy's L-BFGS-B
minimises ``f + l1 sum_g w_g ||W_g||`` over the non-zero groups' weights and the
intercepts, the zero groups held at zero, until the least-norm subgradient on those
coordinates is at most ``tol``.  Then the full test runs: if a zero group violates its
optimality condition (``||G_g|| > l1 w_g``), or a group shrank to (near) zero, phase 1
resumes from there.  The alternation is what the element-wise L1 solver does with its
OWL-QN hand-over (:mod:`sk_softmax._solvers._l1`); docs/design.md has the measurements.

The stopping test is the max-norm of the least-norm subgradient
(:meth:`sk_softmax._penalty.GroupElasticNet.min_norm_subgradient`) at most ``tol``, or
a round of both phases whose relative decrease of the objective is below ``64 eps``
(L-BFGS-B's ``ftol`` as scikit-learn sets it: converged as far as rounding allows).
"""

import numpy as np
from scipy import optimize

from ._owlqn import L1Result, warn_not_converged

__all__ = ["minimize_group"]

_MEMORY = 5  # non-monotone window of the line search
_ARMIJO = 1e-4
_MAX_HALVINGS = 100
_SETTLED_AFTER = 2
_FTOL = 64 * np.finfo(float).eps
_COLLAPSE = 1e-2  # phase 2 ends when a group shrinks by this factor
_STEP_MIN, _STEP_MAX = 1e-10, 1e6


class _Problem:
    """The objective's pieces on the flat ``coef``: evaluation, prox, subgradient."""

    def __init__(self, loss):
        self.loss = loss
        self.penalty = loss.penalty
        self.layout = loss.layout
        self.mask = loss.layout.penalty_mask
        self.nfev = 0

    def evaluate(self, x):
        """``(F, f, g)``: the whole objective, the smooth part and its gradient."""
        self.nfev += 1
        f, g = self.loss.loss_gradient(x)
        W, _ = self.layout.weight_intercept(x)
        return f + self.penalty.l1_value(W), f, g

    def prox_step(self, x, g, t):
        """``prox(x - t g, t)`` on the weights, a gradient step on the intercepts."""
        z = x - t * g
        W, _ = self.layout.weight_intercept(z)
        W[...] = self.penalty.prox(W, t)
        return z

    def subgrad_norm(self, x, g):
        return float(np.max(np.abs(self.penalty.min_norm_subgradient(x, g, self.mask)), initial=0))

    def nonzero_groups(self, x):
        W, _ = self.layout.weight_intercept(x)
        return self.penalty.group_norms(W) > 0.0


def _prox_gradient(problem, state, n_steps, tol, report):
    """Up to ``n_steps`` SpaRSA steps from ``state = [x, F, f, g, t, history]``; returns
    ``(steps taken, status)``: status 0 converged, 2 line search failed, 3 settled
    (hand over to phase 2), None (ran out of steps)."""
    x, F, _, g, t, history = state
    stable, support = 0, problem.nonzero_groups(x)
    for it in range(1, n_steps + 1):
        ref = max(history)
        for _ in range(_MAX_HALVINGS):
            z = problem.prox_step(x, g, t)
            s = z - x
            Fz, fz, gz = problem.evaluate(z)
            if Fz <= ref - _ARMIJO / (2.0 * t) * float(np.dot(s, s)):
                break
            t *= 0.5
        else:
            return it - 1, 2
        y = gz - g
        sy, ss = float(np.dot(s, y)), float(np.dot(s, s))
        t = float(np.clip(ss / sy, _STEP_MIN, _STEP_MAX)) if sy > 0.0 else min(2 * t, _STEP_MAX)
        x, F, g = z, Fz, gz
        history.append(F)
        del history[:-_MEMORY]
        state[:] = [x, F, fz, g, t, history]
        pg = problem.subgrad_norm(x, g)
        report(x, F, pg)
        if pg <= tol:
            return it, 0
        new_support = problem.nonzero_groups(x)
        stable = stable + 1 if np.array_equal(new_support, support) else 0
        support = new_support
        if stable >= _SETTLED_AFTER and support.any():
            return it, 3
    return n_steps, None


def _smooth_phase(problem, state, n_steps, tol, report):
    """L-BFGS-B on the non-zero groups' weights and the intercepts (zero groups fixed);
    returns the iterations taken.  Updates ``state`` to its last accepted point."""
    x0 = state[0]
    penalty, layout, mask = problem.penalty, problem.layout, problem.mask
    W0, _ = layout.weight_intercept(x0)
    free2 = np.ones(layout.coef_shape, dtype=bool)
    free2[:, : layout.n_features] = (penalty.group_norms(W0) > 0.0)[penalty.groups][None, :]
    free = np.flatnonzero(free2.ravel())
    norms0 = penalty.group_norms(W0)
    live = norms0 > 0.0
    last = {}

    def fun(v):
        x = x0.copy()
        x[free] = v
        F, f, g = problem.evaluate(x)
        sub = penalty.min_norm_subgradient(x, g, mask)  # the gradient on non-zero groups
        last.update(x=x, F=F, f=f, g=g)
        return F, sub[free]

    count = [0]

    def callback(intermediate_result):
        count[0] += 1
        sub = penalty.min_norm_subgradient(last["x"], last["g"], mask)
        report(last["x"], last["F"], float(np.max(np.abs(sub))))
        # the zero groups are fixed here: their test is the outer loop's
        if float(np.max(np.abs(sub[free]))) <= tol:
            raise StopIteration
        # a group whose norm fell below a hundredth of its norm at the start of the
        # phase is heading for the kink at 0, where L-BFGS crawls: back to phase 1,
        # whose prox zeroes it if it belongs at zero
        W, _ = layout.weight_intercept(last["x"])
        if np.any(live & (penalty.group_norms(W) < _COLLAPSE * norms0)):
            raise StopIteration

    optimize.minimize(
        fun,
        x0[free],
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={"maxiter": n_steps, "maxls": 50, "gtol": 0.0, "ftol": 64 * np.finfo(float).eps},
    )
    if last and last["F"] <= state[1]:
        x, F, f, g = last["x"], last["F"], last["f"], last["g"]
        state[:] = [x, F, f, g, state[4], [F]]
    return count[0]


def minimize_group(loss, coef0, *, max_iter=100, tol=1e-4, verbose=0, callback=None):
    """Minimise ``loss``'s smooth part plus its group-L1 term.

    Parameters
    ----------
    loss : FullBatchLoss
        With a :class:`~sk_softmax._penalty.GroupElasticNet` penalty.
    coef0 : ndarray of shape (n_params,)
    max_iter : int
        Iterations of both phases together.
    tol : float
        Stop when the max-norm of the least-norm subgradient is at most ``tol``.
    verbose : int
    callback : callable or None
        ``callback(coef, objective)`` after every iteration; ``StopIteration`` ends the
        solve without a warning.

    Returns
    -------
    coef : ndarray of shape (n_params,), float64
        The solution, whole groups exactly zero.
    n_iter : int
    result : L1Result
        ``phases`` is ``"prox-grad"`` or ``"prox-grad+lbfgs"``.

    Warns
    -----
    ConvergenceWarning
        When the solve ends before the subgradient test holds.
    """
    problem = _Problem(loss)
    x = np.array(coef0, dtype=np.float64)
    F, f, g = problem.evaluate(x)
    info = {"n_iter": 0, "pg": problem.subgrad_norm(x, g), "stopped": False, "lbfgs": False}

    def report(x, F, pg):
        info["n_iter"] += 1
        info["pg"] = pg
        if verbose:
            print(f"group iter {info['n_iter']:4d}  objective {F:.10e}  |subgrad|_inf {pg:.3e}")
        if callback is not None:
            try:
                callback(x, F)
            except StopIteration:
                info["stopped"] = True
                raise

    # the first step: 1 / (a bound on the curvature of the loss at x) is unknown, so
    # take the step that moves the largest gradient entry by 1, and let BB correct it
    t0 = 1.0 / max(float(np.max(np.abs(g), initial=0.0)), 1.0)
    state = [x, F, f, g, t0, [F]]
    status = 0 if info["pg"] <= tol else None
    message = None
    try:
        while status is None and info["n_iter"] < max_iter:
            F_before = state[1]
            _, status = _prox_gradient(problem, state, max_iter - info["n_iter"], tol, report)
            if status == 3 and info["n_iter"] < max_iter:
                info["lbfgs"] = True
                _smooth_phase(problem, state, max_iter - info["n_iter"], tol, report)
                status = 0 if info["pg"] <= tol else (99 if info["stopped"] else None)
            elif status == 3:
                status = None
            if status is None and F_before - state[1] <= _FTOL * max(abs(state[1]), 1.0):
                # a round of both phases gained nothing: converged as far as rounding
                # allows (L-BFGS-B's ftol test, as the element-wise L1 solver stops)
                status, message = 0, "relative decrease of the objective below ftol"
    except StopIteration:
        status = 0 if info["pg"] <= tol else 99
    if status is None:
        status = 1
    x, F = state[0], state[1]
    messages = {0: "subgradient below tol", 1: "max_iter reached", 2: "line search failed"}
    result = L1Result(
        fun=F,
        nit=info["n_iter"],
        nfev=problem.nfev,
        status=status,
        message=message or messages.get(status, "stopped by the callback"),
        subgrad_norm=info["pg"],
        phases="prox-grad+lbfgs" if info["lbfgs"] else "prox-grad",
    )
    if status not in (0, 99):
        warn_not_converged("group L1", result, tol, max_iter)
    return x, result.nit, result
