"""Statistical inference for a fitted model: Newton-polished estimates and their covariance.

What :meth:`SoftmaxClassifier.covariance_matrix`, ``std_errors`` and ``coef_table``
compute, on NumPy or SciPy data only (the estimator validates; this module computes).

**Parameters.**  The estimates are rows of ``theta``, one per reported class, each
``[intercept, w_1, ..., w_p]`` (the intercept column only with ``fit_intercept``):

* *reduced* (a reference class ``r``): the logit of ``r`` is fixed at zero and ``theta_k``
  is ``(b_k - b_r, W_k - W_r)`` for every other class, MNLogit's parameters; the binary
  model is this with ``r = 0`` (statsmodels' ``Logit``).  Unpenalised multinomial models
  (``C = inf``) are identified only in this form.
* *symmetric* (finite ``C``, more than two classes): every class's row is a parameter;
  the L2 term identifies the weights, and the intercepts (and the weights of features of
  penalty factor 0), identified only up to a common constant, are reported centred (they
  sum to zero over the classes, as the fit leaves the intercepts); their covariance is
  that of the centred coefficients (the pseudo-inverse on that subspace).
  Contrasts against a reference class are then a linear map of it.

**Objective** (sum units, sample weights as frequency weights)::

    f(theta) = sum_i w_i * -log p_i[y_i]  +  l2 / 2 * sum_j factor_j ||weights of j||^2

``l2`` is ``1 / C`` for data of the fit's total weight (``LogisticRegression``'s
scaling), 0 at ``C = inf``.  The estimates are polished by Newton steps from the fit's
coefficients (which the estimator first tightens by L-BFGS, passes over ``X`` being far
cheaper than a Hessian) until a step is below ``NEWTON_STEP_TOL`` (relative); the
Hessian of the last step is the one the covariance uses (usually the only one formed).

**Hessian.**  ``H = blockdiag_k(X1' diag(w p_k) X1) - M' M + l2 * I_weights`` with
``X1 = [1, X]`` and ``M`` the rows ``sqrt(w_i) [p_i1 x1_i, ..., p_im x1_i]``: the
``m (m + 1) / 2`` blocks ``X1' diag(w (p_k delta_kl - p_k p_l)) X1`` in BLAS ``syrk``
calls over row chunks (dense, or CSR rows densified a chunk at a time).  It has
``(m q)^2`` entries for ``m`` reported classes and ``q`` coefficients per class; above
``MAX_HESSIAN_BYTES`` the computation is refused.

**Covariances.**  ``nonrobust``: ``H^-1``.  ``HC0``: ``H^-1 B H^-1`` with
``B = sum_i w_i s_i s_i'`` (``s_i`` the score of one observation, ``(y_i - p_i) x1_i``).
``HC1``: HC0 times ``n / (n - k)``.  ``cluster``: ``B = sum_g S_g S_g'`` over groups'
score sums, times ``G / (G - 1) * (n - 1) / (n - k)`` (statsmodels' default
correction); ``n`` is the total sample weight, ``k`` the number of free parameters.
"""

from collections import namedtuple

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.special import log_softmax

__all__ = [
    "COV_TYPES",
    "MAX_HESSIAN_BYTES",
    "NEWTON_STEP_TOL",
    "Inference",
    "InferenceModel",
    "infer",
    "log_likelihood",
]

