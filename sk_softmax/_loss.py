"""The loss object: the data, and the objective's value and gradient on it.

:class:`SoftmaxLoss` holds the training data (``X``, encoded labels, sample weights), a
:class:`~sk_softmax._layout.CoefLayout` and a penalty object
(:mod:`sk_softmax._penalty`), and evaluates the smooth part of the objective and its
gradient, on all the rows or on a minibatch, with the numba kernels (or, for small
problems, NumPy); also Hessian-vector products for the L1 solver's Newton steps.  It
owns the kernels' work buffers and nothing else: solvers own their state (SGD's scaled
weights, averages and schedules live in :mod:`sk_softmax._solvers._sgd`), the float32
stage of a solve is made in :mod:`sk_softmax._precision`, and the caller owns the
threads (:func:`sk_softmax._threading.kernel_threads`, entered once per estimator call).
What a solver may use of a loss is written down in
:mod:`sk_softmax._solvers._contract`.

Objective
---------
With sample weights ``s_i`` (class weights already folded in), ``S = sum_i s_i`` and
``P = softmax(X @ W.T + b)``, the objective is scaled exactly as scikit-learn scales
``LogisticRegression``'s (``LinearModelLoss`` with ``l2_reg_strength = 1 / (C S)``)::

    f(W, b) = (1 / S) * sum_i s_i * -log P[i, y_i]  +  penalty(W)

so that ``tol`` (scipy's ``gtol``) means what it means for ``LogisticRegression``.  The
intercept is not penalised and ``C = inf`` means no penalty.  The coefficient layout
is described in :mod:`sk_softmax._layout`.
"""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from . import _kernels
from ._kernels import (
    _small,
    csr_full_buffers,
    dense_batch_buffers,
    dense_block_size,
    dense_full_buffers,
)
from ._layout import CoefLayout
from ._penalty import ElasticNet, GroupElasticNet
from ._solvers._contract import MinibatchData
from ._threading import use_parallel

__all__ = ["KroneckerCurvature", "SoftmaxLoss", "hessian_rows"]


