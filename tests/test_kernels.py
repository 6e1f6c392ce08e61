"""Kernels against the NumPy reference (tests/reference.py) on awkward shapes."""

import numpy as np
import pytest

from sk_softmax._kernels import (
    DenseBatchBuffers,
    DenseFullBuffers,
    dense_batch_grad,
    dense_loss_grad,
    padded_classes,
    reduce_chunks,
    small_softmax_rows,
    softmax_rows,
)
from sk_softmax._kernels._products import grad_block, logits_block, pack_wt
from sk_softmax._threading import kernel_threads

from . import reference as ref

TOL = {np.float64: dict(rtol=1e-12), np.float32: dict(rtol=1e-5)}


def run_dense(X, y, W, b, binary, sw=None, block_size=4, n_chunks=3, n_threads=2, rows=None):
    """Call the fused kernel (all rows, or the gathered ``rows``) with fresh NaN-filled
    buffers; return (loss, gW, gb, Z)."""
    dtype = X.dtype
    n, d = X.shape
    K = W.shape[0]
    sw = np.empty(0) if sw is None else np.asarray(sw, dtype=np.float64)
    m = n if rows is None else rows.shape[0]
    common = dict(
        Z=np.full((m, K), np.nan, dtype=dtype),
        WTp=np.full((d, padded_classes(K, dtype)), np.nan, dtype=dtype),
        tmp=np.full((n_chunks, K, d), np.nan, dtype=dtype),
        acc_W=np.full((n_chunks, K, d), np.nan),
        acc_b=np.full((n_chunks, K), np.nan),
        acc_loss=np.full(n_chunks, np.nan),
    )
    gW = np.empty((K, d))
    gb = np.empty(K)
    Wd, bd = W.astype(dtype), b.astype(dtype)
    with kernel_threads(n_threads):
        if rows is None:
            buf = DenseFullBuffers(**common)
            dense_loss_grad(X, y, sw, Wd, bd, binary, block_size, buf)
        else:
            buf = DenseBatchBuffers(
                Xg=np.full((n_chunks, block_size, d), np.nan, dtype=dtype),
                Wk=np.empty((K, d), dtype=dtype),
                bk=np.empty(K, dtype=dtype),
                gW=np.empty((K, d)),
                gb=np.empty(K),
                **common,
            )
            dense_batch_grad(X, y, sw, rows, Wd, bd, binary, buf)
    loss = reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, gW, gb)
    return loss, gW, gb, buf.Z


def make_problem(rng, n, d, n_classes, dtype, scale=1.0):
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, n_classes, size=n)
    K = n_classes - 1 if n_classes == 2 else n_classes
    W = (scale * rng.standard_normal((K, d))).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    return X, y, W, b


def assert_close(actual, expected, dtype):
    """rtol per dtype, with an absolute floor relative to the largest entry."""
    expected = np.asarray(expected, dtype=np.float64)
    rtol = TOL[dtype]["rtol"]
    atol = rtol * max(1.0, float(np.max(np.abs(expected)))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    "n, block_size, n_chunks",
    [
        (1, 4, 1),  # one row
        (3, 4, 1),  # fewer rows than a block
        (4, 4, 1),  # exactly one block
        (29, 4, 3),  # 8 blocks over 3 chunks: not divisible, last block partial
        (37, 5, 7),  # 8 blocks over 7 chunks
        (300, 128, 2),  # the production block size, partial last block
    ],
)
@pytest.mark.parametrize("n_classes", [2, 3, 10, 50])
@pytest.mark.parametrize("d", [7, 37])  # 37: the products' vectors and their tails
def test_dense_kernel_matches_reference(rng, dtype, n, block_size, n_chunks, n_classes, d):
    X, y, W, b = make_problem(rng, n, d, n_classes, dtype)
    binary = n_classes == 2
    sw = rng.uniform(0, 3, size=n)
    sw[::4] = 0.0  # zero weights must contribute nothing
    loss, gW, gb, Z = run_dense(X, y, W, b, binary, sw, block_size, n_chunks)
    r_loss, r_GW, r_gb, r_R = ref.loss_sum_terms(X.astype(np.float64), y, W, b, sw, binary)
    assert_close(loss, r_loss, dtype)
    assert_close(gW, r_GW, dtype)
    assert_close(gb, r_gb, dtype)
    # The work buffer ends holding sw * (P - Y) for the stored columns.
    assert_close(Z, r_R, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 6, 12])
