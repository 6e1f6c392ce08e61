"""The loss object: coefficient layout, penalty, scaling, buffers, kernel dispatch.

It computes objectives and gradients, on all the rows or on a minibatch given by row
indices, and nothing else: solvers own their state (SGD's scaled weights, averages and
schedules live in :mod:`sk_softmax._solvers._sgd`), and the caller owns the threads
(:func:`sk_softmax._threading.kernel_threads`, entered once per estimator call).
An L-BFGS solver sees only :meth:`SoftmaxLoss.loss_gradient` and the layout helpers; it
does not know whether the model is binary or multinomial, nor how the kernels are laid
out.

Objective
---------
With sample weights ``s_i`` (class weights already folded in), ``S = sum_i s_i`` and
``P = softmax(X @ W.T + b)``, the objective is scaled exactly as scikit-learn scales
``LogisticRegression``'s (``LinearModelLoss`` with ``l2_reg_strength = 1 / (C S)``)::

    f(W, b) = (1 / S) * sum_i s_i * -log P[i, y_i]  +  ||W||_F^2 / (2 C S)

so that ``tol`` (scipy's ``gtol``) means what it means for ``LogisticRegression``.  The
intercept is not penalised and ``C = inf`` means no penalty.  Multiplying ``f`` by ``S``
gives the "sum form" ``sum_i s_i * -log P[i, y_i] + ||W||^2 / (2 C)``.

Coefficient layout
------------------
The solver works on one flat float64 vector ``coef``:

* multinomial (``n_classes >= 3``): ``coef.reshape(n_classes, n_features + fit_intercept)``
  in C order, row ``k`` being ``[W_k, b_k]`` (``b_k`` present only with an intercept);
* binary (``n_classes == 2``): ``coef`` of shape ``(n_features + fit_intercept,)`` is
  ``[w, b]``, the logit of class 1 is ``x @ w + b`` and that of class 0 is fixed at 0.
  This is the sigmoid model of ``LogisticRegression`` with the same objective, and it is
  what ``softmax([0, z])`` computes, so the kernels treat it as a softmax with an
  implicit zero logit (``ref_zero``) and ``K = 1`` stored row.

In both cases the kernels see ``W`` of shape ``(K, n_features)`` and ``b`` of shape
``(K,)`` with ``K = n_classes - (n_classes == 2)``.
"""

import copy

import numpy as np
import scipy.sparse as sp

from . import _kernels
from ._kernels import (
    BATCH_BLOCK_SIZE,
    _small,
    csr_full_buffers,
    dense_batch_buffers,
    dense_block_size,
    dense_full_buffers,
)
from ._threading import use_parallel

__all__ = ["MIXED_MAX_COPY_BYTES", "SoftmaxLoss", "min_norm_subgradient"]

#: Largest float32 copy of a float64 ``X`` that :meth:`SoftmaxLoss.float32_twin` makes
#: (half of X's bytes): MNIST's 60000 x 784 float64 training set (188 MB of copy) is
#: below it; larger data is evaluated in float64 only, so that its memory stays X plus
#: the (n_samples, K) buffer.
MIXED_MAX_COPY_BYTES = 256 * 2**20


