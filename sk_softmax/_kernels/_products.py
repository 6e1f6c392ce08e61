"""A dense block's two products, register-blocked: the logits and the gradient's.

One dense evaluation is two products per row block: ``Z_b = X_b @ W.T`` and
``R_b.T @ X_b``, with ``K`` (the classes) small.  BLAS handles such thin shapes poorly:
with AVX2 code (AMD Zen; Intel without AVX-512) OpenBLAS's product of MNIST's blocks
with ``W.T`` alone took 0.44x of scikit-learn's whole evaluation, and an evaluation with
BLAS's products 0.88x (benchmarks/results/products_haswell.md).  These loops
keep their running sums in vector registers, as a BLAS micro-kernel does, without
packing ``X``:

* :func:`logits_block`: the classes in the vectors' lanes (``W.T`` packed once per
  evaluation into ``WTp``, ``K`` padded with zero columns to whole groups of vectors),
  four rows by three vectors of classes at a time in float64, six rows by two in float32:
  twelve running sums, each feature's ``x_ij`` broadcast and multiplied into them.
* :func:`grad_block`: the features in the lanes, the rows of the block summed into five
  classes by two vectors of features at a time (ten running sums).

Each has one register-blocked loop: the rows past a block's end and the classes past
``K`` repeat the last one, and padded lanes multiply zeros, instead of further loops for
the remainders (each compiled loop is optimised again in every kernel that calls it, which
is what a cold cache pays; the padding cost nothing measurable: the products are bound
by reading ``X``, not by their multiply-adds, down to ``K = 1``).

Each output element is a sum in a fixed order (over features for a logit, over the
block's rows for a gradient entry), with fused multiply-adds where the CPU has them
(:mod:`._simd`): a function of the data and the block size only, never of the threads.
"""

from numba import types
from numba.extending import overload

from ._buffers import LOGITS_BLOCKING
from ._config import JIT_OPTIONS, jit
from ._prefetch import prefetch
from ._simd import lanes, vfma, vlane, vload, vsplat, vstore, vzero

# rows and vectors of classes per step of the logits' product, by itemsize (numba reads
# module-level integers as compile-time constants); the two loops below are written for
# exactly these steps (the tests' remainders would catch a mismatch)
_ROWS_32, _VECTORS_32 = LOGITS_BLOCKING[4]
_ROWS_64, _VECTORS_64 = LOGITS_BLOCKING[8]

__all__ = ["grad_block", "logits_block", "pack_wt"]


@jit
def pack_wt(W, WTp):
    """``WTp[:, :K] = W.T`` and zeros in the padding columns.

    Parameters
    ----------
    W : ndarray of shape (K, n_features)
    WTp : ndarray of shape (n_features, Kp), float32 or float64
        Output, C-contiguous; ``Kp`` from
        :func:`~sk_softmax._kernels._buffers.padded_classes`.
    """
    K, d = W.shape
    Kp = WTp.shape[1]
    for j in range(d):
        for k in range(K):
            WTp[j, k] = W[k, j]
        for k in range(K, Kp):
            WTp[j, k] = 0.0


@jit
def _store(row, k, K, vec):
    # row[k:k + lanes] = vec, cut at K (the padding classes are not stored)
    L = lanes(row)
    if k + L <= K:
        vstore(row, k, vec)
    else:
        for lane in range(K - k):
            row[k + lane] = vlane(vec, lane)


