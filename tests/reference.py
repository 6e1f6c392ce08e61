"""Plain NumPy reference implementation: the oracle every kernel is checked against.

Written for clarity, not speed: full float64 (or longdouble where cheap), explicit
one-hot matrices, no blocking, no in-place tricks.  Conventions follow
``sk_softmax._loss`` (see its module docstring): for the binary model the logits of a
row are ``[0, z]``.
"""

import numpy as np


def full_logits(X, W, b, binary):
    """Logits of every class, shape (n_samples, n_classes), in float64."""
    Z = np.asarray(X, dtype=np.float64) @ np.asarray(W, dtype=np.float64).T + np.asarray(
        b, dtype=np.float64
    )
    if binary:
        Z = np.hstack([np.zeros((Z.shape[0], 1)), Z])
    return Z


def logsumexp(Z):
    """Row-wise log-sum-exp, shape (n_samples,)."""
    Z = np.asarray(Z, dtype=np.float64)
    m = Z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(Z - m).sum(axis=1, keepdims=True)))[:, 0]


def softmax(Z):
    """Row-wise softmax."""
    Z = np.asarray(Z, dtype=np.float64)
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def log_softmax(Z):
    """Row-wise log-softmax, ``Z - logsumexp(Z)``."""
    return np.asarray(Z, dtype=np.float64) - logsumexp(Z)[:, None]


def loss_sum_terms(X, y, W, b, sw=None, binary=False):
    """Unscaled pieces: ``(sum_i s_i CE_i, G_W, g_b, R)``.

    ``G_W = R.T @ X`` and ``g_b = R.sum(0)`` with ``R = s * (P - Y)`` restricted to the
    stored columns (the implicit first column is dropped for the binary model).
    """
    n = X.shape[0]
    sw = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    Z = full_logits(X, W, b, binary)
    n_classes = Z.shape[1]
    Y = np.zeros((n, n_classes))
    Y[np.arange(n), y] = 1.0
    ce = logsumexp(Z) - Z[np.arange(n), y]
    R = sw[:, None] * (softmax(Z) - Y)
    if binary:
        R = R[:, 1:]
    return float(sw @ ce), R.T @ np.asarray(X, dtype=np.float64), R.sum(axis=0), R


def objective(X, y, W, b, C, sw=None, binary=False):
    """scikit-learn's scaled objective ``mean_w(CE) + ||W||^2 / (2 C S)``."""
    S = X.shape[0] if sw is None else float(np.sum(sw))
    total = loss_sum_terms(X, y, W, b, sw, binary)[0]
    pen = 0.0 if np.isinf(C) else float(np.sum(np.asarray(W, np.float64) ** 2)) / (2 * C * S)
    return total / S + pen


def objective_gradient(X, y, W, b, C, sw=None, binary=False):
    """Gradient of :func:`objective`: ``(grad_W, grad_b)``."""
    S = X.shape[0] if sw is None else float(np.sum(sw))
    _, GW, gb, _ = loss_sum_terms(X, y, W, b, sw, binary)
    l2 = 0.0 if np.isinf(C) else 1.0 / (C * S)
    return GW / S + l2 * np.asarray(W, np.float64), gb / S