@pytest.mark.parametrize("d", [7, 37])
@pytest.mark.parametrize("m, block_size, n_chunks", [(1, 4, 1), (13, 4, 2), (40, 8, 3)])
def test_dense_kernel_gathered_rows_match_reference(
    rng, dtype, n_classes, d, m, block_size, n_chunks
):
    """A minibatch given as a row list (repeats allowed) equals the reference on X[rows]."""
    X, y, W, b = make_problem(rng, 50, d, n_classes, dtype)
    binary = n_classes == 2
    sw = rng.uniform(0, 2, size=50)
    rows = rng.integers(0, 50, size=m).astype(np.intp)
    loss, gW, gb, Z = run_dense(X, y, W, b, binary, sw, block_size, n_chunks, rows=rows)
    r_loss, r_GW, r_gb, r_R = ref.loss_sum_terms(
        X[rows].astype(np.float64), y[rows], W, b, sw[rows], binary
    )
    assert_close(loss, r_loss, dtype)
    assert_close(gW, r_GW, dtype)
    assert_close(gb, r_gb, dtype)
    assert_close(Z, r_R, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 5])
def test_dense_kernel_unit_weights_equal_no_weights(rng, dtype, n_classes):
    X, y, W, b = make_problem(rng, 50, 6, n_classes, dtype)
    binary = n_classes == 2
    a = run_dense(X, y, W, b, binary, None)
    c = run_dense(X, y, W, b, binary, np.ones(50))
    for u, v in zip(a, c):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_dense_kernel_huge_logits(rng, dtype, n_classes):
    """Logits of magnitude 1e4: loss and gradients finite and equal to the reference."""
    X, y, W, b = make_problem(rng, 40, 5, n_classes, dtype, scale=1.0)
    W = (W * (1e4 / np.abs(X @ W.T).max())).astype(dtype)
    binary = n_classes == 2
    loss, gW, gb, Z = run_dense(X, y, W, b, binary)
    assert np.isfinite(loss) and np.all(np.isfinite(gW)) and np.all(np.isfinite(gb))
    r_loss, r_GW, r_gb, _ = ref.loss_sum_terms(X.astype(np.float64), y, W, b, None, binary)
    assert_close(loss, r_loss, dtype)
    assert_close(gW, r_GW, dtype)
    assert_close(gb, r_gb, dtype)


def kernel_softmax(Z, ref_zero, log, out):
    softmax_rows(Z, ref_zero, log, out)


# the numba kernel, and the NumPy function predictions of a few rows use
SOFTMAXES = pytest.mark.parametrize(
    "softmax", [kernel_softmax, small_softmax_rows], ids=["kernel", "numpy"]
)


@SOFTMAXES
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ref_zero", [False, True])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_rows_matches_reference(rng, softmax, dtype, ref_zero, log):
    Z = (5 * rng.standard_normal((33, 4))).astype(dtype)
    out = np.empty((33, 4 + ref_zero), dtype=dtype)
    with kernel_threads(2):
        softmax(Z, ref_zero, log, out)
    full = np.hstack([np.zeros((33, 1)), Z]) if ref_zero else Z
    expected = ref.log_softmax(full) if log else ref.softmax(full)
    assert_close(out, expected, dtype)


@SOFTMAXES
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("ref_zero", [False, True])
def test_softmax_rows_extreme_logits_stay_finite(softmax, dtype, ref_zero):
    big = np.finfo(dtype).max / 4
    Z = np.array(
        [
            [1e4, -1e4, 0.0],
            [big, -big, big],
            [-big, -big, -big],
            [0.0, 0.0, 0.0],
            [1e30, 1e30 * (1 - 1e-7), -1e30],
        ],
        dtype=dtype,
    )
    p = np.empty((5, 3 + ref_zero), dtype=dtype)
    lp = np.empty_like(p)
    with kernel_threads(1):
        softmax(Z, ref_zero, False, p)
        softmax(Z, ref_zero, True, lp)
    assert np.all(np.isfinite(p)) and np.all(p >= 0)
    assert np.all(np.isfinite(lp)) and np.all(lp <= 0)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=10 * np.finfo(dtype).eps)
    # the largest logit of each row gets the largest probability
    full = np.hstack([np.zeros((5, 1), dtype), Z]) if ref_zero else Z
    np.testing.assert_array_equal(np.argmax(lp, axis=1), np.argmax(full, axis=1))
    # where the probability is representable, log-softmax equals its log
    mask = p > np.finfo(dtype).tiny
    np.testing.assert_allclose(lp[mask], np.log(p[mask]), rtol=1e-5, atol=1e-6)


