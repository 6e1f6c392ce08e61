"""Fused loss + gradient kernel for dense ``X``.

One pass over ``X`` in row blocks: for each block, the logits ``Z_b = X_b @ W.T``
(:func:`._products.logits_block`, written into a preallocated slice of ``Z``), then per
row the bias, the stable softmax, the weighted cross-entropy and ``sw * (P - Y)`` written
over the logits in place, then ``(P - Y)_b.T @ X_b`` (:func:`._products.grad_block`)
while ``X_b`` is still in cache.  ``W.T`` is packed once per call (``buf.WTp``).

Determinism: the blocks are grouped into ``n_chunks`` contiguous chunks (the leading
dimension of the accumulators, fixed by the caller from the data shape only).  ``prange``
runs over chunks; each chunk sums its blocks in order into its own accumulator, and the
chunks are reduced in order by :func:`reduce_chunks`.  Which thread runs which chunk
therefore does not change a single bit of the result, and neither does the number of
threads.
"""

import numpy as np
from numba import prange

from ._config import jit, jit_callers, jit_variants
from ._products import grad_block, logits_block, pack_wt
from ._softmax import row_exp_inplace

# Kernels write fills, copies and in-place additions of arrays as loops: numba compiles a
# broadcasting array assignment together with its shape-error message, which pulls in its
# string formatting and makes the first compilation much longer.


@jit
def fill1(a, value):
    """``a[:] = value`` for a 1-D array."""
    for i in range(a.shape[0]):
        a[i] = value


@jit
def fill2(a, value):
    """``a[:, :] = value`` for a 2-D array."""
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            a[i, j] = value


@jit
def copy1(dst, src):
    """``dst[:] = src`` for 1-D arrays of the same length."""
    for i in range(dst.shape[0]):
        dst[i] = src[i]