#: The covariance types: inverse Hessian, the sandwich, the sandwich with the
#: ``n / (n - k)`` correction, and the cluster sandwich.
COV_TYPES = ("nonrobust", "HC0", "HC1", "cluster")
#: The largest Hessian (``8 (m q)^2`` bytes) inference forms; the call needs about three
#: times this (the Hessian, its Cholesky factor, the covariance).
MAX_HESSIAN_BYTES = 2**30
#: Newton stops after a step whose max-norm is below this, relative to ``1 + max|theta|``:
#: the estimate's error is then of the order of the step squared (1e-12), and the Hessian
#: of that step, taken this close to the optimum, gives the covariance to about 1e-6.
NEWTON_STEP_TOL = 1e-6
#: Newton steps before giving up (far from the optimum, or the optimum is at infinity).
NEWTON_MAX_ITER = 50
# Rows per chunk: the chunk's largest array (rows x m q doubles) stays near 4 MiB, in
# cache for the elementwise steps (16 MiB chunks were slower; syrk's speed is the same).
_CHUNK_BYTES = 2**22
# The Hessian scaled to a unit diagonal counts as singular (condition number above about
# 1e10) below this squared Cholesky pivot.
_SINGULAR_PIVOT = 1e-10
_SINGULAR_MESSAGE = (
    "The Hessian of the log-likelihood is singular (or nearly: condition number above 1e10 "
    "after scaling) at the estimates: the features are collinear (a constant feature with "
    "fit_intercept=True, a duplicated column, more coefficients than samples) or the data "
    "are (quasi-)separated. Remove the redundant features or fit with a finite C."
)
# An unpenalised fit whose mean log-loss is below this predicts every sample with
# certainty: the data are perfectly separated and the estimates run off to infinity.
_SEPARATED_MEAN_LOSS = 1e-8


class InferenceModel:
    """The parametrisation inference reports (see the module's docstring).

    Parameters
    ----------
    n_classes : int
        Classes of the fitted model.
    n_features : int
    fit_intercept : bool
    reference : int or None
        Index of the reference class (its logit fixed at zero), or None for the
        symmetric parametrisation (finite ``C``, more than two classes).
    l2 : float
        Strength of ``l2 / 2 ||weights||^2`` in sum units (0: no penalty).
    """

    def __init__(self, n_classes, n_features, fit_intercept, reference, l2, factor=None):
        self.n_classes = n_classes
        self.fit_intercept = bool(fit_intercept)
        self.q = n_features + self.fit_intercept
        self.reference = reference
        self.rows = [k for k in range(n_classes) if k != reference]
        self.m = len(self.rows)
        self.l2 = float(l2)
        self.factor = np.ones(n_features) if factor is None else np.asarray(factor, float)

    @property
    def n_params(self):
        return self.m * self.q

    def _free_columns(self):
        """Columns of ``theta`` the penalty leaves free: the intercept, and the features
        of penalty factor 0."""
        weights = self.l2 == 0.0 or self.factor == 0.0
        weights = np.broadcast_to(weights, self.factor.shape)
        return np.flatnonzero(np.r_[[True] * self.fit_intercept, weights])

    @property
    def null_directions(self):
        """Orthonormal columns (m q, r) of the directions the symmetric model cannot
        identify (one common shift across classes per unpenalised column), or None."""
        if self.reference is not None:
            return None
        columns = self._free_columns()
        if columns.size == 0:
            return None
        V = np.zeros((self.m, self.q, columns.size))
        V[:, columns, np.arange(columns.size)] = 1.0 / np.sqrt(self.m)
        return V.reshape(self.m * self.q, columns.size)

    @property
    def n_free_params(self):
        """``k`` of the small-sample corrections and the information criteria."""
        V = self.null_directions
        return self.n_params - (0 if V is None else V.shape[1])

    def start(self, coef, intercept):
        """``theta`` of shape (m, q) from a fit's (K, n_features) weights and (K,) intercepts."""
        W = np.asarray(coef, dtype=np.float64)
        if self.fit_intercept:
            b = np.asarray(intercept, dtype=np.float64).reshape(-1)
        else:
            b = np.zeros(W.shape[0])
        if W.shape[0] == 1:  # the binary model: one row, the logit of class 1
            W = np.vstack([np.zeros_like(W), W])
            b = np.concatenate([[0.0], b])
        full = np.column_stack([b, W]) if self.fit_intercept else W.copy()
        if self.reference is not None:
            return full[self.rows] - full[self.reference]
        columns = self._free_columns()
        full[:, columns] -= full[:, columns].mean(axis=0)
        return full

    def log_proba(self, theta, X1):
        """Log-probabilities of shape (n_rows, n_classes) for the chunk ``X1`` (with its
        intercept column)."""
        Z = np.zeros((X1.shape[0], self.n_classes))
        Z[:, self.rows] = X1 @ theta.T
        return log_softmax(Z, axis=1)

    def penalty_mask(self):
        """Each entry's share of ``l2``: 0 for intercepts, the feature's factor else."""
        mask = np.empty((self.m, self.q))
        mask[:, self.fit_intercept :] = self.factor
        if self.fit_intercept:
            mask[:, 0] = 0.0
        return mask