def _logits_rows_4x3(Xb, i, WTp, k0, Zb):
    # rows i..i+3 (the last row repeated past the block's end), classes k0..k0+3L
    m, d = Xb.shape
    K = Zb.shape[1]
    L = lanes(WTp)
    last = m - 1
    x0 = Xb[i]
    x1 = Xb[min(i + 1, last)]
    x2 = Xb[min(i + 2, last)]
    x3 = Xb[min(i + 3, last)]
    a0 = a1 = a2 = b0 = b1 = b2 = c0 = c1 = c2 = e0 = e1 = e2 = vzero(x0)
    for j in range(d):
        # the next four rows, a cache line of each every eight features: a row is a few
        # kB, too short a stream for the hardware prefetcher to ramp up on, and the rows
        # come from memory (MNIST, one thread, logits alone: float64 36.8 -> 31.5 ms,
        # float32 29.8 -> 17.8 ms; the next group but one was slower; docs/design.md)
        if j % 8 == 0:
            for r in range(4, 8):
                prefetch(Xb, min(i + r, last), j)
        w = WTp[j]
        u0 = vload(w, k0)
        u1 = vload(w, k0 + L)
        u2 = vload(w, k0 + 2 * L)
        s = vsplat(x0[j])
        a0 = vfma(s, u0, a0)
        a1 = vfma(s, u1, a1)
        a2 = vfma(s, u2, a2)
        s = vsplat(x1[j])
        b0 = vfma(s, u0, b0)
        b1 = vfma(s, u1, b1)
        b2 = vfma(s, u2, b2)
        s = vsplat(x2[j])
        c0 = vfma(s, u0, c0)
        c1 = vfma(s, u1, c1)
        c2 = vfma(s, u2, c2)
        s = vsplat(x3[j])
        e0 = vfma(s, u0, e0)
        e1 = vfma(s, u1, e1)
        e2 = vfma(s, u2, e2)
    z = Zb[i]
    _store(z, k0, K, a0)
    _store(z, k0 + L, K, a1)
    _store(z, k0 + 2 * L, K, a2)
    if i + 1 <= last:
        z = Zb[i + 1]
        _store(z, k0, K, b0)
        _store(z, k0 + L, K, b1)
        _store(z, k0 + 2 * L, K, b2)
    if i + 2 <= last:
        z = Zb[i + 2]
        _store(z, k0, K, c0)
        _store(z, k0 + L, K, c1)
        _store(z, k0 + 2 * L, K, c2)
    if i + 3 <= last:
        z = Zb[i + 3]
        _store(z, k0, K, e0)
        _store(z, k0 + L, K, e1)
        _store(z, k0 + 2 * L, K, e2)


def _logits_rows_6x2(Xb, i, WTp, k0, Zb):
    # as _logits_rows_4x3 for float32: rows i..i+5, classes k0..k0+2L (K = 10 pads to 16
    # classes, not 24: a sixth fewer multiply-adds than four rows by three vectors)
    m, d = Xb.shape
    K = Zb.shape[1]
    L = lanes(WTp)
    last = m - 1
    x0 = Xb[i]
    x1 = Xb[min(i + 1, last)]
    x2 = Xb[min(i + 2, last)]
    x3 = Xb[min(i + 3, last)]
    x4 = Xb[min(i + 4, last)]
    x5 = Xb[min(i + 5, last)]
    a0 = a1 = b0 = b1 = c0 = c1 = e0 = e1 = f0 = f1 = h0 = h1 = vzero(x0)
    for j in range(d):
        if j % 16 == 0:  # a cache line of each of the next six rows (see _logits_rows_4x3)
            for r in range(6, 12):
                prefetch(Xb, min(i + r, last), j)
        w = WTp[j]
        u0 = vload(w, k0)
        u1 = vload(w, k0 + L)
        s = vsplat(x0[j])
        a0 = vfma(s, u0, a0)
        a1 = vfma(s, u1, a1)
        s = vsplat(x1[j])
        b0 = vfma(s, u0, b0)
        b1 = vfma(s, u1, b1)
        s = vsplat(x2[j])
        c0 = vfma(s, u0, c0)
        c1 = vfma(s, u1, c1)
        s = vsplat(x3[j])
        e0 = vfma(s, u0, e0)
        e1 = vfma(s, u1, e1)
        s = vsplat(x4[j])
        f0 = vfma(s, u0, f0)
        f1 = vfma(s, u1, f1)
        s = vsplat(x5[j])
        h0 = vfma(s, u0, h0)
        h1 = vfma(s, u1, h1)
    z = Zb[i]
    _store(z, k0, K, a0)
    _store(z, k0 + L, K, a1)
    if i + 1 <= last:
        z = Zb[i + 1]
        _store(z, k0, K, b0)
        _store(z, k0 + L, K, b1)
    if i + 2 <= last:
        z = Zb[i + 2]
        _store(z, k0, K, c0)
        _store(z, k0 + L, K, c1)
    if i + 3 <= last:
        z = Zb[i + 3]
        _store(z, k0, K, e0)
        _store(z, k0 + L, K, e1)
    if i + 4 <= last:
        z = Zb[i + 4]
        _store(z, k0, K, f0)
        _store(z, k0 + L, K, f1)
    if i + 5 <= last:
        z = Zb[i + 5]
        _store(z, k0, K, h0)
        _store(z, k0 + L, K, h1)


def _logits_rows(Xb, i, WTp, k0, Zb):
    """One register-blocked step of :func:`logits_block` (compiled code only: numba
    picks the loop for the dtype when it compiles the caller)."""
    raise NotImplementedError("only callable from numba-compiled code")


