"""The loss object: coefficient layout, L2 penalty, scaling, buffers, kernel dispatch.

A solver sees only :meth:`SoftmaxLoss.loss_gradient` (and the layout helpers); it does
not know whether the model is binary or multinomial, nor how the kernels are laid out.

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

import numpy as np
import scipy.sparse as sp

from ._kernels import (
    csr_grad_finish,
    csr_loss_grad,
    csr_sgd_step,
    dense_loss_grad,
    dense_sgd_steps,
    reduce_chunks,
)
from ._threading import kernel_threads

__all__ = ["SoftmaxLoss"]

# Rows per block of the dense kernel: 128 rows kept the block's logits and gradient
# products in cache on MNIST-like widths in benchmarks/loss_eval.py (32 to 512 rows were
# within 10%); float32 and float64 alike.
_BLOCK_SIZE = 128
# Chunks of blocks, each with its own gradient accumulator (see _kernels/_dense.py). A
# constant, so that results do not depend on the thread count; it is only lowered when
# the accumulators would take more than _ACC_BUDGET bytes.
_MAX_CHUNKS = 32
# Rows per block inside a minibatch (SGD): small, so that a batch spreads over threads.
_BATCH_BLOCK_SIZE = 32
# Rows per accumulator chunk of the sparse kernel, and at most this many chunks: each
# chunk's (n_features, K) accumulator is zeroed and reduced on every evaluation, which on
# 100k x 50k text with 20 classes cost 18 ms of 79 with 16 chunks, 4.5 ms with 4.
_SPARSE_CHUNK_ROWS = 2048
_MAX_SPARSE_CHUNKS = 8
# The scatter into a chunk's accumulator is random access: all of them together should
# stay within a last-level cache next to the coefficients.  On 100k x 50k text with 20
# classes (8 MB per accumulator), scatter pass alone, 2 threads, interleaved: 2 chunks
# 77-86 ms, 4 chunks 84-97 ms (and 8 chunks slower still in earlier runs); the finishing
# reduction reads half as much with 2.  The logits/softmax pass keeps _MAX_SPARSE_CHUNKS.
_SPARSE_ACC_BUDGET = 16 * 2**20
# "All rows, in order" for the kernel's row list.
_ALL_ROWS = np.empty(0, dtype=np.intp)
_ACC_BUDGET = 128 * 2**20


class SoftmaxLoss:
    """Softmax (or, for two classes, sigmoid) cross-entropy with L2 penalty.

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
        Non-negative weights with a positive sum; ``None`` means all ones.
    C : float
        Inverse regularisation strength in ``(0, inf]``.
    fit_intercept : bool
        Whether the model has (unpenalised) intercepts.
    n_threads : int
        Threads used by the kernels.
    penalty_weight_sum : float or None
        ``S`` in the penalty ``||W||^2 / (2 C S)``; default: the sum of the sample weights
        of this data.  Streaming fits (``partial_fit``) pass the weight seen so far.

    Attributes
    ----------
    n_params : int
        Length of the flat coefficient vector.
    sw_sum : float
        Sum of the sample weights (``n_samples`` without weights).
    """

    def __init__(self, X, y, n_classes, sample_weight=None, *, C=1.0, fit_intercept=True,
                 n_threads=1, penalty_weight_sum=None):
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}.")
        self.X = X
        self.y = y
        self.n_classes = n_classes
        self.C = C
        self.fit_intercept = fit_intercept
        self.n_threads = n_threads
        self.binary = n_classes == 2
        n_samples, n_features = X.shape
        self.n_features = n_features
        self.sparse = sp.issparse(X)
        if self.sparse and X.format != "csr":
            raise ValueError(f"Sparse X must be CSR, got {X.format!r}.")
        self.K = n_classes - 1 if self.binary else n_classes
        self.n_params = self.K * (n_features + fit_intercept)

        if sample_weight is None:
            self.sample_weight = np.empty(0, dtype=np.float64)
            self.sw_sum = float(n_samples)
        else:
            self.sample_weight = np.ascontiguousarray(sample_weight, dtype=np.float64)
            self.sw_sum = float(self.sample_weight.sum())
        S = self.sw_sum if penalty_weight_sum is None else float(penalty_weight_sum)
        self.l2_reg_strength = 0.0 if np.isinf(C) else 1.0 / (C * S)

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
        self._sgd = None

    @staticmethod
    def _chunk_buffers(n_rows, block_size, K, n_features, dtype, gather=False):
        """``(Z, Xg, tmp, acc_W, acc_b, acc_loss)`` for ``dense_loss_grad`` on ``n_rows``
        (``Xg`` is empty unless the rows are gathered, as minibatches are)."""
        n_blocks = max(1, -(-n_rows // block_size))  # the chunk count depends on shape only
        per_chunk = K * n_features * (8 + dtype.itemsize) + 1
        n_chunks = int(max(1, min(_MAX_CHUNKS, n_blocks, _ACC_BUDGET // per_chunk)))
        return (
            np.empty((n_rows, K), dtype=dtype),
            np.empty((n_chunks, block_size, n_features) if gather else (0, 0, 0), dtype=dtype),
            np.empty((n_chunks, n_features, K), dtype=dtype),
            np.empty((n_chunks, K, n_features), dtype=np.float64),
            np.empty((n_chunks, K), dtype=np.float64),
            np.empty(n_chunks, dtype=np.float64),
        )

    @property
    def n_chunks(self):
        """Number of gradient accumulators of a full evaluation (a function of the shape)."""
        return self._full_buffers()[3].shape[0]

    def _full_buffers(self):
        if self._full is None:
            if self.sparse:
                self._full = self._sparse_buffers()
            else:
                self._full = self._chunk_buffers(self.X.shape[0], _BLOCK_SIZE, self.K,
                                                 self.n_features, self.X.dtype)
        return self._full

    def _sparse_buffers(self):
        """``(Z, None, None, acc_WT, acc_b, acc_loss)`` for ``csr_loss_grad``: one chunk
        per ``_SPARSE_CHUNK_ROWS`` rows, at most ``_MAX_SPARSE_CHUNKS``; the scatter's
        accumulators also within ``_SPARSE_ACC_BUDGET`` bytes together."""
        n, d, K = self.X.shape[0], self.n_features, self.K
        n_chunks = int(max(1, min(_MAX_SPARSE_CHUNKS, -(-n // _SPARSE_CHUNK_ROWS))))
        n_scatter = int(max(1, min(n_chunks, _SPARSE_ACC_BUDGET // (d * K * 8 + 1))))
        return (
            np.empty((n, K), dtype=self.X.dtype),
            None,
            None,
            np.empty((n_scatter, d, K), dtype=np.float64),
            np.empty((n_chunks, K), dtype=np.float64),
            np.empty(n_chunks, dtype=np.float64),
        )

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

    # -- evaluation ----------------------------------------------------------------
    def loss_gradient(self, coef):
        """Objective and its gradient at ``coef``.

        Parameters
        ----------
        coef : ndarray of shape (n_params,)
            Flat coefficients in the layout described in the module docstring.

        Returns
        -------
        loss : float
            The scaled objective ``f`` (see module docstring).
        grad : ndarray of shape (n_params,), float64
            Its gradient, in the same layout as ``coef``.
        """
        W, b = self.weight_intercept(coef)
        self._b[...] = b
        Z, Xg, tmp, acc_W, acc_b, acc_loss = self._full_buffers()
        inv = 1.0 / self.sw_sum
        l2 = self.l2_reg_strength
        if self.sparse:
            return self._sparse_loss_gradient(W, Z, acc_W, acc_b, acc_loss, inv, l2)
        self._W[...] = W
        with kernel_threads(self.n_threads):
            dense_loss_grad(self.X, self.y, self.sample_weight, _ALL_ROWS, self._W, self._b,
                            self.binary, _BLOCK_SIZE, Z, Xg, tmp, acc_W, acc_b, acc_loss)
        loss_sum = reduce_chunks(acc_W, acc_b, acc_loss, self._gW, self._gb)
        grad = np.empty(self.coef_shape, dtype=np.float64)
        grad[:, : self.n_features] = self._gW * inv
        if l2 > 0.0:
            grad[:, : self.n_features] += l2 * W
        if self.fit_intercept:
            grad[:, -1] = self._gb * inv
        loss = loss_sum * inv
        if l2 > 0.0:
            Wf = np.asarray(W, dtype=np.float64)
            loss += 0.5 * l2 * float(np.vdot(Wf, Wf))
        return loss, grad.ravel()

    def _sparse_loss_gradient(self, W, Z, acc_W, acc_b, acc_loss, inv, l2):
        # the kernel reads W.T (n_features, K); the chunks are reduced, transposed,
        # scaled and penalised straight into the flat gradient
        self._W[...] = W.T
        X = self.X
        grad = np.empty(self.coef_shape, dtype=np.float64)
        Wf = np.asarray(W, dtype=np.float64)
        with kernel_threads(self.n_threads):
            csr_loss_grad(X.data, X.indices, X.indptr, self.y, self.sample_weight, self._W,
                          self._b, self.binary, Z, acc_W, acc_b, acc_loss)
            loss_sum = csr_grad_finish(acc_W, acc_b, acc_loss, Wf, l2, inv,
                                       grad[:, : self.n_features], self._gb)
        if self.fit_intercept:
            grad[:, -1] = self._gb
        loss = loss_sum * inv
        if l2 > 0.0:
            loss += 0.5 * l2 * float(np.vdot(Wf, Wf))
        return loss, grad.ravel()

    def loss(self, coef):
        """The scaled objective at ``coef`` (see :meth:`loss_gradient`)."""
        return self.loss_gradient(coef)[0]

    # -- SGD ---------------------------------------------------------------------------
    def sgd_begin(self, W, b):
        """Start minibatch steps from ``W`` (K, n_features) and ``b`` (K,), float64.

        Dense data updates ``W`` and ``b`` in place.  Sparse data keeps the weights as
        ``scale * V`` (``V`` transposed, for row access by feature) so that the L2
        shrinkage of a step is one multiplication of ``scale`` and a step touches only
        the batch's non-zeros; :meth:`sgd_current` / :meth:`sgd_end` give ``W`` back.
        """
        if self.sparse:
            self._sgd = {"VT": np.ascontiguousarray(W.T, dtype=np.float64), "scale": 1.0,
                         "W": W, "b": b}
        else:
            self._sgd = {"W": W, "b": b, "gW": np.empty_like(W), "gb": np.empty_like(b)}

    def sgd_batch_weights(self, order, batch_size):
        """Weights ``S_q`` of the consecutive batches of ``order`` (what a schedule needs
        before the steps: a batch of weight 0 takes no step).

        Returns
        -------
        weights : ndarray of shape (ceil(len(order) / batch_size),), float64
        """
        starts = np.arange(0, order.shape[0], batch_size)
        if self.sample_weight.shape[0] == 0:
            return np.minimum(batch_size, order.shape[0] - starts).astype(np.float64)
        return np.add.reduceat(self.sample_weight[order], starts)

    def sgd_steps(self, order, batch_size, weights, etas, etas_intercept):
        """Minibatch steps over consecutive batches of ``order``.

        Batch ``q`` is ``order[q * batch_size:(q + 1) * batch_size]`` and its step is
        ``W -= etas[q] * g_W``, ``b -= etas_intercept[q] * g_b``, where ``g`` is the
        gradient of ``(1 / S_q) sum_{i in q} s_i CE_i + ||W||^2 / (2 C S)``: the batch's
        weighted mean loss plus the full objective's penalty (``S`` is the weight of all
        the data, or ``penalty_weight_sum``).  Dense data runs all the batches in one
        kernel call.

        Parameters
        ----------
        order : ndarray of shape (n_rows,), integer
            Rows in the order they are visited.
        batch_size : int
        weights : ndarray of shape (n_batches,), float64
            The batches' weights ``S_q``, from :meth:`sgd_batch_weights`; a batch of
            weight 0 takes no step.
        etas, etas_intercept : ndarray of shape (n_batches,), float64
            Step sizes of the weights and intercepts; ``n_batches`` batches are run.

        Returns
        -------
        loss_sums : ndarray of shape (n_batches,)
            ``sum_{i in q} s_i * -log P[i, y_i]`` before each step (no penalty).
        """
        weights = np.ascontiguousarray(weights, dtype=np.float64)
        etas = np.ascontiguousarray(etas, dtype=np.float64)
        etas_b = np.ascontiguousarray(etas_intercept, dtype=np.float64)
        n_batches = etas.shape[0]
        loss_sums = np.empty(n_batches)
        if self.sparse:
            for q in range(n_batches):
                rows = order[q * batch_size:(q + 1) * batch_size]
                loss_sums[q] = self._sparse_sgd_step(rows, etas[q], etas_b[q], weights[q])
            return loss_sums
        m = min(batch_size, order.shape[0])
        if self._batch is None or self._batch[0].shape[0] < m:
            # Blocks of 32 rows let a batch of 128 run on 4 threads; the chunk count is a
            # function of the batch size only, so results do not depend on threads.
            self._batch = self._chunk_buffers(m, _BATCH_BLOCK_SIZE, self.K, self.n_features,
                                              self.X.dtype, gather=True)
        Z, Xg, tmp, acc_W, acc_b, acc_loss = self._batch
        st = self._sgd
        with kernel_threads(self.n_threads):
            dense_sgd_steps(self.X, self.y, self.sample_weight,
                            np.ascontiguousarray(order, dtype=np.intp), batch_size, weights,
                            st["W"], st["b"], self.fit_intercept, self.binary,
                            self.l2_reg_strength, etas, etas_b, self._W, self._b,
                            _BATCH_BLOCK_SIZE, Z, Xg, tmp, acc_W, acc_b, acc_loss, st["gW"],
                            st["gb"], loss_sums)
        return loss_sums

    def sgd_current(self):
        """``(W, b)`` after the steps so far (sparse: a new array for ``W``)."""
        st = self._sgd
        if self.sparse:
            return st["scale"] * st["VT"].T, st["b"]
        return st["W"], st["b"]

    def sgd_end(self):
        """Write the weights back into the ``W`` given to :meth:`sgd_begin`."""
        if self.sparse:
            st = self._sgd
            st["W"][...] = st["scale"] * st["VT"].T
        self._sgd = None

    def _sparse_sgd_step(self, rows, eta, eta_b, weight_sum):
        st = self._sgd
        m = rows.shape[0]
        if self._batch is None or self._batch[0].shape[0] < m:
            self._batch = (np.empty((m, self.K)), np.empty((m, self.K)), np.empty(m))
        Z, gb_rows, losses = self._batch
        if weight_sum <= 0:
            return 0.0
        X = self.X
        VT, scale, b = st["VT"], st["scale"], st["b"]
        shrink = 1.0 - eta * self.l2_reg_strength
        step = eta / weight_sum
        step_b = eta_b / weight_sum
        with kernel_threads(self.n_threads):
            if shrink > 0.5:
                new_scale = scale * shrink
                loss_sum = csr_sgd_step(X.data, X.indices, X.indptr, self.y,
                                        self.sample_weight, rows, VT, scale, new_scale, b,
                                        self.binary, step, step_b, self.fit_intercept, Z,
                                        gb_rows, losses)
            else:
                # A step so large that the penalty shrinks W by half or more (or flips
                # it): apply it on materialised weights, O(n_features * K), never in
                # ordinary use.
                VT *= scale
                W_old = VT.copy()
                new_scale = 1.0
                loss_sum = csr_sgd_step(X.data, X.indices, X.indptr, self.y,
                                        self.sample_weight, rows, VT, 1.0, 1.0, b,
                                        self.binary, step, step_b, self.fit_intercept, Z,
                                        gb_rows, losses)
                VT -= (1.0 - shrink) * W_old
        if abs(new_scale) < 1e-9:  # keep V in range: fold the scale in (rarely)
            VT *= new_scale
            new_scale = 1.0
        st["scale"] = new_scale
        return loss_sum