class _Data:
    """Row chunks of ``X`` as dense float64 with the intercept column, with labels and weights."""

    def __init__(self, X, y_enc, sw, fit_intercept, chunk_rows):
        self.X = X
        self.y = y_enc
        self.sw = np.ones(X.shape[0]) if sw is None else np.asarray(sw, dtype=np.float64)
        self.fit_intercept = fit_intercept
        self.chunk_rows = max(1, int(chunk_rows))

    def chunks(self, order=None):
        n = self.X.shape[0]
        for start in range(0, n, self.chunk_rows):
            if order is None:
                idx = slice(start, min(start + self.chunk_rows, n))
            else:
                idx = order[start : start + self.chunk_rows]
            Xc = self.X[idx]
            Xc = Xc.toarray() if sp.issparse(Xc) else np.asarray(Xc)
            Xc = Xc.astype(np.float64, copy=False)
            if self.fit_intercept:
                Xc = np.column_stack([np.ones(Xc.shape[0]), Xc])
            yield idx, Xc, self.y[idx], self.sw[idx]


def _onehot(y, n_classes):
    Y = np.zeros((y.shape[0], n_classes))
    Y[np.arange(y.shape[0]), y] = 1.0
    return Y


def _syrk_into(C, A, alpha=1.0):
    """``C += alpha A' A`` on the upper triangle (``C`` Fortran-ordered, ``A`` C-ordered)."""
    if A.shape[0] == 0:
        return C
    return scipy.linalg.blas.dsyrk(
        alpha, np.ascontiguousarray(A).T, beta=1.0, c=C, trans=0, lower=0, overwrite_c=1
    )


def _value(model, data, theta):
    """The objective ``f(theta)`` (sum units)."""
    f = 0.0
    for _, X1, y, w in data.chunks():
        logp = model.log_proba(theta, X1)
        f -= w @ logp[np.arange(y.shape[0]), y]
    return f + 0.5 * model.l2 * np.sum((theta * model.penalty_mask()) ** 2)


def _value_gradient_hessian(model, data, theta):
    """``f``, its gradient (m q,) and Hessian (m q, m q) at ``theta`` in one pass."""
    m, q = model.m, model.q
    f = 0.0
    grad = np.zeros((m, q))
    H = np.zeros((m * q, m * q), order="F")
    diag_blocks = [np.zeros((q, q), order="F") for _ in range(m)]
    for _, X1, y, w in data.chunks():
        logp = model.log_proba(theta, X1)
        f -= w @ logp[np.arange(y.shape[0]), y]
        P = np.exp(logp)
        R = (P - _onehot(y, model.n_classes))[:, model.rows]
        grad += (R * w[:, None]).T @ X1
        Pm = P[:, model.rows]
        sqw = np.sqrt(w)
        for k in range(m):
            diag_blocks[k] = _syrk_into(diag_blocks[k], X1 * (sqw * np.sqrt(Pm[:, k]))[:, None])
        M = ((sqw[:, None] * Pm)[:, :, None] * X1[:, None, :]).reshape(X1.shape[0], m * q)
        H = _syrk_into(H, M, alpha=-1.0)
    for k in range(m):
        H[k * q : (k + 1) * q, k * q : (k + 1) * q] += diag_blocks[k]
    H = np.triu(H) + np.triu(H, 1).T
    mask = model.penalty_mask()
    f += 0.5 * model.l2 * np.sum((theta * mask) ** 2)
    grad += model.l2 * theta * mask
    H[np.diag_indices_from(H)] += model.l2 * mask.ravel()
    return f, grad.ravel(), H