@jit
def copy2(dst, src):
    """``dst[:, :] = src`` for 2-D arrays of the same shape (any strides)."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] = src[i, j]


@jit
def add1(dst, src):
    """``dst += src`` for 1-D arrays of the same length."""
    for i in range(dst.shape[0]):
        dst[i] += src[i]


@jit
def add2(dst, src):
    """``dst += src`` for 2-D arrays of the same shape (any strides)."""
    for i in range(dst.shape[0]):
        for j in range(dst.shape[1]):
            dst[i, j] += src[i, j]


@jit
def softmax_grad_row(z, b, col, ref_zero, w, gb):
    """Turn one row of logits into ``w * (p - onehot(col))`` in place.

    Parameters
    ----------
    z : ndarray of shape (K,)
        ``x @ W.T`` on entry (``b`` is added here); ``w * (p - onehot)`` on exit.
    b : ndarray of shape (K,)
        Intercepts.
    col : int
        Column of the true class in ``z``, or -1 for the implicit zero logit.
    ref_zero : bool
        Whether the row has an implicit first logit equal to 0 (binary model).
    w : float
        Sample weight of the row.
    gb : ndarray of shape (K,), float64
        Intercept-gradient accumulator; the row's gradient is added to it.

    Returns
    -------
    loss : float
        The weighted cross-entropy of the row,
        ``w * ((max(z) - z[col]) + log(sum(exp(z - max(z)))))``.
    """
    K = z.shape[0]
    for k in range(K):
        z[k] += b[k]
    zy = z[col] if col >= 0 else 0.0
    m, s = row_exp_inplace(z, ref_zero)
    scale = w / s
    for k in range(K):
        r = z[k] * scale
        if k == col:
            r -= w
        z[k] = r
        gb[k] += r
    return w * ((m - zy) + np.log(s))


def dense_loss_grad(X, y, sw, W, b, ref_zero, block_size, buf, parallel=True):
    """Per-chunk weighted cross-entropy and its gradients, one pass over all rows of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    y : ndarray of shape (n_samples,), integer
        Encoded labels in ``[0, n_classes)``.  With ``ref_zero`` class 0 is the implicit
        zero logit and class ``k >= 1`` is column ``k - 1`` of ``W``.
    sw : ndarray of shape (n_samples,) or (0,), float64
        Sample weights; an empty array means all ones.
    W : ndarray of shape (K, n_features), dtype of X, C-contiguous
        Coefficients, ``K = n_classes - ref_zero``.
    b : ndarray of shape (K,), dtype of X
        Intercepts (zeros when there is no intercept).
    ref_zero : bool
        Binary (sigmoid) model with an implicit zero logit for class 0.
    block_size : int
        Rows per block.
    buf : DenseFullBuffers
        ``Z`` holds ``sw * (P - Y)`` on exit; ``acc_W``, ``acc_b``, ``acc_loss`` the
        per-chunk sums of ``(sw * (P - Y)).T @ X``, ``sw * (P - Y)`` and
        ``sw * -log P[i, y_i]``, to be reduced by :func:`reduce_chunks`; ``WTp`` and
        ``tmp`` are work space.
    parallel : bool, default=True
        Run the parallel variant (else the serial one, bit-identical, which compiles
        faster: for problems too small for threads to pay off).
    """
    kernel = _dense_loss_grad.parallel if parallel else _dense_loss_grad.serial
    kernel(
        X,
        y,
        sw,
        W,
        b,
        ref_zero,
        block_size,
        buf.Z,
        buf.WTp,
        buf.tmp,
        buf.acc_W,
        buf.acc_b,
        buf.acc_loss,
    )


def _dense_loss_grad_body(
    X, y, sw, W, b, ref_zero, block_size, Z, WTp, tmp, acc_W, acc_b, acc_loss
):
    n = X.shape[0]
    n_chunks = acc_W.shape[0]
    n_blocks = (n + block_size - 1) // block_size
    off = 1 if ref_zero else 0
    pack_wt(W, WTp)
    for c in prange(n_chunks):
        gW = acc_W[c]
        gb = acc_b[c]
        fill2(gW, 0.0)
        fill1(gb, 0.0)
        t = tmp[c]
        loss = 0.0
        for blk in range(c * n_blocks // n_chunks, (c + 1) * n_blocks // n_chunks):
            lo = blk * block_size
            hi = min(n, lo + block_size)
            Xb = X[lo:hi]
            Zb = Z[lo:hi]
            logits_block(Xb, WTp, Zb)
            # the row loop stays in the parallel body: numba did not inline a helper
            # taking the block, and its calls slowed the SGD epoch (docs/design.md)
            for i in range(hi - lo):
                w = 1.0 if sw.shape[0] == 0 else sw[lo + i]
                loss += softmax_grad_row(Zb[i], b, y[lo + i] - off, ref_zero, w, gb)
            # the block's product in X's dtype, summed into the float64 accumulator
            grad_block(Zb, Xb, t)
            add2(gW, t)
        acc_loss[c] = loss


_dense_loss_grad = jit_variants(_dense_loss_grad_body)


def dense_batch_grad(X, y, sw, rows, W, b, ref_zero, buf, parallel=True):
    """:func:`dense_loss_grad` on the rows ``rows`` of ``X`` (a minibatch), gathered block
    by block into ``buf.Xg`` (blocks of ``buf.Xg.shape[1]`` rows).

    Parameters
    ----------
    X, y, sw, W, b, ref_zero : as for :func:`dense_loss_grad`
    rows : ndarray of shape (m,), integer, m >= 1
        The rows, in this order (repeats allowed).
    buf : DenseBatchBuffers
        For at least ``m`` rows; ``Z[:m]`` holds ``sw * (P - Y)`` on exit and the
        accumulators the per-chunk sums.
    parallel : bool, default=True
        Run the parallel variant (else the serial one: bit-identical, faster to compile).
    """
    kernel = _dense_batch_grad.parallel if parallel else _dense_batch_grad.serial
    kernel(
        X,
        y,
        sw,
        rows,
        W,
        b,
        ref_zero,
        buf.Z,
        buf.Xg,
        buf.WTp,
        buf.tmp,
        buf.acc_W,
        buf.acc_b,
        buf.acc_loss,
    )


def _dense_batch_grad_body(X, y, sw, rows, W, b, ref_zero, Z, Xg, WTp, tmp, acc_W, acc_b, acc_loss):
    n = rows.shape[0]
    block_size = Xg.shape[1]
    n_chunks = acc_W.shape[0]
    n_blocks = (n + block_size - 1) // block_size
    off = 1 if ref_zero else 0
    pack_wt(W, WTp)
    for c in prange(n_chunks):
        gW = acc_W[c]
        gb = acc_b[c]
        fill2(gW, 0.0)
        fill1(gb, 0.0)
        loss = 0.0
        for blk in range(c * n_blocks // n_chunks, (c + 1) * n_blocks // n_chunks):
            lo = blk * block_size
            hi = min(n, lo + block_size)
            Xb = Xg[c, : hi - lo]
            for r in range(hi - lo):
                copy1(Xb[r], X[rows[lo + r]])
            Zb = Z[lo:hi]
            logits_block(Xb, WTp, Zb)
            for i in range(hi - lo):
                idx = rows[lo + i]
                w = 1.0 if sw.shape[0] == 0 else sw[idx]
                loss += softmax_grad_row(Zb[i], b, y[idx] - off, ref_zero, w, gb)
            t = tmp[c]
            grad_block(Zb, Xb, t)
            add2(gW, t)
        acc_loss[c] = loss


_dense_batch_grad = jit_variants(_dense_batch_grad_body)


@jit
def reduce_chunks(acc_W, acc_b, acc_loss, gW, gb):
    """Sum the per-chunk accumulators in chunk order into ``gW`` and ``gb``; return the loss.

    Parameters
    ----------
    acc_W : ndarray of shape (n_chunks, K, n_features), float64
    acc_b : ndarray of shape (n_chunks, K), float64
    acc_loss : ndarray of shape (n_chunks,), float64
    gW : ndarray of shape (K, n_features), float64
        Output.
    gb : ndarray of shape (K,), float64
        Output.
    """
    copy2(gW, acc_W[0])
    copy1(gb, acc_b[0])
    loss = acc_loss[0]
    for c in range(1, acc_W.shape[0]):
        add2(gW, acc_W[c])
        add1(gb, acc_b[c])
        loss += acc_loss[c]
    return loss


def dense_sgd_steps(
    X,
    y,
    sw,
    schedule,
    model,
    penalty,
    fit_intercept,
    ref_zero,
    buf,
    n_avg,
    loss_sums,
    parallel=True,
):
    """Consecutive minibatch SGD steps on dense ``X``, in one call, with optional averaging.

    Batch ``q`` is ``order[q * batch_size:(q + 1) * batch_size]`` (``schedule``); its
    gradient comes from :func:`dense_batch_grad` (parallel over the batch's row blocks)
    and the step is

    ``W -= etas[q] * (g_W / S_q + l2 * W)``, ``b -= etas_b[q] * g_b / S_q``

    with ``S_q = weights[q]`` the batch's weight (no step when it is 0).  With an L1
    term (``l1 > 0``) the step then applies the cumulative L1 penalty (Tsuruoka, Tsujii
    and Ananiadou, ACL 2009, as scikit-learn's SGD does): ``u += etas[q] * l1`` is the
    total penalty a weight could have received so far and ``Q[k, j]`` what it did
    receive; a positive weight becomes ``max(0, w - (u + Q))``, a negative one
    ``min(0, w + (u - Q))``, and ``Q`` records the change.  A weight that the penalty
    holds stops at exactly 0.  With a box (``lower``, ``upper`` not empty) the weights
    are then clipped into it.  When ``avg_flags[q]``, the iterate after the step enters
    the running mean ``(W_avg, b_avg)`` of ``n_avg`` iterates.

    Parameters
    ----------
    X, y, sw : as for :func:`dense_loss_grad`
    schedule : SGDSchedule
        ``order`` (rows in the order visited), ``batch_size``, ``weights`` (the batches'
        ``S_q``), ``etas`` and ``etas_b`` (steps of the weights and of the intercepts,
        batch by batch), ``avg_flags`` (which iterates enter the average).
    model : SGDModel
        ``W`` (K, n_features) and ``b`` (K,), float64, updated in place (``b`` when
        ``fit_intercept``); the running mean ``W_avg``, ``b_avg``, updated in place
        (overwritten by the first iterate when ``n_avg`` is 0); ``Q`` (K, n_features),
        the L1 penalty each weight received, and ``l1_u`` (shape (1,)), ``u``, both
        updated in place (not touched when ``l1`` is 0); ``lower``, ``upper``
        (K, n_features), the box on the weights, or (0, 0): none.
    penalty : PenaltyScalars
        ``l2`` (gradient ``l2 * W``) and ``l1`` (0: no L1 term).
    fit_intercept, ref_zero : bool
    buf : DenseBatchBuffers
        For ``batch_size`` rows (blocks of ``buf.Xg.shape[1]`` rows in
        :func:`dense_batch_grad`).
    n_avg : int
        Number of iterates in the mean on entry.
    loss_sums : ndarray of shape (n_batches,), float64
        Output: each batch's weighted cross-entropy before its step.
    parallel : bool, default=True
        Run the parallel variant of the batch gradients (else the serial one:
        bit-identical, faster to compile).

    Returns
    -------
    n_avg : int
        Number of iterates in the mean on exit.
    """
    steps = _sgd_steps.parallel if parallel else _sgd_steps.serial
    return steps(
        X,
        y,
        sw,
        schedule,
        model,
        penalty,
        fit_intercept,
        ref_zero,
        buf,
        n_avg,
        loss_sums,
    )


@jit
def cumulative_l1(w, u, q):
    """One weight under the cumulative L1 penalty: ``(new_w, new_q)``.

    ``u`` is the total penalty a weight could have received, ``q`` what this one did
    (signed); the weight moves toward 0 by what it is owed and stops at 0.  Applying it
    twice with the same ``u`` changes nothing.
    """
    z = w
    if w > 0.0:
        w = max(0.0, w - (u + q))
    elif w < 0.0:
        w = min(0.0, w + (u - q))
    return w, q + (w - z)


def _sgd_steps_body(
    X, y, sw, schedule, model, penalty, fit_intercept, ref_zero, buf, n_avg, loss_sums
):
    order, batch_size, weights, etas, etas_b, avg_flags = schedule
    W, b, W_avg, b_avg, Q, l1_u, lower, upper = model
    l2, l1 = penalty
    boxed = lower.shape[0] > 0
    Wk, bk, gW, gb = buf.Wk, buf.bk, buf.gW, buf.gb
    n = order.shape[0]
    K, d = W.shape
    for q in range(etas.shape[0]):
        lo = q * batch_size
        hi = min(n, lo + batch_size)
        ws = weights[q]
        for k in range(K):
            for j in range(d):
                Wk[k, j] = W[k, j]
            bk[k] = b[k] if fit_intercept else 0.0
        _batch_grad_call(
            X,
            y,
            sw,
            order[lo:hi],
            Wk,
            bk,
            ref_zero,
            buf.Z,
            buf.Xg,
            buf.WTp,
            buf.tmp,
            buf.acc_W,
            buf.acc_b,
            buf.acc_loss,
        )
        loss_sums[q] = reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, gW, gb)
        if ws > 0:
            inv = 1.0 / ws
            for k in range(K):
                for j in range(d):
                    gW[k, j] *= inv
                gb[k] *= inv
        if l2 > 0:
            for k in range(K):
                for j in range(d):
                    gW[k, j] += l2 * W[k, j]
        if ws > 0:
            eta = etas[q]
            for k in range(K):
                for j in range(d):
                    W[k, j] -= eta * gW[k, j]
            if fit_intercept:
                eta_b = etas_b[q]
                for k in range(K):
                    b[k] -= eta_b * gb[k]
            if l1 > 0:
                u = l1_u[0] + eta * l1
                l1_u[0] = u
                for k in range(K):
                    for j in range(d):
                        W[k, j], Q[k, j] = cumulative_l1(W[k, j], u, Q[k, j])
            if boxed:
                for k in range(K):
                    for j in range(d):
                        W[k, j] = min(max(W[k, j], lower[k, j]), upper[k, j])
        if avg_flags[q]:
            if n_avg == 0:
                copy2(W_avg, W)
                copy1(b_avg, b)
            else:
                mu = 1.0 / (n_avg + 1)
                for k in range(K):
                    for j in range(d):
                        W_avg[k, j] += mu * (W[k, j] - W_avg[k, j])
                    b_avg[k] += mu * (b[k] - b_avg[k])
            n_avg += 1
    return n_avg


# the epoch loop (serial itself) calls the batch gradient's variant of its own kind
_batch_grad_call = _dense_batch_grad.parallel
_sgd_steps = jit_callers(_sgd_steps_body, "_batch_grad_call", _dense_batch_grad)
