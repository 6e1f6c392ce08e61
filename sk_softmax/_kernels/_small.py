"""NumPy evaluations for problems too small for the numba kernels to pay off.

A fit of a few thousand multiply-adds per evaluation (iris, wine, a handful of
features) is quick in any implementation; what a numba kernel adds there is
its start: importing numba and loading (or, with an empty cache, compiling) the
kernel, which costs more than scikit-learn's whole import and fit (measured in
docs/design.md, "First compilation").  So the
loss object evaluates such problems here, with whole-matrix NumPy products, and a
small fit never starts numba.  As in the kernels, the two products run in the dtype of
``X`` (``X`` is never converted) and the softmax and the sums in float64; ``X`` is
small by construction (``n_samples * n_features * K`` below :data:`SMALL_MAX_WORK`), so
the temporaries of size ``n_samples * K`` are too.

The formulas are the kernels' (:mod:`._softmax`, :mod:`._dense`): the row maximum is
subtracted before ``exp``, the cross-entropy is ``log(s) - (z_y - m)``, and the binary
model is a softmax with an implicit zero logit in front.  Results agree with the
kernels to rounding (1e-12 relative in float64, tested), not bit for bit: the sums run
in another order.
"""

import numpy as np

__all__ = ["SMALL_MAX_WORK", "small_csr_row_sq_norms", "small_loss_grad", "small_softmax_rows"]

#: Full-batch evaluations of fewer multiply-adds (``n_samples * n_features * K`` dense,
#: ``nnz * K`` CSR) run here.  It is where the numba kernels' threads begin to pay off
#: (:data:`sk_softmax._threading.PARALLEL_MIN_WORK`), so the serial numba variants now
#: serve large calls limited to one thread, and minibatches.
SMALL_MAX_WORK = 200_000


def _full_logits(X, W, b, ref_zero):
    """``(n_samples, K + ref_zero)`` float64 logits, the implicit zero column first."""
    # W in X's dtype: a float32 X is then multiplied as it is, not upcast on every call
    Z = np.asarray(X @ W.astype(X.dtype, copy=False).T, dtype=np.float64)
    Z += b
    if ref_zero:
        Z = np.concatenate([np.zeros((Z.shape[0], 1)), Z], axis=1)
    return Z


def small_loss_grad(X, y, sw, W, b, ref_zero, gW, gb):
    """Weighted cross-entropy sum and its gradients, with NumPy.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features), float32 or float64
    y : ndarray of shape (n_samples,), integer
        Encoded labels in ``[0, n_classes)`` (class 0 is the implicit logit when
        ``ref_zero``).
    sw : ndarray of shape (n_samples,) or (0,), float64
        Sample weights; an empty array means all ones.
    W : ndarray of shape (K, n_features), float64
    b : ndarray of shape (K,), float64
        Intercepts (zeros without an intercept).
    ref_zero : bool
        Binary (sigmoid) model: an implicit zero logit for class 0.
    gW : ndarray of shape (K, n_features), float64
        Output: ``(sw * (P - Y)).T @ X`` over the stored classes.
    gb : ndarray of shape (K,), float64
        Output: ``sum_i sw_i * (P_i - Y_i)`` over the stored classes.

    Returns
    -------
    loss_sum : float
        ``sum_i sw_i * -log P[i, y_i]``.
    """
    Z = _full_logits(X, W, b, ref_zero)
    n = Z.shape[0]
    rows = np.arange(n)
    m = Z.max(axis=1, keepdims=True)
    Z -= m
    z_y = Z[rows, y]
    np.exp(Z, out=Z)
    s = Z.sum(axis=1, keepdims=True)
    ce = np.log(s[:, 0]) - z_y
    Z /= s
    Z[rows, y] -= 1.0
    if sw.shape[0] == 0:
        loss_sum = float(ce.sum())
    else:
        loss_sum = float(sw @ ce)
        Z *= sw[:, None]
    R = Z[:, 1:] if ref_zero else Z
    gW[...] = np.asarray(X.T @ R.astype(X.dtype, copy=False)).T
    gb[...] = R.sum(axis=0)
    return loss_sum


def small_csr_row_sq_norms(X):
    """Squared Euclidean norms of the rows of a CSR matrix, in float64, with NumPy.

    Repeated indices add up before squaring (the row scipy's ``toarray`` gives), as in
    :func:`sk_softmax._kernels.csr_row_sq_norms`; ``X`` itself is not modified (a float64
    copy of it has its duplicates summed).

    Parameters
    ----------
    X : CSR matrix or array of shape (n_samples, n_features)

    Returns
    -------
    sq : ndarray of shape (n_samples,), float64
    """
    Xc = X.astype(np.float64, copy=True)
    Xc.sum_duplicates()
    Xc.data **= 2
    return np.asarray(Xc.sum(axis=1), dtype=np.float64).ravel()


def small_softmax_rows(Z, ref_zero, log, out):
    """Row-wise softmax or log-softmax of logits with NumPy; see
    :func:`sk_softmax._kernels.softmax_rows` (same arguments, same clipping of
    log-probabilities at the dtype's most negative finite value)."""
    # in float64 for float32 logits too, as the kernel's sums
    F = np.zeros((Z.shape[0], Z.shape[1] + ref_zero))
    F[:, int(ref_zero) :] = Z
    F -= F.max(axis=1, keepdims=True)
    if log:
        F -= np.log(np.exp(F).sum(axis=1, keepdims=True))
        np.maximum(F, np.finfo(out.dtype).min, out=out)
    else:
        np.exp(F, out=F)
        F /= F.sum(axis=1, keepdims=True)
        out[...] = F