def hessian_diagonal(X, y, W, b, C, sw=None, binary=False, factor=None):
    """Diagonal of the Hessian of :func:`objective` (with penalty factors ``f``) at
    ``(W, b)``: ``sum_i s_i p_ik (1 - p_ik) x_ij^2 / S + f_j / (C S)`` for the weights and
    ``sum_i s_i p_ik (1 - p_ik) / S`` for the intercepts, as ``(h_W, h_b)``."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    n = X.shape[0]
    sw = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    S = float(sw.sum())
    P = softmax(full_logits(X, W, b, binary))
    if binary:
        P = P[:, 1:]
    V = sw[:, None] * P * (1.0 - P)
    f = np.ones(X.shape[1]) if factor is None else np.asarray(factor, np.float64)
    l2 = 0.0 if np.isinf(C) else 1.0 / (C * S)
    return V.T @ (X * X) / S + l2 * f, V.sum(axis=0) / S


def hessian_class_blocks(X, y, W, b, C, sw=None, binary=False, factor=None):
    """The Hessian's diagonal blocks, one per stored class ``k`` (its weights, then its
    intercept): ``sum_i s_i p_ik (1 - p_ik) a_i a_i^T / S + diag(f / (C S), 0)`` with
    ``a_i = [x_i, 1]``, shape ``(K, n_features + 1, n_features + 1)``."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    n, d = X.shape
    sw = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    S = float(sw.sum())
    P = softmax(full_logits(X, W, b, binary))
    if binary:
        P = P[:, 1:]
    A = np.hstack([X, np.ones((n, 1))])
    f = np.ones(d) if factor is None else np.asarray(factor, np.float64)
    l2 = 0.0 if np.isinf(C) else 1.0 / (C * S)
    blocks = []
    for k in range(P.shape[1]):
        v = sw * P[:, k] * (1.0 - P[:, k])
        H = np.zeros((d + 1, d + 1))
        for i in range(n):
            H += v[i] * np.outer(A[i], A[i])
        H /= S
        H[np.arange(d), np.arange(d)] += l2 * f
        blocks.append(H)
    return np.array(blocks)


def elastic_net_objective(X, y, W, b, C, l1_ratio, sw=None, binary=False):
    """LogisticRegression's objective with the elastic-net penalty:
    ``mean_w(CE) + ((1 - r)/2 ||W||^2 + r ||W||_1) / (C S)``."""
    S = X.shape[0] if sw is None else float(np.sum(sw))
    total = loss_sum_terms(X, y, W, b, sw, binary)[0]
    W = np.asarray(W, np.float64)
    pen = (1 - l1_ratio) / 2 * float(np.sum(W * W)) + l1_ratio * float(np.abs(W).sum())
    return total / S + pen / (C * S)


def elastic_net_kkt(X, y, W, b, C, l1_ratio, sw=None, binary=False):
    """Optimality residuals of the elastic-net objective at ``(W, b)``.

    With ``G`` the gradient of the smooth part (cross-entropy and L2 term) and
    ``l1 = r / (C S)``: a zero weight is optimal when ``|G| <= l1``, a non-zero one when
    ``G = -sign(w) l1``, an intercept when its gradient is 0.  Returns
    ``(zero_excess, nonzero_residual, intercept_residual)``: the max of
    ``|G| - l1`` over zero weights (<= 0 when they are optimal), the max of
    ``|G + sign(w) l1|`` over non-zero weights and the max of ``|g_b|``.
    """
    S = X.shape[0] if sw is None else float(np.sum(sw))
    _, GW, gb, _ = loss_sum_terms(X, y, W, b, sw, binary)
    W = np.asarray(W, np.float64)
    G = GW / S + (1 - l1_ratio) / (C * S) * W
    l1 = l1_ratio / (C * S)
    zero = W == 0
    zero_excess = float(np.max(np.abs(G[zero]) - l1)) if zero.any() else -np.inf
    nonzero = float(np.max(np.abs(G[~zero] + np.sign(W[~zero]) * l1))) if (~zero).any() else 0.0
    return zero_excess, nonzero, float(np.max(np.abs(gb / S)))


