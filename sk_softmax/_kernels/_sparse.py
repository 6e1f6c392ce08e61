"""Kernels for CSR ``X``: the same softmax rows as the dense kernels, sparse products.

A CSR matrix arrives as its triplet ``(data, indices, indptr)``; indices may be unsorted,
repeated (repeats add up, as in scipy) or explicit zeros, and rows may be empty: every
loop below just visits the stored entries.  Coefficients are laid out as ``WT`` of shape
``(n_features, K)`` so that the ``K`` weights of one feature are contiguous.

Work is proportional to the number of stored entries times ``K``; nothing of size
``n_features`` is touched per row.
"""

from numba import prange

from ._config import jit, jit_callers, jit_variants
from ._dense import cumulative_l1, fill1, fill2, softmax_grad_row
from ._prefetch import PREFETCH_DISTANCE, prefetch


@jit
def csr_row_logits(data, indices, start, stop, WT, scale, z):
    """``z = scale * (x @ WT)`` for the CSR row stored in ``[start, stop)``."""
    K = z.shape[0]
    nnz = indices.shape[0]
    for k in range(K):
        z[k] = 0.0
    for p in range(start, stop):
        if p + PREFETCH_DISTANCE < nnz:
            prefetch(WT, indices[p + PREFETCH_DISTANCE], 0)
        j = indices[p]
        v = data[p]
        for k in range(K):
            z[k] += v * WT[j, k]
    if scale != 1.0:
        for k in range(K):
            z[k] *= scale


def csr_loss_grad(data, indices, indptr, y, sw, WT, b, ref_zero, buf, parallel=True):
    """Per-chunk weighted cross-entropy and gradients for CSR ``X``.

    Two parallel passes over the rows: the logits, softmax and ``sw * (P - Y)`` of every
    row into ``Z``; then the scatter of ``X.T @ Z`` into the chunks' accumulators.  Each
    pass keeps one ``(n_features, K)`` table in cache (``WT``, then an accumulator),
    where a fused pass would make them compete for it.

    Parameters
    ----------
    data : ndarray of shape (nnz,), float32 or float64
    indices : ndarray of shape (nnz,), int32 or int64
    indptr : ndarray of shape (n_samples + 1,), int32 or int64
    y : ndarray of shape (n_samples,), integer
        Encoded labels (see ``dense_loss_grad`` for ``ref_zero``).
    sw : ndarray of shape (n_samples,) or (0,), float64
        Sample weights; empty means all ones.
    WT : ndarray of shape (n_features, K), dtype of data
        Coefficients, transposed.
    b : ndarray of shape (K,), dtype of data
    ref_zero : bool
    buf : CsrFullBuffers
        ``Z`` holds ``sw * (P - Y)`` on exit, ``acc_WT`` the per-chunk
        ``X.T @ (sw * (P - Y))``, ``acc_b`` and ``acc_loss`` the per-chunk intercept
        gradients and losses, to be reduced by :func:`csr_grad_finish`.
    parallel : bool, default=True
        Run the parallel variant (else the serial one: bit-identical, faster to compile).

    Notes
    -----
    Chunk ``c`` of ``n_chunks`` owns rows ``[c n / n_chunks, (c + 1) n / n_chunks)`` and
    sums them in order, so results do not depend on the number of threads.  The
    scatter's chunks (one accumulator each) may be fewer than the first pass's: their
    accumulators should stay in cache together.
    """
    kernel = _csr_loss_grad.parallel if parallel else _csr_loss_grad.serial
    kernel(
        data, indices, indptr, y, sw, WT, b, ref_zero, buf.Z, buf.acc_WT, buf.acc_b, buf.acc_loss
    )