class _Inverse:
    """Solves with ``H`` (the pseudo-inverse off the symmetric model's null directions).

    The Cholesky factor is taken of ``H`` scaled to a unit diagonal, whose smallest pivot
    then measures how close to singular ``H`` is whatever the features' scales: exact
    collinearity leaves pivots of rounding size (1e-16 to 1e-14 relative), which any
    machine's BLAS keeps far below ``_SINGULAR_PIVOT``.
    """

    def __init__(self, H, null):
        self.null = null
        self.shift = float(np.mean(np.diag(H))) if null is not None else 0.0
        Hs = H if null is None else H + self.shift * (null @ null.T)
        diag = np.diag(Hs)
        if not (np.isfinite(Hs).all() and diag.min() > 0.0):
            raise ValueError(_SINGULAR_MESSAGE)
        self.scale = 1.0 / np.sqrt(diag)
        try:
            self.factor = scipy.linalg.cho_factor(
                Hs * self.scale[:, None] * self.scale[None, :], lower=False
            )
        except np.linalg.LinAlgError as exc:
            raise ValueError(_SINGULAR_MESSAGE) from exc
        if np.min(np.diag(self.factor[0])) ** 2 < _SINGULAR_PIVOT:
            raise ValueError(_SINGULAR_MESSAGE)

    def solve(self, g):
        return self.scale * scipy.linalg.cho_solve(self.factor, self.scale * g)

    def matrix(self):
        inv = scipy.linalg.cho_solve(self.factor, np.eye(self.scale.shape[0]))
        inv *= self.scale[:, None] * self.scale[None, :]
        if self.null is not None:
            inv -= (self.null @ self.null.T) / self.shift
        return 0.5 * (inv + inv.T)


def _newton(model, data, theta, weight_sum):
    """Newton steps from ``theta`` to the optimum: ``(theta, inverse Hessian, n_steps)``."""
    for it in range(1, NEWTON_MAX_ITER + 1):
        f, g, H = _value_gradient_hessian(model, data, theta)
        if model.l2 == 0.0 and f < _SEPARATED_MEAN_LOSS * weight_sum:
            raise ValueError(
                "Perfect separation: the unpenalised model (C=inf) predicts every sample "
                "with certainty, so the maximum-likelihood estimates are infinite and have "
                "no standard errors. Fit with a finite C."
            )
        inverse = _Inverse(H, model.null_directions)
        step = inverse.solve(g).reshape(theta.shape)
        size = np.abs(step).max()
        if size <= NEWTON_STEP_TOL * (1.0 + np.abs(theta).max()):
            return theta - step, inverse, it
        t = 1.0
        while True:  # backtracking: Newton from a fit's solution takes the full step
            candidate = theta - t * step
            if _value(model, data, candidate) <= f + 1e-12 * abs(f) or t < 1e-10:
                break
            t *= 0.5
        theta = candidate
    raise ValueError(
        f"Newton's method did not converge in {NEWTON_MAX_ITER} steps from the fitted "
        "coefficients: the maximum-likelihood estimates may not exist (quasi-separated "
        "data at C=inf). Fit with a finite C."
    )


def _meat(model, data, theta, groups):
    """``B``: the sum of the observations' (or the groups' summed) weighted score products."""
    q = model.n_params
    B = np.zeros((q, q), order="F")
    if groups is None:
        for _, X1, y, w in data.chunks():
            R = (_onehot(y, model.n_classes) - np.exp(model.log_proba(theta, X1)))[:, model.rows]
            S = ((np.sqrt(w)[:, None] * R)[:, :, None] * X1[:, None, :]).reshape(len(y), q)
            B = _syrk_into(B, S)
        return np.triu(B) + np.triu(B, 1).T
    order = np.argsort(groups, kind="stable")
    carry, carry_group = None, None
    for idx, X1, y, w in data.chunks(order):
        R = (_onehot(y, model.n_classes) - np.exp(model.log_proba(theta, X1)))[:, model.rows]
        S = ((w[:, None] * R)[:, :, None] * X1[:, None, :]).reshape(len(y), q)
        g = groups[idx]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        sums = np.add.reduceat(S, starts, axis=0)
        if carry is not None:
            if g[0] == carry_group:
                sums[0] += carry
            else:
                B = _syrk_into(B, carry[None, :])
        # the chunk's last group may go on in the next chunk
        carry, carry_group = sums[-1].copy(), g[-1]
        B = _syrk_into(B, sums[:-1])
    if carry is not None:
        B = _syrk_into(B, carry[None, :])
    return np.triu(B) + np.triu(B, 1).T