def sgd_epochs(
    X, y, W, b, *, C, eta, batch_size, n_epochs, binary, fit_intercept=True, sw=None, l1_ratio=0.0
):
    """Plain minibatch SGD in row order (no shuffling), constant step, with the running
    average of the iterates.  Returns ``(W, b, W_avg, b_avg)``.

    Each step follows the gradient of ``(1/S_B) sum_B s_i CE_i + (1 - r) ||W||^2 /
    (2 C S)``; with ``r = l1_ratio > 0`` the L1 term ``r / (C S) ||W||_1`` is then
    applied to every weight by the cumulative penalty (Tsuruoka et al. 2009): ``u`` is
    the penalty a weight could have received so far, ``q`` what it did.
    """
    n = X.shape[0]
    sw = np.ones(n) if sw is None else np.asarray(sw, np.float64)
    S = sw.sum()
    l2 = 0.0 if np.isinf(C) else (1.0 - l1_ratio) / (C * S)
    l1 = 0.0 if np.isinf(C) else l1_ratio / (C * S)
    W = np.array(W, np.float64)
    b = np.array(b, np.float64)
    u, q = 0.0, np.zeros_like(W)
    W_avg, b_avg, k = None, None, 0
    for _ in range(n_epochs):
        for lo in range(0, n, batch_size):
            sl = slice(lo, lo + batch_size)
            SB = sw[sl].sum()
            if SB <= 0:
                continue
            _, GW, gb, _ = loss_sum_terms(X[sl], y[sl], W, b, sw[sl], binary)
            W = W - eta * (GW / SB + l2 * W)
            if fit_intercept:
                b = b - eta * gb / SB
            if l1 > 0:
                u += eta * l1
                before = W.copy()
                W = np.where(
                    W > 0,
                    np.maximum(0.0, W - (u + q)),
                    np.where(W < 0, np.minimum(0.0, W + (u - q)), W),
                )
                q = q + (W - before)
            if k == 0:
                W_avg, b_avg = W.copy(), b.copy()
            else:
                W_avg = W_avg + (W - W_avg) / (k + 1)
                b_avg = b_avg + (b - b_avg) / (k + 1)
            k += 1
    return W, b, W_avg, b_avg