@overload(_logits_rows, jit_options={k: v for k, v in JIT_OPTIONS.items() if k != "cache"})
def _logits_rows_for_dtype(Xb, i, WTp, k0, Zb):
    # float64: four rows by three vectors of four classes; float32: six rows by two
    # vectors of eight (measured on MNIST, one thread, logits alone: float32 30.5 ms
    # against 38.5 with four by three; float64 38.0 against 48.1 with six by two)
    if WTp.dtype == types.float32:
        return _logits_rows_6x2
    return _logits_rows_4x3


@jit
def logits_block(Xb, WTp, Zb):
    """``Zb = Xb @ WTp[:, :K]``, each logit summed over the features in order.

    Parameters
    ----------
    Xb : ndarray of shape (m, n_features), float32 or float64, C-contiguous rows
    WTp : ndarray of shape (n_features, Kp), dtype of Xb
        ``W.T`` packed by :func:`pack_wt`, ``Kp`` from
        :func:`~sk_softmax._kernels._buffers.padded_classes`.
    Zb : ndarray of shape (m, K), dtype of Xb
        Output.
    """
    m = Xb.shape[0]
    K = Zb.shape[1]
    L = lanes(WTp)
    rows = _ROWS_32 if L == 8 else _ROWS_64
    step = (_VECTORS_32 if L == 8 else _VECTORS_64) * L
    for k0 in range(0, K, step):
        for i in range(0, m, rows):
            _logits_rows(Xb, i, WTp, k0, Zb)


@jit
def _grad_tail(R, Xb, T, k, j):
    # T[k, j] for one class and one feature, by scalars, summed in float64 (also for
    # float32 data: a few columns at most, where the vectors' float32 sums would need a
    # float32 scalar of numba's choosing); rounded to T's dtype once
    s = 0.0
    for i in range(Xb.shape[0]):
        s += R[i, k] * Xb[i, j]
    T[k, j] = s


@jit
def _grad_5(R, Xb, T, k):
    # T[k:k + 5] = R[:, k:k + 5].T @ Xb, two vectors of features at a time; past the last
    # class the last one is repeated (the same values stored twice)
    m, d = Xb.shape
    last = R.shape[1] - 1
    L = lanes(T)
    step = 2 * L
    end = d - d % step
    k0 = k
    k1 = min(k + 1, last)
    k2 = min(k + 2, last)
    k3 = min(k + 3, last)
    k4 = min(k + 4, last)
    g0 = T[k0]
    g1 = T[k1]
    g2 = T[k2]
    g3 = T[k3]
    g4 = T[k4]
    for j in range(0, end, step):
        a0 = a1 = a2 = a3 = a4 = b0 = b1 = b2 = b3 = b4 = vzero(g0)
        for i in range(m):
            x = Xb[i]
            p = vload(x, j)
            q = vload(x, j + L)
            s = vsplat(R[i, k0])
            a0 = vfma(s, p, a0)
            b0 = vfma(s, q, b0)
            s = vsplat(R[i, k1])
            a1 = vfma(s, p, a1)
            b1 = vfma(s, q, b1)
            s = vsplat(R[i, k2])
            a2 = vfma(s, p, a2)
            b2 = vfma(s, q, b2)
            s = vsplat(R[i, k3])
            a3 = vfma(s, p, a3)
            b3 = vfma(s, q, b3)
            s = vsplat(R[i, k4])
            a4 = vfma(s, p, a4)
            b4 = vfma(s, q, b4)
        # the repeated classes first, so that each row of T ends with its own values
        vstore(g4, j, a4)
        vstore(g4, j + L, b4)
        vstore(g3, j, a3)
        vstore(g3, j + L, b3)
        vstore(g2, j, a2)
        vstore(g2, j + L, b2)
        vstore(g1, j, a1)
        vstore(g1, j + L, b1)
        vstore(g0, j, a0)
        vstore(g0, j + L, b0)
    for j in range(end, d):
        for c in range(k, min(k + 5, last + 1)):
            _grad_tail(R, Xb, T, c, j)


@jit
def grad_block(R, Xb, T):
    """``T = R.T @ Xb``, each entry summed over the block's rows in order.

    Parameters
    ----------
    R : ndarray of shape (m, K), dtype of Xb
    Xb : ndarray of shape (m, n_features), float32 or float64, C-contiguous rows
    T : ndarray of shape (K, n_features), dtype of Xb, C-contiguous
        Output.
    """
    for k in range(0, R.shape[1], 5):
        _grad_5(R, Xb, T, k)