#: The result of :func:`infer`: ``params`` (m, q) and ``cov`` (m q, m q) in the same
#: row-major order; ``rows`` the class indices of the rows; ``n_newton`` the Newton steps.
Inference = namedtuple("Inference", ["params", "cov", "rows", "n_newton"])


def check_hessian_size(n_params):
    """Raise a ValueError when the Hessian of ``n_params`` parameters exceeds the limit."""
    size = 8 * n_params**2
    if size > MAX_HESSIAN_BYTES:
        raise ValueError(
            f"Inference needs the {n_params} x {n_params} Hessian of the reported "
            f"coefficients ({size / 2**30:.1f} GiB, about three times that in all), above "
            f"the limit of {MAX_HESSIAN_BYTES / 2**30:.1f} GiB "
            "(sk_softmax._inference.MAX_HESSIAN_BYTES). Reduce the number of features or "
            "classes."
        )


def infer(X, y_enc, sw, model, coef, intercept, *, cov_type, groups=None):
    """Polished estimates and their covariance.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
    y_enc : ndarray of shape (n_samples,)
        Class indices.
    sw : ndarray of shape (n_samples,) or None
        Frequency weights.
    model : InferenceModel
    coef, intercept : ndarray of shape (K, n_features) and (K,)
        The fit's ``coef_`` and ``intercept_`` (the start of the Newton steps).
    cov_type : {"nonrobust", "HC0", "HC1", "cluster"}
    groups : ndarray of shape (n_samples,) or None
        Integer group codes for ``cov_type="cluster"``.

    Returns
    -------
    Inference

    Notes
    -----
    The caller checks the Hessian's size first (:func:`check_hessian_size`), before any
    work on the data.
    """
    chunk_rows = _CHUNK_BYTES // (8 * max(model.n_params, 1))
    data = _Data(X, y_enc, sw, model.fit_intercept, chunk_rows)
    weight_sum = float(data.sw.sum())
    theta, inverse, n_newton = _newton(model, data, model.start(coef, intercept), weight_sum)
    bread = inverse.matrix()
    if cov_type == "nonrobust":
        cov = bread
    else:
        meat = _meat(model, data, theta, groups if cov_type == "cluster" else None)
        cov = bread @ meat @ bread
        k = model.n_free_params
        if cov_type == "HC1":
            cov *= weight_sum / (weight_sum - k)
        elif cov_type == "cluster":
            n_groups = np.unique(groups).shape[0]
            cov *= n_groups / (n_groups - 1.0) * (weight_sum - 1.0) / (weight_sum - k)
        cov = 0.5 * (cov + cov.T)
    return Inference(theta, cov, list(model.rows), n_newton)


def contrast(result, n_classes, q, reference):
    """A symmetric model's estimates as contrasts against ``reference`` (same layout)."""
    rows = [k for k in range(n_classes) if k != reference]
    theta = result.params[rows] - result.params[reference]
    S = result.cov.reshape(n_classes, q, n_classes, q)
    C = (
        S[rows][:, :, rows]
        - S[rows][:, :, [reference]]
        - S[[reference]][:, :, rows]
        + S[reference][:, reference][None, :, None, :]
    )
    m = len(rows)
    return result._replace(params=theta, cov=C.reshape(m * q, m * q), rows=rows)


def log_likelihood(log_proba, y_enc, sw):
    """``sum_i w_i log p_i[y_i]`` from predicted log-probabilities."""
    w = np.ones(y_enc.shape[0]) if sw is None else sw
    return float(w @ log_proba[np.arange(y_enc.shape[0]), y_enc])


def null_log_likelihood(y_enc, sw, n_classes):
    """Log-likelihood of the intercept-only model (the weighted class shares)."""
    w = np.ones(y_enc.shape[0]) if sw is None else sw
    totals = np.bincount(y_enc, weights=w, minlength=n_classes)
    totals = totals[totals > 0]
    return float(totals @ np.log(totals / totals.sum()))