def critical_C(X, y, l1_ratio, sw=None, fit_intercept=True):
    """The largest C at which every weight of the elastic-net solution is zero:
    ``r / (S max|G|)``, ``G`` the mean cross-entropy's gradient with respect to the
    weights at zero weights and optimal intercepts (the weighted class shares; without
    an intercept, equal probabilities).  ``y`` encoded in ``[0, n_classes)``."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    sw = np.ones(n) if sw is None else np.asarray(sw, dtype=np.float64)
    n_classes = int(y.max()) + 1
    Y = np.eye(n_classes)[y]
    P = np.tile(sw @ Y / sw.sum() if fit_intercept else np.full(n_classes, 1 / n_classes), (n, 1))
    G = (X.T @ ((P - Y) * sw[:, None])).T / sw.sum()
    if n_classes == 2:
        G = G[1:]
    return l1_ratio / (sw.sum() * np.abs(G).max())


def prox_elastic_net(W, step, l1, l2):
    """The proximal operator of ``step * (l1 ||W||_1 + l2 / 2 ||W||^2)``, element by
    element: ``argmin_v (v - w)^2 / 2 + step * (l1 |v| + l2 v^2 / 2)``."""
    W = np.asarray(W, dtype=np.float64)
    return np.sign(W) * np.maximum(np.abs(W) - step * l1, 0.0) / (1.0 + step * l2)


# -- bounds and penalty factors (issue 27) ------------------------------------------------
def constrained_objective(X, y, W, b, C, l1_ratio, factor=None, sw=None, binary=False):
    """The objective with per-feature penalty factors ``f``:
    ``mean_w(CE) + ((1 - r)/2 sum f_j W_kj^2 + r sum f_j |W_kj|) / (C S)``."""
    S = X.shape[0] if sw is None else float(np.sum(sw))
    total = loss_sum_terms(X, y, W, b, sw, binary)[0]
    W = np.asarray(W, np.float64)
    f = np.ones(W.shape[1]) if factor is None else np.asarray(factor, np.float64)
    pen = (1 - l1_ratio) / 2 * float(np.sum(f * W * W)) + l1_ratio * float(np.sum(f * np.abs(W)))
    return total / S + (0.0 if np.isinf(C) else pen / (C * S))


def constrained_minimize(
    X,
    y,
    n_classes,
    C,
    l1_ratio=0.0,
    factor=None,
    lower=-np.inf,
    upper=np.inf,
    sw=None,
    fit_intercept=True,
):
    """The reference minimiser: scipy's L-BFGS-B on :func:`constrained_objective`, with
    the weights split as ``W = U - V``, ``U, V >= 0`` (``U`` in ``[max(lo, 0),
    max(hi, 0)]``, ``V`` in ``[max(-hi, 0), max(-lo, 0)]``) so that the L1 term is
    smooth, and the intercepts free; at very tight tolerances.  Without an L1 term
    (``l1_ratio = 0``) the weights are not split (the bounds are the box's).

    Returns
    -------
    W : ndarray of shape (K, n_features)
    b : ndarray of shape (K,)
    value : float
        :func:`constrained_objective` at ``(W, b)``.
    """
    from scipy import optimize

    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    n, d = X.shape
    binary = n_classes == 2
    K = 1 if binary else n_classes
    S = n if sw is None else float(np.sum(sw))
    f = np.ones(d) if factor is None else np.asarray(factor, np.float64)
    lo = np.broadcast_to(np.asarray(lower, np.float64), (K, d)).ravel()
    hi = np.broadcast_to(np.asarray(upper, np.float64), (K, d)).ravel()
    l2 = 0.0 if np.isinf(C) else (1 - l1_ratio) / (C * S)
    l1 = 0.0 if np.isinf(C) else l1_ratio / (C * S)
    fw = np.tile(f, K)
    m = K * d

    def parts(z):
        W = (z[:m] - z[m : 2 * m]).reshape(K, d)
        b = z[2 * m :] if fit_intercept else np.zeros(K)
        return W, b

    def fun(z):
        W, b = parts(z)
        total, GW, gb, _ = loss_sum_terms(X, y, W, b, sw, binary)
        w = W.ravel()
        val = (
            total / S
            + 0.5 * l2 * float(np.sum(fw * w * w))
            + l1 * float(fw @ (z[: 2 * m]).reshape(2, m).sum(0))
        )
        gw = (GW / S).ravel() + l2 * fw * w
        grad = np.concatenate([gw + l1 * fw, -gw + l1 * fw, gb / S if fit_intercept else []])
        return val, grad

    if l1_ratio == 0.0:
        return _minimize_unsplit(X, y, K, C, fw, lo, hi, sw, binary, fit_intercept, l2)
    bounds = (
        list(zip(np.maximum(lo, 0.0), np.maximum(hi, 0.0)))
        + list(zip(np.maximum(-hi, 0.0), np.maximum(-lo, 0.0)))
        + [(None, None)] * (K if fit_intercept else 0)
    )
    bounds = [(a, None if np.isinf(c) else c) for a, c in bounds[: 2 * m]] + bounds[2 * m :]
    # the lowest point of each part's interval: zero weights where zero is in the box
    z0 = np.zeros(2 * m + (K if fit_intercept else 0))
    z0[: 2 * m] = [low for low, _ in bounds[: 2 * m]]
    res = optimize.minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 20000, "maxfun": 40000, "gtol": 1e-13, "ftol": 1e-15, "maxcor": 30},
    )
    W, b = parts(res.x)
    return W, b, constrained_objective(X, y, W, b, C, l1_ratio, factor, sw, binary)


def _minimize_unsplit(X, y, K, C, fw, lo, hi, sw, binary, fit_intercept, l2):
    """:func:`constrained_minimize` without an L1 term: L-BFGS-B on ``(W, b)``."""
    from scipy import optimize

    n, d = X.shape
    S = n if sw is None else float(np.sum(sw))
    m = K * d

    def fun(z):
        W = z[:m].reshape(K, d)
        b = z[m:] if fit_intercept else np.zeros(K)
        total, GW, gb, _ = loss_sum_terms(X, y, W, b, sw, binary)
        w = z[:m]
        val = total / S + 0.5 * l2 * float(np.sum(fw * w * w))
        grad = np.concatenate([(GW / S).ravel() + l2 * fw * w, gb / S if fit_intercept else []])
        return val, grad

    bounds = [(None if np.isinf(a) else a, None if np.isinf(c) else c) for a, c in zip(lo, hi)]
    bounds += [(None, None)] * (K if fit_intercept else 0)
    z0 = np.concatenate([np.clip(np.zeros(m), lo, hi), np.zeros(K if fit_intercept else 0)])
    res = optimize.minimize(
        fun,
        z0,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 20000, "maxfun": 40000, "gtol": 1e-13, "ftol": 1e-15, "maxcor": 30},
    )
    W = res.x[:m].reshape(K, d)
    b = res.x[m:] if fit_intercept else np.zeros(K)
    f = None if np.all(fw == 1.0) else fw[:d]
    return W, b, constrained_objective(X, y, W, b, C, 0.0, f, sw, binary)


def projected_kkt(
    X,
    y,
    W,
    b,
    C,
    l1_ratio,
    factor=None,
    lower=-np.inf,
    upper=np.inf,
    sw=None,
    binary=False,
    fit_intercept=True,
):
    """Max-norm of the least-norm element of ``grad + l1 f ∂|W| + N_box(W)``: for each
    weight the subdifferential interval, widened to ``-inf`` at an active lower bound and
    to ``inf`` at an active upper bound, and its point nearest 0; the intercepts' gradient.
    Zero exactly at the optimum of the constrained problem."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    S = X.shape[0] if sw is None else float(np.sum(sw))
    _, GW, gb, _ = loss_sum_terms(X, y, W, b, sw, binary)
    W = np.asarray(W, np.float64)
    f = np.ones(W.shape[1]) if factor is None else np.asarray(factor, np.float64)
    l2 = 0.0 if np.isinf(C) else (1 - l1_ratio) / (C * S)
    l1 = (0.0 if np.isinf(C) else l1_ratio / (C * S)) * f
    G = GW / S + l2 * f * W
    lo_b = np.broadcast_to(np.asarray(lower, np.float64), W.shape)
    hi_b = np.broadcast_to(np.asarray(upper, np.float64), W.shape)
    a = np.where(W > 0, G + l1, np.where(W < 0, G - l1, G - l1))
    c = np.where(W > 0, G + l1, np.where(W < 0, G - l1, G + l1))
    a = np.where(W <= lo_b, -np.inf, a)
    c = np.where(W >= hi_b, np.inf, c)
    res = np.where(a > 0, a, np.where(c < 0, c, 0.0))
    worst = float(np.max(np.abs(res)))
    if fit_intercept:
        worst = max(worst, float(np.max(np.abs(gb / S))))
    return worst


# -- grouped L1 penalty (issue 28) ---------------------------------------------------------
def group_weights(groups, factor=None):
    """``w_g = f_g sqrt(n_g)`` of every group (``groups`` numbered 0 .. G-1)."""
    groups = np.asarray(groups)
    sizes = np.bincount(groups).astype(np.float64)
    w = np.sqrt(sizes)
    if factor is not None:
        f = np.zeros(sizes.shape[0])
        f[groups] = factor
        w = w * f
    return w


def group_norms(W, groups):
    """``||W[:, G_g]||_F`` for every group, by an explicit loop."""
    W = np.asarray(W, dtype=np.float64)
    return np.array([np.sqrt(np.sum(W[:, groups == g] ** 2)) for g in range(int(groups.max()) + 1)])


def group_objective(X, y, W, b, C, l1_ratio, groups, factor=None, sw=None, binary=False):
    """``mean_w(CE) + ((1 - r)/2 sum f W^2 + r sum_g w_g ||W_g||) / (C S)``."""
    S = X.shape[0] if sw is None else float(np.sum(sw))
    total = loss_sum_terms(X, y, W, b, sw, binary)[0]
    W = np.asarray(W, np.float64)
    f = np.ones(W.shape[1]) if factor is None else np.asarray(factor, np.float64)
    pen = (1 - l1_ratio) / 2 * float(np.sum(f * W * W)) + l1_ratio * float(
        group_weights(groups, factor) @ group_norms(W, groups)
    )
    return total / S + pen / (C * S)


def group_kkt(X, y, W, b, C, l1_ratio, groups, factor=None, sw=None, binary=False):
    """Optimality residuals of the grouped objective at ``(W, b)``.

    With ``G`` the smooth part's gradient and ``l1 = r / (C S)``: a zero group is
    optimal when ``||G_g|| <= l1 w_g``, a non-zero one when
    ``G_g + l1 w_g W_g / ||W_g|| = 0``.  Returns ``(zero_excess, nonzero_residual,
    intercept_residual)``: the max of ``||G_g|| - l1 w_g`` over zero groups, the max
    abs entry of the non-zero groups' residual, the max ``|g_b|``."""
    S = X.shape[0] if sw is None else float(np.sum(sw))
    _, GW, gb, _ = loss_sum_terms(X, y, W, b, sw, binary)
    W = np.asarray(W, np.float64)
    f = np.ones(W.shape[1]) if factor is None else np.asarray(factor, np.float64)
    G = GW / S + (1 - l1_ratio) / (C * S) * f * W
    l1 = l1_ratio / (C * S)
    w = group_weights(groups, factor)
    zero_excess, nonzero = -np.inf, 0.0
    for g in range(w.shape[0]):
        cols = groups == g
        norm = np.sqrt(np.sum(W[:, cols] ** 2))
        if norm == 0.0:
            zero_excess = max(zero_excess, np.sqrt(np.sum(G[:, cols] ** 2)) - l1 * w[g])
        else:
            res = G[:, cols] + l1 * w[g] * W[:, cols] / norm
            nonzero = max(nonzero, float(np.max(np.abs(res))))
    return zero_excess, nonzero, float(np.max(np.abs(gb / S)))


def group_critical_C(X, y, l1_ratio, groups, factor=None, fit_intercept=True):
    """``r / (S max_g ||G_g|| / w_g)``, ``G`` the unweighted mean cross-entropy's
    gradient at zero weights and optimal intercepts (see :func:`critical_C`)."""
    X = np.asarray(X, dtype=np.float64)
    n = X.shape[0]
    n_classes = int(y.max()) + 1
    Y = np.eye(n_classes)[y]
    P = np.tile(Y.mean(0) if fit_intercept else np.full(n_classes, 1 / n_classes), (n, 1))
    G = (X.T @ (P - Y)).T / n
    if n_classes == 2:
        G = G[1:]
    return l1_ratio / (n * np.max(group_norms(G, groups) / group_weights(groups, factor)))


def group_minimize(X, y, C, l1_ratio, groups, factor=None, fit_intercept=True, n_iter=6000):
    """The reference minimiser of :func:`group_objective` (unweighted): FISTA with
    the constant step ``1 / L`` (``L = ||[X, 1]||_2^2 / (2 S) + l2 max f``, Böhning's
    bound on the softmax Hessian) and function-value restarts, for ``n_iter``
    iterations from zero.  Plain NumPy; small problems only.  Returns ``(W, b)``."""
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    n_classes = int(y.max()) + 1
    binary = n_classes == 2
    K = 1 if binary else n_classes
    f = np.ones(d) if factor is None else np.asarray(factor, np.float64)
    l2, l1 = (1 - l1_ratio) / (C * n), l1_ratio / (C * n)
    w = group_weights(groups, factor)
    Xb = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    L = np.linalg.norm(Xb, 2) ** 2 / (2 * n) + l2 * f.max()
    t = 1.0 / L

    def F(W, b):
        return group_objective(X, y, W, b, C, l1_ratio, groups, factor, binary=binary)

    def prox(W):
        norms = group_norms(W, groups)
        scale = np.where(norms > t * l1 * w, 1 - t * l1 * w / np.maximum(norms, 1e-300), 0.0)
        return W * scale[groups] / (1 + t * l2 * f)

    W, b = np.zeros((K, d)), np.zeros(K)
    VW, vb, mom, Fold = W.copy(), b.copy(), 1.0, F(W, b)
    for _ in range(n_iter):
        _, GW, gb, _ = loss_sum_terms(X, y, VW, vb, None, binary)
        Wn = prox(VW - t * GW / n)
        bn = vb - t * gb / n if fit_intercept else vb
        Fn = F(Wn, bn)
        if Fn > Fold:  # restart the momentum
            VW, vb, mom = W.copy(), b.copy(), 1.0
            continue
        mom_n = (1 + np.sqrt(1 + 4 * mom * mom)) / 2
        VW = Wn + (mom - 1) / mom_n * (Wn - W)
        vb = bn + (mom - 1) / mom_n * (bn - b)
        W, b, mom, Fold = Wn, bn, mom_n, Fn
    return W, b