def _csr_loss_grad_body(data, indices, indptr, y, sw, WT, b, ref_zero, Z, acc_WT, acc_b, acc_loss):
    n = indptr.shape[0] - 1
    nnz = indices.shape[0]
    n_chunks = acc_b.shape[0]
    K = WT.shape[1]
    off = 1 if ref_zero else 0
    for c in prange(n_chunks):
        gb = acc_b[c]
        fill1(gb, 0.0)
        loss = 0.0
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            z = Z[i]
            csr_row_logits(data, indices, indptr[i], indptr[i + 1], WT, 1.0, z)
            w = 1.0 if sw.shape[0] == 0 else sw[i]
            loss += softmax_grad_row(z, b, y[i] - off, ref_zero, w, gb)
        acc_loss[c] = loss
    n_scatter = acc_WT.shape[0]
    for c in prange(n_scatter):
        g = acc_WT[c]
        fill2(g, 0.0)
        for i in range(c * n // n_scatter, (c + 1) * n // n_scatter):
            z = Z[i]
            for p in range(indptr[i], indptr[i + 1]):
                if p + PREFETCH_DISTANCE < nnz:
                    prefetch(g, indices[p + PREFETCH_DISTANCE], 0)
                j = indices[p]
                v = data[p]
                for k in range(K):
                    g[j, k] += v * z[k]


_csr_loss_grad = jit_variants(_csr_loss_grad_body)


def csr_sgd_step(
    data, indices, indptr, y, sw, rows, model, step, ref_zero, fit_intercept, buf, parallel=True
):
    """One minibatch SGD step on scaled weights ``W = scale * V``, touching only non-zeros.

    The gradient of the batch's mean loss is taken at ``W = scale * VT.T``; the caller
    has already shrunk the scale for the L2 penalty (``new_scale = scale * (1 - eta l2)``),
    so the data part of the step is applied to ``V`` as ``V -= D`` with
    ``D = step / new_scale * g``, which costs one update per stored entry and class,
    never ``n_features * K``.

    Averaging stays as lazy: the sum of the averaged iterates is kept as
    ``U + alpha_total * V`` (``UT`` transposed), and since ``V`` moves by ``-D``, the
    sum stays the same when ``U`` moves by ``+alpha * D``, at the same non-zeros.  The
    caller adds ``new_scale`` to ``alpha`` for the step's own iterate afterwards.

    With an L1 term the cumulative penalty (see :func:`dense_sgd_steps`) is applied, in
    weight units ``w = new_scale * v``, to the weights of the batch's features only
    (as scikit-learn's SGD does on sparse data): a weight not touched by a batch gets
    what it is owed when it is next touched, or when the caller flushes all weights.
    With a box (``LT``, ``HT`` not empty; it must contain zero) the batch's weights are
    then clipped into it, in weight units, the lazy average kept consistent: the
    others only shrink toward zero, so they stay inside.

    Parameters
    ----------
    data, indices, indptr : CSR triplet of X
    y : ndarray of shape (n_samples,), integer
    sw : ndarray of shape (n_samples,) or (0,), float64
    rows : ndarray of shape (m,), integer
        The batch's rows.
    model : CsrModel
        ``VT`` (n_features, K), the unscaled weights, and ``b`` (K,), the intercepts
        (when ``fit_intercept``), both float64 and updated in place; ``UT`` (n_features,
        K) or (0, K), the lazy average's accumulator (empty: no averaging), and ``QT``
        (n_features, K), the L1 penalty each weight received (any shape without L1),
        updated in place; ``LT``, ``HT`` (n_features, K), the box on the weights
        (lower, upper; ``-inf`` / ``inf`` allowed), (1, K): the same for every feature,
        or (0, K): no box.
    step : ndarray of shape (6,), float64
        The scalars of :data:`CSR_STEP_FIELDS`: ``scale`` and ``new_scale`` (the
        weight scale before and after the penalty's shrinkage), ``step`` (``eta / S_B``:
        the weights' step divided by the batch's weight), ``step_b`` (the intercepts'),
        ``alpha`` (the lazy average's coefficient of ``V`` before this step) and ``l1_u``
        (``u`` of the cumulative L1 penalty after this step; 0: no L1 term).
    ref_zero, fit_intercept : bool
    buf : CsrStepBuffers
        For at least ``m`` rows.
    parallel : bool, default=True
        Run the rows' softmax in parallel (else serially: bit-identical, faster to
        compile).

    Returns
    -------
    loss_sum : float
        Weighted cross-entropy of the batch at the weights before the step.
    """
    step_fn = _csr_step.parallel if parallel else _csr_step.serial
    return step_fn(data, indices, indptr, y, sw, rows, model, step, ref_zero, fit_intercept, buf)


def _csr_step_body(
    data, indices, indptr, y, sw, rows, model, step_args, ref_zero, fit_intercept, buf
):
    VT, b, UT, QT, LT, HT = model
    scale, new_scale, step, step_b = step_args[0], step_args[1], step_args[2], step_args[3]
    alpha, l1_u = step_args[4], step_args[5]
    Z, gb_rows, losses = buf.Z, buf.gb_rows, buf.losses
    _batch_rows_impl(data, indices, indptr, y, sw, rows, VT, scale, b, ref_zero, Z, gb_rows, losses)
    # The update runs serially in batch order: rows share features, and a fixed order
    # keeps results independent of the thread count.
    m = rows.shape[0]
    nnz = indices.shape[0]
    K = VT.shape[1]
    averaging = UT.shape[0] > 0 and alpha != 0.0
    loss_sum = 0.0
    factor = step / new_scale
    for r in range(m):
        i = rows[r]
        loss_sum += losses[r]
        for p in range(indptr[i], indptr[i + 1]):
            if p + PREFETCH_DISTANCE < nnz:
                prefetch(VT, indices[p + PREFETCH_DISTANCE], 0)
            j = indices[p]
            v = data[p] * factor
            for k in range(K):
                d = v * Z[r, k]
                VT[j, k] -= d
                if averaging:
                    UT[j, k] += alpha * d
        if fit_intercept:
            for k in range(K):
                b[k] -= step_b * gb_rows[r, k]
    if l1_u > 0.0:
        # after all of the batch's updates (the gradient was taken before any of them);
        # a feature met twice is clipped twice, which changes nothing the second time
        inv_scale = 1.0 / new_scale
        for r in range(m):
            i = rows[r]
            for p in range(indptr[i], indptr[i + 1]):
                j = indices[p]
                for k in range(K):
                    v = VT[j, k]
                    w, QT[j, k] = cumulative_l1(new_scale * v, l1_u, QT[j, k])
                    v_new = w * inv_scale
                    if v_new != v:
                        VT[j, k] = v_new
                        if averaging:
                            UT[j, k] -= alpha * (v_new - v)
    if LT.shape[0] > 0:
        _clip_batch(indices, indptr, rows, VT, UT, LT, HT, new_scale, alpha, averaging)
    return loss_sum


@jit
def _clip_batch(indices, indptr, rows, VT, UT, LT, HT, new_scale, alpha, averaging):
    """Clip the batch's weights ``new_scale * VT[j]`` into ``[LT[j], HT[j]]`` (in ``V``'s
    units), moving ``UT`` so that the lazy sum ``U + alpha * V`` does not change.  ``LT``
    and ``HT`` of one row: the same bounds for every feature."""
    inv_scale = 1.0 / new_scale
    per_feature = LT.shape[0] > 1
    for r in range(rows.shape[0]):
        i = rows[r]
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            jb = j if per_feature else 0
            for k in range(VT.shape[1]):
                v = VT[j, k]
                v_new = min(max(v, LT[jb, k] * inv_scale), HT[jb, k] * inv_scale)
                if v_new != v:
                    VT[j, k] = v_new
                    if averaging:
                        UT[j, k] -= alpha * (v_new - v)


def _csr_batch_rows_body(
    data, indices, indptr, y, sw, rows, VT, scale, b, ref_zero, Z, gb_rows, losses
):
    """The parallel half of :func:`csr_sgd_step`: each row's ``sw * (P - Y)``, intercept
    gradient and loss at ``W = scale * VT.T``."""
    m = rows.shape[0]
    off = 1 if ref_zero else 0
    for r in prange(m):
        i = rows[r]
        z = Z[r]
        csr_row_logits(data, indices, indptr[i], indptr[i + 1], VT, scale, z)
        w = 1.0 if sw.shape[0] == 0 else sw[i]
        fill1(gb_rows[r], 0.0)
        losses[r] = softmax_grad_row(z, b, y[i] - off, ref_zero, w, gb_rows[r])


_csr_batch_rows = jit_variants(_csr_batch_rows_body)
# the step (serial itself) calls the rows' softmax variant of its own kind
_batch_rows_impl = _csr_batch_rows.parallel
_csr_step = jit_callers(_csr_step_body, "_batch_rows_impl", _csr_batch_rows)


@jit
def csr_row_sq_norms(data, indices, indptr, scratch, out):
    """Squared Euclidean norms of the rows of CSR ``X``, in float64.

    Repeated indices add up before squaring (the row is the one scipy's ``toarray``
    gives), without sorting or copying ``X``.

    Parameters
    ----------
    data, indices, indptr : CSR triplet of X, shape (n_samples, n_features)
    scratch : ndarray of shape (n_features,), float64
        Work buffer, all zeros on entry; all zeros again on exit.
    out : ndarray of shape (n_samples,), float64
        Output.
    """
    n = indptr.shape[0] - 1
    for i in range(n):
        for p in range(indptr[i], indptr[i + 1]):
            scratch[indices[p]] += data[p]
        s = 0.0
        for p in range(indptr[i], indptr[i + 1]):
            j = indices[p]
            x = scratch[j]
            s += x * x
            scratch[j] = 0.0  # a repeat of j then adds nothing more
        out[i] = s


def csr_grad_finish(acc_WT, acc_b, acc_loss, W, l2, inv, gW, gb, parallel=True):
    """Reduce the chunks of :func:`csr_loss_grad` into the scaled gradient, transposed.

    ``gW = inv * sum_c acc_WT[c].T + l2 * W`` and ``gb = inv * sum_c acc_b[c]``, the
    chunks summed in chunk order (as :func:`reduce_chunks` does), in one parallel pass
    instead of a reduction, a transpose and two scalings.

    Parameters
    ----------
    acc_WT : ndarray of shape (n_scatter_chunks, n_features, K), float64
    acc_b : ndarray of shape (n_chunks, K), float64
    acc_loss : ndarray of shape (n_chunks,), float64
    W : ndarray of shape (K, n_features), float64
        The coefficients (any strides), for the penalty's gradient ``l2 * W``.
    l2, inv : float
        Penalty strength and ``1 / sum(sample_weight)``.
    gW : ndarray of shape (K, n_features), float64
        Output (any strides: the weights' block of the flat gradient).
    gb : ndarray of shape (K,), float64
        Output.

    parallel : bool, default=True
        Run the parallel variant (else the serial one: bit-identical, faster to compile).

    Returns
    -------
    loss_sum : float
        Sum of the chunks' weighted cross-entropy (unscaled).
    """
    kernel = _csr_grad_finish.parallel if parallel else _csr_grad_finish.serial
    return kernel(acc_WT, acc_b, acc_loss, W, l2, inv, gW, gb)


def _csr_grad_finish_body(acc_WT, acc_b, acc_loss, W, l2, inv, gW, gb):
    n_chunks, d, K = acc_WT.shape
    n_blocks = (d + 255) // 256
    for blk in prange(n_blocks):
        for j in range(blk * 256, min(d, (blk + 1) * 256)):
            for k in range(K):
                s = acc_WT[0, j, k]
                for c in range(1, n_chunks):
                    s += acc_WT[c, j, k]
                gW[k, j] = s * inv + l2 * W[k, j]
    loss = acc_loss[0]
    for k in range(K):
        gb[k] = acc_b[0, k]
    for c in range(1, acc_b.shape[0]):
        loss += acc_loss[c]
        for k in range(K):
            gb[k] += acc_b[c, k]
    for k in range(K):
        gb[k] *= inv
    return loss


_csr_grad_finish = jit_variants(_csr_grad_finish_body)