def hessian_rows(n_samples, max_rows):
    """The rows of a subsampled Hessian: every ``step``-th row, at most ``max_rows``
    (all rows for ``max_rows=None``), evenly strided so that the sample is
    deterministic.

    Returns
    -------
    rows : ndarray of shape (n_rows,), integer
    step : int
    """
    step = 1 if max_rows is None or n_samples <= max_rows else -(-n_samples // max_rows)
    return np.arange(0, n_samples, step), step


def curvature_sums(X, y, sample_weight, n_classes, rows_per_chunk=4096):
    """The data's part of :meth:`SoftmaxLoss.curvature_diagonal`, as sums that add up
    over blocks of rows.

    Parameters
    ----------
    X : ndarray or CSR of shape (n_samples, n_features)
        Read in row chunks (no copy of ``X``); CSR repeats are squared one by one (an
        estimate).
    y : ndarray of shape (n_samples,), integer
    sample_weight : ndarray of shape (n_samples,) or (0,) or None
    n_classes : int

    Returns
    -------
    sums : ndarray of shape (n_classes + n_features,), float64
        The weight of each class, then ``sum_i s_i x_ij^2`` for each feature.
    """
    n, d = X.shape
    weighted = sample_weight is not None and sample_weight.shape[0] > 0
    sw = sample_weight if weighted else None
    counts = np.bincount(y, weights=sw, minlength=n_classes).astype(np.float64)
    m2 = np.zeros(d)
    for lo in range(0, n, rows_per_chunk):
        hi = min(n, lo + rows_per_chunk)
        if sp.issparse(X):
            block = X[lo:hi]
            vals = np.square(block.data, dtype=np.float64)
            if weighted:
                vals *= np.repeat(sw[lo:hi], np.diff(block.indptr))
            m2 += np.bincount(block.indices, weights=vals, minlength=d)
        else:
            block = np.asarray(X[lo:hi], dtype=np.float64)
            m2 += sw[lo:hi] @ np.square(block) if weighted else np.einsum("ij,ij->j", block, block)
    return np.concatenate([counts, m2])


def class_curvature(counts, layout):
    """``c_k = pi_k (1 - pi_k)`` of each stored row of ``W``, ``pi_k`` the weighted share
    of its class (``counts``: the classes' weights), or None when they sum to zero."""
    total = float(counts.sum())
    if total <= 0.0:
        return None
    shares = counts / total
    c = shares * (1.0 - shares)
    return c[1:] if layout.binary else c  # the binary model stores class 1's row


def curvature_diagonal(sums, layout, penalty):
    """``h`` of :meth:`SoftmaxLoss.curvature_diagonal` from :func:`curvature_sums`
    (of all the data, however they were added up), the layout and the penalty.

    Returns
    -------
    h : ndarray of shape (n_params,), float64, or None
        None when the weights sum to zero.
    """
    counts, m2 = sums[: layout.n_classes], sums[layout.n_classes :]
    c = class_curvature(counts, layout)
    if c is None:
        return None
    h = c[:, None] * (m2 / float(counts.sum()))[None, :] + penalty.smooth_curvature(
        layout.n_features
    )
    if layout.fit_intercept:
        h = np.hstack([h, c[:, None]])
    return h.ravel()


class KroneckerCurvature(NamedTuple):
    """A Kronecker-factored estimate of the objective's Hessian:
    ``H ~ diag(c) (x) S + I (x) diag(p)`` in the layout of ``coef`` (class rows of
    ``n_features`` weights and the intercept).

    Attributes
    ----------
    class_curvature : ndarray of shape (K,), float64
        ``c_k = pi_k (1 - pi_k)`` (as in :meth:`SoftmaxLoss.curvature_diagonal`).
    second_moment : ndarray of shape (m, m), float64
        ``S``: the weighted mean of ``a a^T`` with ``a = [x, 1]`` (``x`` without an
        intercept), ``m = n_features + fit_intercept``: its diagonal over all rows, the
        correlations over evenly spaced rows (:func:`kronecker_curvature`).
    penalty_curvature : ndarray of shape (m,), float64
        ``p``: the penalty's ``l2 * f_j`` for each weight, 0 for the intercept.
    """

    class_curvature: np.ndarray
    second_moment: np.ndarray
    penalty_curvature: np.ndarray


#: :meth:`SoftmaxLoss.curvature_kronecker`'s second moments come from evenly spaced rows,
#: ``max(KRONECKER_MIN_ROWS, 4 * m)`` of them at most (``m`` columns with the
#: intercept's): enough for the preconditioner (MNIST, exploratory runs: 2500 to 30000
#: rows gave 94 to 59 evaluations, noisy, against 183 with the diagonal), and cheap next to
#: the evaluations saved.
KRONECKER_MIN_ROWS = 2048
#: The Kronecker estimate is made for at most this many columns (``S`` is ``m x m``
#: float64: 32 MiB here), and where ``S`` and its Cholesky factor cost at most
#: ``KRONECKER_MAX_COST`` full evaluations' multiply-adds (``2 n m K`` each): on
#: 4000-row MNIST folds they cost ~15 and saved 54-75 (benchmarks/results/preconditioner.md).
KRONECKER_MAX_FEATURES = 2048
KRONECKER_MAX_COST = 30.0


def second_moment(X, sample_weight, fit_intercept, rows=None):
    """The weighted mean of ``a a^T``, ``a = [x, 1]`` (``[x]`` without an intercept), over
    ``rows`` of dense ``X`` (all rows: None): the ``S`` of :class:`KroneckerCurvature`.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64
    sample_weight : ndarray of shape (n_samples,) or (0,)
        Non-negative; empty means all ones.
    fit_intercept : bool
    rows : ndarray of shape (n_rows,), integer, or None

    Returns
    -------
    S : ndarray of shape (m, m), float64, or None
        ``m = n_features + fit_intercept``; None when the rows' weights sum to zero.
    """
    n, d = X.shape
    A = np.empty((n if rows is None else rows.shape[0], d + int(fit_intercept)))
    A[:, :d] = X if rows is None else X[rows]  # one float64 copy of the rows
    if fit_intercept:
        A[:, d] = 1.0
    if sample_weight.shape[0] == 0:
        total = float(A.shape[0])
    else:
        w = sample_weight if rows is None else sample_weight[rows]
        total = float(w.sum())
        A *= np.sqrt(w)[:, None]
    if not total > 0.0:
        return None
    S = A.T @ A
    S /= total
    return S


def kronecker_rows(n_samples, layout):
    """The rows of :class:`KroneckerCurvature`'s second moment: evenly spaced
    (:func:`hessian_rows`), at most ``max(KRONECKER_MIN_ROWS, 4 m)`` of them for ``m``
    columns with the intercept's; None where the estimate is not made (more than
    :data:`KRONECKER_MAX_FEATURES` columns, or a cost above
    :data:`KRONECKER_MAX_COST` evaluations).

    Returns
    -------
    rows : ndarray of shape (n_rows,), integer, or None
    """
    m = layout.n_features + int(layout.fit_intercept)
    rows, _ = hessian_rows(n_samples, max(KRONECKER_MIN_ROWS, 4 * m))
    # the second moment's products and the Cholesky factor, in multiply-adds
    cost = rows.shape[0] * m * m / 2.0 + m**3 / 3.0
    if m > KRONECKER_MAX_FEATURES or cost > KRONECKER_MAX_COST * 2.0 * n_samples * m * layout.K:
        return None
    return rows


def kronecker_curvature(sums, S, layout, penalty):
    """:class:`KroneckerCurvature` from :func:`curvature_sums` of all the rows, the second
    moment ``S`` of the sampled rows (:func:`second_moment`, or None) and the penalty.

    The sample gives the columns' correlations, all the rows their scales: ``S`` is
    rescaled to the full data's ``mean(x_j^2)`` on its diagonal, and a column that is zero
    on every sampled row (but not in the data: a periodic column, a rare one) keeps its
    full-data scale with no correlation, where the sample alone would give it no
    curvature at all and the preconditioner a near-singular factor.

    Returns
    -------
    curvature : KroneckerCurvature or None
        None when the classes' or the sampled rows' weights sum to zero.
    """
    counts, m2 = sums[: layout.n_classes], sums[layout.n_classes :]
    c = class_curvature(np.asarray(counts, dtype=np.float64), layout)
    if c is None or S is None:
        return None
    full = m2 / float(counts.sum())
    if layout.fit_intercept:
        full = np.append(full, 1.0)
    sampled = np.diag(S)
    inv = np.zeros_like(sampled)
    np.divide(1.0, np.sqrt(sampled), out=inv, where=sampled > 0.0)
    corr = S * inv[:, None] * inv[None, :]
    corr[np.diag_indices_from(corr)] = 1.0
    scale = np.sqrt(full)
    p = penalty.smooth_curvature(layout.n_features)
    if layout.fit_intercept:
        p = np.append(p, 0.0)
    return KroneckerCurvature(c, corr * scale[:, None] * scale[None, :], p)


class SoftmaxLoss:
    """Softmax (or, for two classes, sigmoid) cross-entropy plus a penalty, on its data.

    Parameters
    ----------
    X : ndarray or CSR matrix/array of shape (n_samples, n_features), float32 or float64
        Training data (C-contiguous when dense); referenced, never copied nor modified.
        CSR indices may be unsorted or repeated (repeats add up, as in scipy).
    y : ndarray of shape (n_samples,), integer
        Encoded labels in ``[0, n_classes)``.
    n_classes : int
        Number of classes, at least 2.
    sample_weight : ndarray of shape (n_samples,) or None
        Non-negative weights; ``None`` means all ones.
    C : float
        Inverse regularisation strength in ``(0, inf]``.
    fit_intercept : bool
        Whether the model has (unpenalised) intercepts.
    l1_ratio : float in [0, 1]
        Share ``r`` of the L1 term in the penalty (0: L2 only).
    penalty_weight_sum : float or None
        ``S`` in the penalty's ``1 / (C S)``; default: the sum of the sample weights
        of this data.  Streaming fits (``partial_fit``) and SGD with a validation split
        pass another one.
    penalty : penalty object or None
        Given instead of ``C``, ``l1_ratio``, ``penalty_weight_sum``,
        ``penalty_factor`` and ``box``.
    penalty_factor : ndarray of shape (n_features,) or None
        Per-feature penalty factors (:func:`sk_softmax._penalty.check_penalty_factor`).
    box : Box or None
        Bounds on the weights (:func:`sk_softmax._penalty.make_box`).
    l1_groups : ndarray of shape (n_features,), integer, or None
        Groups of the L1 term (:func:`sk_softmax._penalty.check_l1_groups`): the
        penalty is then a :class:`~sk_softmax._penalty.GroupElasticNet`.
    small_max_work : float or None
        Problems of fewer multiply-adds per full evaluation run with NumPy (``small``);
        None: :data:`sk_softmax._kernels.SMALL_MAX_WORK`.  ``0`` forces the kernels and
        ``np.inf`` NumPy, whatever the size (tests compare the two paths this way);
        losses made from this one (:meth:`with_data`) keep it.

    Attributes
    ----------
    layout : CoefLayout
        Where the weights and intercepts sit in the flat ``coef``.
    penalty : ElasticNet
        The penalty; its smooth part is included in :meth:`loss_gradient`, its L1 term
        is left to the solvers.
    sample_weight : ndarray of shape (n_samples,) or (0,), float64
        The weights as the kernels take them (empty: all ones).
    sw_sum : float
        Sum of the sample weights (``n_samples`` without weights).
    small : bool
        Whether evaluations run with NumPy
        (:func:`sk_softmax._kernels.small_loss_grad`: fewer than ``small_max_work``
        multiply-adds per full evaluation, where numba's start would cost more than the
        whole fit): full-batch ones, and minibatch ones on the batch's rows; SGD then
        takes its steps in NumPy too (:func:`sk_softmax._solvers.sgd_epoch`), so that a
        small fit imports no numba.
    supports_hessian_product : bool
        True: :meth:`hessian_product` is available (the solver contract).

    Notes
    -----
    The kernels run with the numba threads and BLAS limits of the caller's
    :func:`~sk_softmax._threading.kernel_threads` block.
    """

    supports_hessian_product = True

    def __init__(
        self,
        X,
        y,
        n_classes,
        sample_weight=None,
        *,
        C=1.0,
        fit_intercept=True,
        l1_ratio=0.0,
        penalty_weight_sum=None,
        penalty=None,
        penalty_factor=None,
        box=None,
        l1_groups=None,
        small_max_work=None,
    ):
        n_samples, n_features = X.shape
        self.layout = CoefLayout(n_features, n_classes, fit_intercept)
        self.X = X
        self.y = y
        self.sparse = sp.issparse(X)
        if self.sparse and X.format != "csr":
            raise ValueError(f"Sparse X must be CSR, got {X.format!r}.")
        if not self.sparse and not X.flags.c_contiguous:
            # the kernels load rows as vectors (the caller validates with order="C")
            raise ValueError("Dense X must be C-contiguous.")
        K = self.layout.K
        # rows per block of the dense kernel: a function of the shape (docs/design.md)
        self._block_size = dense_block_size(n_features, X.dtype.itemsize)
        work = (X.nnz if self.sparse else n_samples * n_features) * K
        self._small_max_work = _small.SMALL_MAX_WORK if small_max_work is None else small_max_work
        self.small = work < self._small_max_work

        if sample_weight is None:
            self.sample_weight = np.empty(0, dtype=np.float64)
            self.sw_sum = float(n_samples)
        else:
            self.sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
            self.sw_sum = float(self.sample_weight.sum())
        if penalty is None:
            S = self.sw_sum if penalty_weight_sum is None else penalty_weight_sum
            if l1_groups is None:
                penalty = ElasticNet(C, l1_ratio, S, penalty_factor, box)
            else:
                penalty = GroupElasticNet(C, l1_ratio, S, l1_groups, penalty_factor)
        self.penalty = penalty

        # dense kernels read W (K, n_features); sparse ones W.T (n_features, K)
        self._W = np.zeros((n_features, K) if self.sparse else (K, n_features), dtype=X.dtype)
        self._b = np.zeros(K, dtype=X.dtype)
        self._gW = np.empty((K, n_features), dtype=np.float64)
        self._gb = np.empty(K, dtype=np.float64)
        # Work buffers, allocated on first use and kept: an evaluation allocates nothing
        # of size n_samples (only the returned gradient, of size n_params).
        self._full = None
        self._batch = None
        # the data's sums for curvature_diagonal ("curvature_sums") and second moment for
        # curvature_kronecker ("second_moment"), made on first use; with_penalty's losses
        # share the dict, so that a path of C makes them once
        self._data_sums = {}

    def with_data(self, X, y, sample_weight, penalty=None):
        """A loss of the same model (classes, intercept, penalty unless given) on other
        data, e.g. the float32 copy of ``X`` or a block of rows.

        Parameters
        ----------
        X : ndarray or CSR of shape (m, n_features)
        y : ndarray of shape (m,), integer
        sample_weight : ndarray of shape (m,) or (0,) or None
        penalty : penalty object or None
            None: this loss's penalty (the same ``S``, not the new data's weight sum).

        Returns
        -------
        loss : SoftmaxLoss
        """
        if sample_weight is not None and sample_weight.shape[0] == 0:
            sample_weight = None
        return SoftmaxLoss(
            X,
            y,
            self.layout.n_classes,
            sample_weight,
            fit_intercept=self.layout.fit_intercept,
            penalty=self.penalty if penalty is None else penalty,
            small_max_work=self._small_max_work,
        )

    def with_penalty(self, penalty):
        """The same loss (same data, no copy) with another penalty.

        Parameters
        ----------
        penalty : penalty object

        Returns
        -------
        loss : SoftmaxLoss
            A new loss object sharing ``X``, ``y`` and the weights with this one.
        """
        loss = self.with_data(self.X, self.y, self.sample_weight, penalty)
        loss._data_sums = self._data_sums  # the same data
        return loss

    def minibatch_data(self):
        """The data SGD steps on, as one bundle (:class:`MinibatchData`)."""
        return MinibatchData(
            X=self.X, y=self.y, sample_weight=self.sample_weight, sparse=self.sparse
        )

    def _full_buffers(self):
        if self._full is None:
            n, d = self.X.shape
            K = self.layout.K
            if self.sparse:
                self._full = csr_full_buffers(n, K, d, self.X.dtype)
            else:
                self._full = dense_full_buffers(n, K, d, self.X.dtype, self._block_size)
        return self._full

    @property
    def n_chunks(self):
        """Number of gradient accumulators of a full evaluation (a function of the shape)."""
        return self._full_buffers().acc_b.shape[0]

    # -- shorthands for the layout -----------------------------------------------------
    @property
    def n_params(self):
        """Length of the flat ``coef`` (:attr:`CoefLayout.n_params`)."""
        return self.layout.n_params

    @property
    def coef_shape(self):
        """:attr:`CoefLayout.coef_shape`."""
        return self.layout.coef_shape

    def weight_intercept(self, coef):
        """:meth:`CoefLayout.weight_intercept`: views ``W`` (K, n_features), ``b`` (K,)."""
        return self.layout.weight_intercept(coef)

    def pack(self, W, b=None):
        """:meth:`CoefLayout.pack`: the flat float64 ``coef`` of ``W`` and ``b``."""
        return self.layout.pack(W, b)

    @property
    def penalty_mask(self):
        """:attr:`CoefLayout.penalty_mask`: the penalised entries of ``coef``."""
        return self.layout.penalty_mask

    # -- the whole objective -----------------------------------------------------------
    def objective(self, coef):
        """The whole objective ``f`` at ``coef``: smooth part plus the L1 term."""
        W, _ = self.weight_intercept(coef)
        return self.loss_gradient(coef)[0] + self.penalty.l1_value(W)

    def min_norm_subgradient(self, coef, grad):
        """The least-norm subgradient of the objective at ``coef``
        (:meth:`ElasticNet.min_norm_subgradient`), from the smooth part's ``grad``.

        Parameters
        ----------
        coef, grad : ndarray of shape (n_params,)

        Returns
        -------
        subgrad : ndarray of shape (n_params,), float64
        """
        return self.penalty.min_norm_subgradient(coef, grad, self.penalty_mask)

    def gradient_at_zero_weights(self):
        """``G``, the gradient of the mean cross-entropy with respect to the weights at
        zero weights, the intercepts at their optimum (the class shares' logits; without
        an intercept, equal logits): what :meth:`ElasticNet.critical_C` needs.

        Returns
        -------
        G : ndarray of shape (K, n_features), float64
        """
        lay = self.layout
        n = self.X.shape[0]
        s = self.sample_weight if self.sample_weight.shape[0] else np.ones(n)
        Y = np.zeros((n, lay.n_classes))
        Y[np.arange(n), self.y] = 1.0
        if lay.fit_intercept:
            shares = (s @ Y) / self.sw_sum
        else:
            shares = np.full(lay.n_classes, 1.0 / lay.n_classes)
        R = (shares - Y) * s[:, None]
        if lay.binary:
            R = R[:, 1:]
        return np.asarray(self.X.T @ R, dtype=np.float64).T / self.sw_sum

    def curvature_diagonal(self):
        """An estimate of the objective's Hessian diagonal, for L-BFGS's scaling.

        ``h[k, j] = c_k * m_j + l2 * f_j`` for the weights and ``c_k`` for the
        intercepts, where ``m_j`` is the weighted mean of ``x_ij^2``, ``f_j`` the penalty
        factor, and ``c_k = pi_k (1 - pi_k)`` with ``pi_k`` the weighted share of the
        class of row ``k`` of ``W``: the exact diagonal at zero weights with the
        intercepts at the class shares' logits, where a fit starts (and, without an
        intercept, a fixed approximation).  It costs one pass over ``X`` on first use and
        is shared by :meth:`with_penalty`'s losses.

        Returns
        -------
        h : ndarray of shape (n_params,), float64, or None
            Non-negative, in the layout of ``coef``; None when the sample weights sum
            to zero.
        """
        return curvature_diagonal(self._curvature_sums(), self.layout, self.penalty)

    def _curvature_sums(self):
        """:func:`curvature_sums` of this data (one pass over ``X``, on first use)."""
        sums = self._data_sums
        if "curvature_sums" not in sums:
            sums["curvature_sums"] = curvature_sums(
                self.X, self.y, self.sample_weight, self.layout.n_classes
            )
        return sums["curvature_sums"]

    def curvature_kronecker(self):
        """A Kronecker-factored estimate of the objective's Hessian, for L-BFGS's
        preconditioner (:class:`KroneckerCurvature`).

        The multinomial Hessian at the fit's start (zero weights, intercepts at the class
        shares' logits) is ``(diag(pi) - pi pi^T) (x) S_all`` plus the penalty; the
        estimate keeps the diagonal of the class factor (``c_k``) and takes the columns'
        correlations from evenly spaced rows (:func:`kronecker_rows`), their scales from
        all rows (:func:`kronecker_curvature`), so that it captures how the columns scale
        and correlate (pixels, an uncentred intercept).  Its sums are made on first use
        (a pass over ``X`` and the sample's product) and shared by :meth:`with_penalty`'s
        losses.

        Returns
        -------
        curvature : KroneckerCurvature or None
            None for CSR ``X``, where :func:`kronecker_rows` refuses (too many columns,
            too few rows for the cost), or sample weights that sum to zero.
        """
        lay = self.layout
        rows = None if self.sparse else kronecker_rows(self.X.shape[0], lay)
        if rows is None:
            return None
        sums = self._data_sums
        if "second_moment" not in sums:
            sums["second_moment"] = second_moment(
                self.X, self.sample_weight, lay.fit_intercept, rows
            )
        S = sums["second_moment"]
        return kronecker_curvature(self._curvature_sums(), S, lay, self.penalty)

    def hessian_product(self, coef, free, max_rows=None):
        """Hessian-vector products of the smooth part at ``coef``, in a subspace.

        Used by the Newton steps of :func:`sk_softmax._solvers.minimize_owlqn` once the
        model's support has settled: the subspace is the coordinates ``free`` (non-zero
        weights and intercepts), so only the columns of ``X`` with a free weight are
        read, and the coordinates outside ``free`` must be 0 in ``coef``.  Computed with
        NumPy / BLAS in float64 (a copy of those columns is taken once per call of this
        method), not with the fused kernels.

        With ``U = X_S @ V_S.T + v_b`` the logits' change along ``v``, the multinomial
        Hessian acts as ``R = s * (P * U - P * rowsum(P * U)) / S`` in logit space
        (for the binary model ``s * p (1 - p) u / S``), and ``H v = [R.T @ X_S, R.sum(0)]
        + l2 * v_W``.

        Parameters
        ----------
        coef : ndarray of shape (n_params,)
        free : ndarray of shape (n_params,), bool
        max_rows : int or None
            Use an evenly strided subsample of at most this many rows (a subsampled
            Hessian: Byrd, Chin, Neveitt and Nocedal, SIAM J. Optim. 2011;
            :func:`hessian_rows`), scaled to estimate the mean over all rows; None: all
            rows.

        Returns
        -------
        hessp : callable
            ``hessp(v) -> ndarray of shape (n_params,)`` (zero outside ``free``).
        """
        lay = self.layout
        free2 = np.asarray(free).reshape(lay.coef_shape)
        feats = np.flatnonzero(free2[:, : lay.n_features].any(axis=0))
        rows, step = hessian_rows(self.X.shape[0], max_rows)
        XS = self.X[rows][:, feats] if step > 1 else self.X[:, feats]
        XS = XS.astype(np.float64) if self.sparse else np.asarray(XS, dtype=np.float64)
        W, b = lay.weight_intercept(coef)
        Z = np.asarray(XS @ np.asarray(W, dtype=np.float64)[:, feats].T) + b
        if lay.binary:
            P = 1.0 / (1.0 + np.exp(-Z))
        else:
            Z -= Z.max(axis=1, keepdims=True)
            P = np.exp(Z)
            P /= P.sum(axis=1, keepdims=True)
        if self.sample_weight.shape[0] == 0:
            scale = np.full(rows.shape[0], 1.0 / rows.shape[0])[:, None]
        else:
            sw = self.sample_weight[rows]
            total = float(sw.sum())
            scale = (sw / total if total > 0 else np.zeros_like(sw))[:, None]
        return _HessianProduct(lay, self.penalty, XS, feats, free2, P, scale)

    # -- evaluation ----------------------------------------------------------------
    def loss_gradient(self, coef, rows=None):
        """Objective and its gradient at ``coef``, on all rows or on a minibatch.

        Parameters
        ----------
        coef : ndarray of shape (n_params,)
            Flat coefficients in the layout of :mod:`sk_softmax._layout`.
        rows : ndarray of shape (m,), integer, or None
            A minibatch (repeats allowed): the objective is then
            ``(1 / S_B) sum_{i in rows} s_i CE_i + penalty``, the batch's weighted mean
            cross-entropy (0 when its weight ``S_B`` is 0) plus the full objective's
            penalty, an unbiased estimate of ``f`` for uniformly drawn batches.
            ``None``: all rows.

        Returns
        -------
        loss : float
            The smooth part of the scaled objective ``f`` (cross-entropy and L2 term;
            all of ``f`` without an L1 term).
        grad : ndarray of shape (n_params,), float64
            Its gradient, in the same layout as ``coef``.
        """
        W, b = self.weight_intercept(coef)
        if rows is not None:
            return self._batch_loss_gradient(W, b, np.ascontiguousarray(rows, dtype=np.intp))
        inv = 1.0 / self.sw_sum
        grad = np.empty(self.coef_shape, dtype=np.float64)
        Wf = np.asarray(W, dtype=np.float64)
        if self.small:
            loss_sum = _small.small_loss_grad(
                self.X,
                self.y,
                self.sample_weight,
                Wf,
                np.asarray(b, dtype=np.float64),
                self.layout.binary,
                self._gW,
                self._gb,
            )
            self._finish(grad, Wf, inv)
        elif self.sparse:
            loss_sum = self._csr_full(W, b, Wf, inv, grad)
        else:
            loss_sum = self._dense_full(W, b)
            self._finish(grad, Wf, inv)
        return self.penalty.add_smooth(loss_sum * inv, Wf), grad.ravel()

    def _dense_full(self, W, b):
        """The dense kernel over all rows; the unscaled sums land in ``_gW``, ``_gb``."""
        self._b[...] = b
        self._W[...] = W
        lay = self.layout
        _kernels.dense_loss_grad(
            self.X,
            self.y,
            self.sample_weight,
            self._W,
            self._b,
            lay.binary,
            self._block_size,
            self._full_buffers(),
            use_parallel(self.X.shape[0] * lay.n_features * lay.K),
        )
        buf = self._full
        return _kernels.reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, self._gW, self._gb)

    def _csr_full(self, W, b, Wf, inv, grad):
        """The CSR kernel over all rows: it reads ``W.T`` (n_features, K); the chunks are
        reduced, transposed, scaled and penalised straight into the gradient."""
        self._b[...] = b
        self._W[...] = W.T
        X, lay = self.X, self.layout
        buf = self._full_buffers()
        parallel = use_parallel(X.nnz * lay.K)
        _kernels.csr_loss_grad(
            X.data,
            X.indices,
            X.indptr,
            self.y,
            self.sample_weight,
            self._W,
            self._b,
            lay.binary,
            buf,
            parallel,
        )
        loss_sum = _kernels.csr_grad_finish(
            buf.acc_WT,
            buf.acc_b,
            buf.acc_loss,
            Wf,
            self.penalty.kernel_l2,
            inv,
            grad[:, : lay.n_features],
            self._gb,
            parallel,
        )
        if self.penalty.factor is not None:  # per-feature L2: not the kernel's l2 * W
            self.penalty.add_smooth_gradient(grad[:, : lay.n_features], Wf)
        if lay.fit_intercept:
            grad[:, -1] = self._gb
        return loss_sum

    def _finish(self, grad, Wf, inv):
        d = self.layout.n_features
        grad[:, :d] = self._gW * inv
        self.penalty.add_smooth_gradient(grad[:, :d], Wf)
        if self.layout.fit_intercept:
            grad[:, -1] = self._gb * inv

    def _batch_loss_gradient(self, W, b, rows):
        Wf = np.asarray(W, dtype=np.float64)
        S_B = (
            float(rows.shape[0])
            if self.sample_weight.shape[0] == 0
            else float(self.sample_weight[rows].sum())
        )
        inv = 1.0 / S_B if S_B > 0 else 0.0
        grad = np.empty(self.coef_shape, dtype=np.float64)
        if rows.shape[0] == 0:
            self._gW[...] = 0.0
            self._gb[...] = 0.0
            loss_sum = 0.0
        elif self.small:
            loss_sum = self._small_batch(Wf, b, rows)
        elif self.sparse:
            loss_sum = self._csr_batch(W, b, Wf, rows)
        else:
            loss_sum = self._dense_batch(W, b, rows)
        self._finish(grad, Wf, inv)
        return self.penalty.add_smooth(loss_sum * inv, Wf), grad.ravel()

    def _small_batch(self, Wf, b, rows):
        """The NumPy evaluation on the batch's rows (gathered: a few rows of a small
        problem); the unscaled sums land in ``_gW``, ``_gb``."""
        sw = self.sample_weight
        return _small.small_loss_grad(
            self.X[rows],
            self.y[rows],
            sw[rows] if sw.shape[0] else sw,
            Wf,
            np.asarray(b, dtype=np.float64),
            self.layout.binary,
            self._gW,
            self._gb,
        )

    def _csr_batch(self, W, b, Wf, rows):
        # a minibatch of CSR rows is small: evaluate the sub-matrix with its own buffers
        lay = self.layout
        Xb = self.X[rows]
        sub = SoftmaxLoss(
            Xb,
            self.y[rows],
            lay.n_classes,
            None if self.sample_weight.shape[0] == 0 else self.sample_weight[rows],
            C=np.inf,
            fit_intercept=lay.fit_intercept,
        )
        buf = sub._full_buffers()
        sub._W[...] = W.T
        sub._b[...] = b
        parallel = use_parallel(Xb.nnz * lay.K)
        _kernels.csr_loss_grad(
            Xb.data,
            Xb.indices,
            Xb.indptr,
            sub.y,
            sub.sample_weight,
            sub._W,
            sub._b,
            lay.binary,
            buf,
            parallel,
        )
        return _kernels.csr_grad_finish(
            buf.acc_WT, buf.acc_b, buf.acc_loss, Wf, 0.0, 1.0, self._gW, self._gb, parallel
        )

    def _dense_batch(self, W, b, rows):
        lay = self.layout
        m = rows.shape[0]
        # buffers for exactly m rows: the chunk count, and so the sums' order, is a
        # function of the batch alone
        if self._batch is None or self._batch.Z.shape[0] != m:
            self._batch = dense_batch_buffers(m, lay.K, lay.n_features, self.X.dtype)
        self._W[...] = W
        self._b[...] = b
        buf = self._batch
        _kernels.dense_batch_grad(
            self.X,
            self.y,
            self.sample_weight,
            rows,
            self._W,
            self._b,
            lay.binary,
            buf,
            use_parallel(m * lay.n_features * lay.K),
        )
        return _kernels.reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, self._gW, self._gb)

    def loss(self, coef):
        """The smooth part of the objective at ``coef`` (see :meth:`loss_gradient`)."""
        return self.loss_gradient(coef)[0]


class _HessianProduct:
    """``v -> H v`` of :meth:`SoftmaxLoss.hessian_product` (its data computed once)."""

    def __init__(self, layout, penalty, XS, feats, free2, P, scale):
        self.layout, self.penalty = layout, penalty
        self.XS, self.feats, self.free2, self.P, self.scale = XS, feats, free2, P, scale

    def __call__(self, v):
        lay, feats, P = self.layout, self.feats, self.P
        d = lay.n_features
        V = np.where(self.free2, np.asarray(v).reshape(lay.coef_shape), 0.0)
        U = np.asarray(self.XS @ V[:, feats].T)
        if lay.fit_intercept:
            U = U + V[:, -1]
        if lay.binary:
            R = P * (1.0 - P) * U
        else:
            PU = P * U
            R = PU - P * PU.sum(axis=1, keepdims=True)
        R *= self.scale
        out = np.zeros(lay.coef_shape)
        out[:, feats] = np.asarray(self.XS.T @ R).T
        if lay.fit_intercept:
            out[:, -1] = R.sum(axis=0)
        self.penalty.add_smooth_gradient(out[:, :d], V[:, :d])
        out[~self.free2] = 0.0
        return out.ravel()