class SoftmaxLoss:
    """Softmax (or, for two classes, sigmoid) cross-entropy with an elastic-net penalty.

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

    Attributes
    ----------
    n_params : int
        Length of the flat coefficient vector.
    K : int
        Stored rows of ``W``: ``n_classes``, or 1 for the binary model.
    binary : bool
        Whether the model is the binary (sigmoid) one.
    sample_weight : ndarray of shape (n_samples,) or (0,), float64
        The weights as the kernels take them (empty: all ones).
    sw_sum : float
        Sum of the sample weights (``n_samples`` without weights).
    l2_reg_strength : float
        ``(1 - r) / (C S)``, 0 for ``C = inf``: the smooth penalty is
        ``l2_reg_strength / 2 ||W||^2``.
    l1_reg_strength : float
        ``r / (C S)``, 0 for ``C = inf``: the L1 term is ``l1_reg_strength ||W||_1``.
    small : bool
        Whether full-batch evaluations run with NumPy
        (:func:`sk_softmax._kernels.small_loss_grad`: fewer than ``SMALL_MAX_WORK``
        multiply-adds, where numba's start would cost more than the whole fit); they
        then import no numba.  Minibatch evaluations always run the kernels.

    Notes
    -----
    The kernels run with the numba threads and BLAS limits of the caller's
    :func:`~sk_softmax._threading.kernel_threads` block.
    """

    def __init__(self, X, y, n_classes, sample_weight=None, *, C=1.0, fit_intercept=True,
                 l1_ratio=0.0, penalty_weight_sum=None):
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}.")
        self.X = X
        self.y = y
        self.n_classes = n_classes
        self.C = C
        self.fit_intercept = fit_intercept
        self.l1_ratio = float(l1_ratio)
        self.binary = n_classes == 2
        n_samples, n_features = X.shape
        self.n_features = n_features
        self.sparse = sp.issparse(X)
        if self.sparse and X.format != "csr":
            raise ValueError(f"Sparse X must be CSR, got {X.format!r}.")
        self.K = n_classes - 1 if self.binary else n_classes
        self.n_params = self.K * (n_features + fit_intercept)
        # rows per block of the dense kernel: a function of the shape (docs/design.md)
        self._block_size = dense_block_size(n_features, self.K)
        work = (X.nnz if self.sparse else n_samples * n_features) * self.K
        self.small = work < _small.SMALL_MAX_WORK

        if sample_weight is None:
            self.sample_weight = np.empty(0, dtype=np.float64)
            self.sw_sum = float(n_samples)
        else:
            self.sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
            self.sw_sum = float(self.sample_weight.sum())
        self._set_penalty(penalty_weight_sum)

        K = self.K
        # dense kernels read W (K, n_features); sparse ones W.T (n_features, K)
        self._W = np.zeros((n_features, K) if self.sparse else (K, n_features), dtype=X.dtype)
        self._b = np.zeros(K, dtype=X.dtype)
        self._gW = np.empty((K, n_features), dtype=np.float64)
        self._gb = np.empty(K, dtype=np.float64)
        # Work buffers, allocated on first use and kept: an evaluation allocates nothing
        # of size n_samples (only the returned gradient, of size n_params).
        self._full = None
        self._batch = None

    def _set_penalty(self, penalty_weight_sum):
        S = self.sw_sum if penalty_weight_sum is None else float(penalty_weight_sum)
        self.penalty_weight_sum = S
        r = self.l1_ratio
        if np.isinf(self.C):
            self.l2_reg_strength = self.l1_reg_strength = 0.0
        elif r == 0.0:
            # exactly the expression of the L2-only model (bit for bit)
            self.l2_reg_strength, self.l1_reg_strength = 1.0 / (self.C * S), 0.0
        else:
            self.l2_reg_strength = (1.0 - r) / (self.C * S)
            self.l1_reg_strength = r / (self.C * S)

    def with_penalty_weight_sum(self, penalty_weight_sum):
        """The same loss (same data, no copy) with ``S`` of the penalty replaced.

        Parameters
        ----------
        penalty_weight_sum : float
            The new ``S`` in ``||W||^2 / (2 C S)``.

        Returns
        -------
        loss : SoftmaxLoss
            A new loss object sharing ``X``, ``y`` and the weights with this one.
        """
        other = copy.copy(self)
        other._set_penalty(penalty_weight_sum)
        other._W, other._b = self._W.copy(), self._b.copy()
        other._gW, other._gb = self._gW.copy(), self._gb.copy()
        other._full = other._batch = None
        return other

    def float32_twin(self, X32=None):
        """The same objective evaluated on a float32 copy of ``X``, or None.

        The first stage of a mixed-precision L-BFGS solve
        (:func:`sk_softmax._solvers.minimize_lbfgs` with ``coarse_loss``) runs on it:
        its evaluations read half the bytes and run float32 products and exponentials
        (0.63x of a float64 evaluation on 4000 MNIST rows, docs/design.md), while the
        row sums, the accumulation over blocks, the penalty and the returned gradient
        stay in float64.  Same labels, weights, ``C``, ``l1_ratio`` and penalty
        scale ``S``.

        Parameters
        ----------
        X32 : ndarray of shape (n_samples, n_features), float32, or None
            A float32 copy of ``X`` made earlier (a path over values of C reuses one);
            None: make it here.

        Returns
        -------
        twin : SoftmaxLoss or None
            None where a float32 stage does not pay or is not safe: sparse or float32
            ``X``, a problem evaluated with NumPy (:attr:`small`), a copy larger than
            :data:`MIXED_MAX_COPY_BYTES`, values beyond float32's range, or an L1 term
            (whose solver, :func:`sk_softmax._solvers.minimize_l1`, runs in float64).
        """
        X = self.X
        if (self.sparse or X.dtype != np.float64 or self.small or self.l1_reg_strength > 0
                or X.size * 4 > MIXED_MAX_COPY_BYTES):
            return None
        if X32 is None:
            with np.errstate(over="ignore"):
                X32 = np.asarray(X, dtype=np.float32, order="C")
            # |x| > 3.4e38 became inf: such data is evaluated in float64 only (max and
            # min rather than isfinite(X32).all(), which would allocate n * d bools)
            if not (np.isfinite(X32.max()) and np.isfinite(X32.min())):
                return None
        return SoftmaxLoss(X32, self.y, self.n_classes,
                           None if self.sample_weight.shape[0] == 0 else self.sample_weight,
                           C=self.C, fit_intercept=self.fit_intercept,
                           l1_ratio=self.l1_ratio,
                           penalty_weight_sum=self.penalty_weight_sum)

    def _full_buffers(self):
        if self._full is None:
            n, d = self.X.shape
            if self.sparse:
                self._full = csr_full_buffers(n, self.K, d, self.X.dtype)
            else:
                self._full = dense_full_buffers(n, self.K, d, self.X.dtype, self._block_size)
        return self._full

    @property
    def n_chunks(self):
        """Number of gradient accumulators of a full evaluation (a function of the shape)."""
        return self._full_buffers().acc_b.shape[0]

    # -- layout --------------------------------------------------------------------
    @property
    def coef_shape(self):
        """Shape of the 2-D view of ``coef``: ``(K, n_features + fit_intercept)``."""
        return (self.K, self.n_features + self.fit_intercept)

    def weight_intercept(self, coef):
        """Split a flat ``coef`` into views ``W`` (K, n_features) and ``b`` (K,).

        ``b`` is a zero array when there is no intercept.
        """
        coef2 = np.asarray(coef).reshape(self.coef_shape)
        W = coef2[:, : self.n_features]
        if self.fit_intercept:
            b = coef2[:, -1]
        else:
            b = np.zeros(self.K, dtype=coef2.dtype)
        return W, b

    def pack(self, W, b=None):
        """Flat float64 ``coef`` from ``W`` (K, n_features) and ``b`` (K,); inverse of
        :meth:`weight_intercept`."""
        coef2 = np.zeros(self.coef_shape, dtype=np.float64)
        coef2[:, : self.n_features] = W
        if self.fit_intercept and b is not None:
            coef2[:, -1] = b
        return coef2.ravel()

    @property
    def penalty_mask(self):
        """Which entries of the flat ``coef`` are penalised (the weights, not the
        intercepts): bool ndarray of shape (n_params,)."""
        mask = np.ones(self.coef_shape, dtype=bool)
        if self.fit_intercept:
            mask[:, -1] = False
        return mask.ravel()

    # -- the L1 term -----------------------------------------------------------------
    def l1_penalty(self, coef):
        """``l1_reg_strength * ||W||_1`` at ``coef`` (0 without an L1 term)."""
        if self.l1_reg_strength == 0.0:
            return 0.0
        W, _ = self.weight_intercept(coef)
        return self.l1_reg_strength * float(np.abs(W).sum())

    def objective(self, coef):
        """The whole objective ``f`` at ``coef``: smooth part plus the L1 term."""
        return self.loss_gradient(coef)[0] + self.l1_penalty(coef)

    def min_norm_subgradient(self, coef, grad):
        """The element of least norm of the objective's subdifferential at ``coef``.

        For a weight ``w`` with smooth gradient ``g`` and ``l1 = l1_reg_strength`` it is
        ``g + l1 * sign(w)`` when ``w != 0`` and ``sign(g) * max(|g| - l1, 0)`` when
        ``w == 0``; for an intercept it is ``g``.  It is zero exactly at the optimum, and
        its max-norm is the stopping test of every full-batch solver (for ``l1 = 0`` it
        is the gradient, the test of L-BFGS).

        Parameters
        ----------
        coef : ndarray of shape (n_params,)
        grad : ndarray of shape (n_params,)
            The smooth part's gradient at ``coef`` (:meth:`loss_gradient`).

        Returns
        -------
        subgrad : ndarray of shape (n_params,), float64
        """
        return min_norm_subgradient(coef, grad, self.l1_reg_strength, self.penalty_mask)

    def hessian_product(self, coef, free, max_rows=None):
        """Hessian-vector products of the smooth part at ``coef``, in a subspace.

        Used by the Newton steps of :func:`sk_softmax._solvers._owlqn.minimize_owlqn`
        once the model's support has settled: the subspace is the coordinates ``free``
        (non-zero weights and intercepts), so only the columns of ``X`` with a free
        weight are read, and the coordinates outside ``free`` must be 0 in ``coef``.
        Computed with NumPy / BLAS in float64 (a copy of those columns is taken once
        per call of this method), not with the fused kernels.

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
            Hessian: Byrd, Chin, Neveitt and Nocedal, SIAM J. Optim. 2011), scaled to
            estimate the mean over all rows; None: all rows.

        Returns
        -------
        hessp : callable
            ``hessp(v) -> ndarray of shape (n_params,)`` (zero outside ``free``).
        """
        d = self.n_features
        free2 = np.asarray(free).reshape(self.coef_shape)
        feats = np.flatnonzero(free2[:, :d].any(axis=0))
        n = self.X.shape[0]
        step = 1 if max_rows is None or n <= max_rows else -(-n // max_rows)
        rows = np.arange(0, n, step)
        XS = self.X[rows][:, feats] if step > 1 else self.X[:, feats]
        XS = XS.astype(np.float64) if self.sparse else np.asarray(XS, dtype=np.float64)
        W, b = self.weight_intercept(coef)
        Z = np.asarray(XS @ np.asarray(W, dtype=np.float64)[:, feats].T) + b
        if self.binary:
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
        l2 = self.l2_reg_strength

        def hessp(v):
            V = np.where(free2, np.asarray(v).reshape(self.coef_shape), 0.0)
            U = np.asarray(XS @ V[:, feats].T)
            if self.fit_intercept:
                U = U + V[:, -1]
            if self.binary:
                R = P * (1.0 - P) * U
            else:
                PU = P * U
                R = PU - P * PU.sum(axis=1, keepdims=True)
            R *= scale
            out = np.zeros(self.coef_shape)
            out[:, feats] = np.asarray(XS.T @ R).T
            if self.fit_intercept:
                out[:, -1] = R.sum(axis=0)
            if l2 > 0.0:
                out[:, :d] += l2 * V[:, :d]
            out[~free2] = 0.0
            return out.ravel()

        return hessp

    # -- evaluation ----------------------------------------------------------------
    def loss_gradient(self, coef, rows=None):
        """Objective and its gradient at ``coef``, on all rows or on a minibatch.

        Parameters
        ----------
        coef : ndarray of shape (n_params,)
            Flat coefficients in the layout described in the module docstring.
        rows : ndarray of shape (m,), integer, or None
            A minibatch (repeats allowed): the objective is then
            ``(1 / S_B) sum_{i in rows} s_i CE_i + ||W||^2 / (2 C S)``, the batch's
            weighted mean cross-entropy (0 when its weight ``S_B`` is 0) plus the full
            objective's penalty, an unbiased estimate of ``f`` for uniformly drawn
            batches.  ``None``: all rows.

        Returns
        -------
        loss : float
            The smooth part of the scaled objective ``f`` (cross-entropy and L2 term;
            all of ``f`` when ``l1_ratio`` is 0, see module docstring).
        grad : ndarray of shape (n_params,), float64
            Its gradient, in the same layout as ``coef``.
        """
        W, b = self.weight_intercept(coef)
        if rows is not None:
            return self._batch_loss_gradient(W, b, np.ascontiguousarray(rows, dtype=np.intp))
        inv = 1.0 / self.sw_sum
        l2 = self.l2_reg_strength
        grad = np.empty(self.coef_shape, dtype=np.float64)
        Wf = np.asarray(W, dtype=np.float64)
        if self.small:
            loss_sum = _small.small_loss_grad(self.X, self.y, self.sample_weight, Wf,
                                       np.asarray(b, dtype=np.float64), self.binary,
                                       self._gW, self._gb)
            self._finish(grad, Wf, inv, l2)
            return self._add_penalty(loss_sum * inv, Wf, l2), grad.ravel()
        self._b[...] = b
        buf = self._full_buffers()
        if self.sparse:
            # the kernel reads W.T (n_features, K); the chunks are reduced, transposed,
            # scaled and penalised straight into the flat gradient
            self._W[...] = W.T
            X = self.X
            parallel = use_parallel(X.nnz * self.K)
            _kernels.csr_loss_grad(X.data, X.indices, X.indptr, self.y, self.sample_weight, self._W,
                          self._b, self.binary, buf, parallel)
            loss_sum = _kernels.csr_grad_finish(buf.acc_WT, buf.acc_b, buf.acc_loss, Wf, l2, inv,
                                       grad[:, : self.n_features], self._gb, parallel)
            if self.fit_intercept:
                grad[:, -1] = self._gb
        else:
            self._W[...] = W
            _kernels.dense_loss_grad(self.X, self.y, self.sample_weight, self._W, self._b,
                            self.binary, self._block_size, buf,
                            use_parallel(self.X.shape[0] * self.n_features * self.K))
            loss_sum = _kernels.reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, self._gW,
                                              self._gb)
            self._finish(grad, Wf, inv, l2)
        return self._add_penalty(loss_sum * inv, Wf, l2), grad.ravel()

    def _finish(self, grad, Wf, inv, l2):
        grad[:, : self.n_features] = self._gW * inv
        if l2 > 0.0:
            grad[:, : self.n_features] += l2 * Wf
        if self.fit_intercept:
            grad[:, -1] = self._gb * inv

    @staticmethod
    def _add_penalty(loss, Wf, l2):
        if l2 > 0.0:
            loss += 0.5 * l2 * float(np.vdot(Wf, Wf))
        return loss

    def _batch_loss_gradient(self, W, b, rows):
        Wf = np.asarray(W, dtype=np.float64)
        l2 = self.l2_reg_strength
        S_B = (float(rows.shape[0]) if self.sample_weight.shape[0] == 0
               else float(self.sample_weight[rows].sum()))
        inv = 1.0 / S_B if S_B > 0 else 0.0
        grad = np.empty(self.coef_shape, dtype=np.float64)
        if rows.shape[0] == 0:
            self._gW[...] = 0.0
            self._gb[...] = 0.0
            loss_sum = 0.0
        elif self.sparse:
            # a minibatch of CSR rows is small: evaluate the sub-matrix with its own buffers
            Xb = self.X[rows]
            sub = SoftmaxLoss(Xb, self.y[rows], self.n_classes,
                              None if self.sample_weight.shape[0] == 0
                              else self.sample_weight[rows],
                              C=np.inf, fit_intercept=self.fit_intercept)
            buf = sub._full_buffers()
            sub._W[...] = W.T
            sub._b[...] = b
            parallel = use_parallel(Xb.nnz * self.K)
            _kernels.csr_loss_grad(Xb.data, Xb.indices, Xb.indptr, sub.y, sub.sample_weight, sub._W,
                          sub._b, self.binary, buf, parallel)
            loss_sum = _kernels.csr_grad_finish(buf.acc_WT, buf.acc_b, buf.acc_loss, Wf, 0.0, 1.0,
                                       self._gW, self._gb, parallel)
        else:
            m = rows.shape[0]
            # buffers for exactly m rows: the chunk count, and so the sums' order, is a
            # function of the batch alone
            if self._batch is None or self._batch.Z.shape[0] != m:
                self._batch = dense_batch_buffers(m, self.K, self.n_features, self.X.dtype)
            self._W[...] = W
            self._b[...] = b
            buf = self._batch
            _kernels.dense_batch_grad(self.X, self.y, self.sample_weight, rows, self._W, self._b,
                             self.binary, BATCH_BLOCK_SIZE, buf,
                             use_parallel(m * self.n_features * self.K))
            loss_sum = _kernels.reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, self._gW,
                                              self._gb)
        self._finish(grad, Wf, inv, l2)
        return self._add_penalty(loss_sum * inv, Wf, l2), grad.ravel()

    def loss(self, coef):
        """The smooth part of the objective at ``coef`` (see :meth:`loss_gradient`)."""
        return self.loss_gradient(coef)[0]


def min_norm_subgradient(coef, grad, l1, mask):
    """Least-norm subgradient of ``smooth + l1 * ||coef[mask]||_1``; see
    :meth:`SoftmaxLoss.min_norm_subgradient`.  All arrays of shape (n_params,)."""
    coef = np.asarray(coef, dtype=np.float64)
    out = np.array(grad, dtype=np.float64)
    if l1 == 0.0:
        return out
    g = out[mask]
    w = coef[mask]
    shrunk = np.sign(g) * np.maximum(np.abs(g) - l1, 0.0)
    out[mask] = np.where(w != 0.0, g + l1 * np.sign(w), shrunk)
    return out