# K: one, two and three vectors of classes in the logits (float64: 4 lanes, float32: 8)
# and every remainder of the gradient's groups of five; d: every remainder of its vectors
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 2, 4, 5, 6, 9, 12, 13, 24, 25, 37])
@pytest.mark.parametrize("d", [1, 7, 8, 17, 35])
@pytest.mark.parametrize("m", [1, 3, 4, 9])
def test_block_products_match_numpy(rng, dtype, K, d, m):
    """The register-blocked products against float64 NumPy; outputs NaN-filled first
    (every element written), with a guard row after ``Z`` (no lane past ``K`` stored)."""
    X = rng.standard_normal((m, d)).astype(dtype)
    W = rng.standard_normal((K, d)).astype(dtype)
    WTp = np.full((d, padded_classes(K, dtype)), np.nan, dtype=dtype)
    pack_wt(W, WTp)
    assert np.all(WTp[:, K:] == 0)
    Z = np.full((m + 1, K), np.nan, dtype=dtype)
    logits_block(X, WTp, Z[:m])
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-5)
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(Z[:m], X64 @ W.astype(np.float64).T, **tol)
    assert np.all(np.isnan(Z[m]))
    R = rng.standard_normal((m, K)).astype(dtype)
    T = np.full((K, d), np.nan, dtype=dtype)
    grad_block(R, X, T)
    np.testing.assert_allclose(T, R.astype(np.float64).T @ X64, **tol)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_block_products_are_bit_identical_per_row(dtype):
    """A row's logits do not depend on the rows beside it in the block (four at a time,
    the last repeated past the end): the same bits alone as among others."""
    rng = np.random.default_rng(3)
    X = rng.standard_normal((11, 30)).astype(dtype)
    WTp = np.empty((30, padded_classes(10, dtype)), dtype=dtype)
    pack_wt(rng.standard_normal((10, 30)).astype(dtype), WTp)
    Z = np.empty((11, 10), dtype=dtype)
    logits_block(X, WTp, Z)
    for i in range(11):
        z = np.empty((1, 10), dtype=dtype)
        logits_block(X[i : i + 1], WTp, z)
        np.testing.assert_array_equal(z[0], Z[i])


GENERIC_CPU = """
import sys
import numpy as np
from sk_softmax._kernels import dense_full_buffers, dense_loss_grad, reduce_chunks
rng = np.random.default_rng(0)
for dtype in (np.float64, np.float32):
    X = rng.standard_normal((90, 37)).astype(dtype)
    y = rng.integers(0, 10, 90)
    W = rng.standard_normal((10, 37)).astype(dtype)
    b = rng.standard_normal(10).astype(dtype)
    buf = dense_full_buffers(90, 10, 37, dtype, block_size=16)
    dense_loss_grad(X, y, np.empty(0), W, b, False, 16, buf, parallel=False)
    gW, gb = np.empty((10, 37)), np.empty(10)
    loss = reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, gW, gb)
    np.save(sys.argv[1] + "/" + np.dtype(dtype).name, np.concatenate([[loss], gW.ravel(), gb]))
"""


def test_kernels_without_fma_or_avx(tmp_path):
    """Compiled for a generic x86-64 CPU (SSE2: no AVX, no FMA), the vectors are split
    into SSE registers and each multiply-add becomes a multiply and an add (LLVM's
    ``fmuladd``, not a library call): the results still match the reference."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    subprocess.run(
        [sys.executable, "-c", GENERIC_CPU, str(tmp_path)], check=True, env=env, timeout=600
    )
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        X = rng.standard_normal((90, 37)).astype(dtype)
        y = rng.integers(0, 10, 90)
        W = rng.standard_normal((10, 37)).astype(dtype)
        b = rng.standard_normal(10).astype(dtype)
        got = np.load(tmp_path / f"{np.dtype(dtype).name}.npy")
        r_loss, r_GW, r_gb, _ = ref.loss_sum_terms(X.astype(np.float64), y, W, b)
        assert_close(got[0], r_loss, dtype)
        assert_close(got[1:371].reshape(10, 37), r_GW, dtype)
        assert_close(got[371:], r_gb, dtype)


def test_vector_loads_are_bounds_checked():
    """With numba's bounds checking on, a vector load or store that would run past the
    array raises IndexError, as numba's own indexing does (tox's boundscheck run)."""
    import numba

    from sk_softmax._kernels._simd import vload, vstore, vzero

    @numba.njit(boundscheck=True)
    def load(a, i):
        v = vload(a, i)
        vstore(a, i, v)
        return a[i]

    @numba.njit(boundscheck=True)
    def store(a, i):
        vstore(a, i, vzero(a))

    a = np.arange(10.0)
    assert load(a, 6) == 6.0
    with pytest.raises(IndexError):
        load(a, 7)
    with pytest.raises(IndexError):
        store(np.zeros(12, dtype=np.float32), 5)
    store(np.zeros(12, dtype=np.float32), 4)


def test_package_reads_constants_from_their_module(monkeypatch):
    """``sk_softmax._kernels`` re-exports its modules' names lazily: a constant is read
    from its module each time, so a value patched there, and restored, is never left
    behind in the package (a test's ``evaluation`` fixture patches ``SMALL_MAX_WORK``)."""
    import sk_softmax._kernels as kernels
    from sk_softmax._kernels import _small

    original = _small.SMALL_MAX_WORK
    with monkeypatch.context() as patch:
        patch.setattr(_small, "SMALL_MAX_WORK", np.inf)
        assert kernels.SMALL_MAX_WORK == np.inf
    assert kernels.SMALL_MAX_WORK == original
    assert "SMALL_MAX_WORK" not in vars(kernels)
    assert kernels.softmax_rows is vars(kernels)["softmax_rows"]  # functions are kept
