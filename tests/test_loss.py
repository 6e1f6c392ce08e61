"""The loss object: scaling, layout, gradient, buffers, thread independence."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse as sp

from sk_softmax._loss import SoftmaxLoss
from sk_softmax._threading import kernel_threads

from . import reference as ref


def make(rng, n=60, d=5, n_classes=3, dtype=np.float64, weighted=False):
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, n_classes, size=n)
    y[:n_classes] = np.arange(n_classes)
    sw = rng.uniform(0, 2, size=n) if weighted else None
    return X, y, sw


@pytest.mark.usefixtures("evaluation")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_classes", [2, 3, 7])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("C", [0.01, 1.0, np.inf])
def test_loss_gradient_matches_reference(rng, dtype, n_classes, fit_intercept, weighted, C):
    X, y, sw = make(rng, n_classes=n_classes, dtype=dtype, weighted=weighted)
    loss = SoftmaxLoss(X, y, n_classes, sw, C=C, fit_intercept=fit_intercept)
    coef = rng.standard_normal(loss.n_params)
    W, b = loss.weight_intercept(coef)
    # the kernels see coefficients rounded to X's dtype
    Wd, bd = W.astype(dtype), b.astype(dtype)
    value, grad = loss.loss_gradient(coef)
    binary = n_classes == 2
    r_value = ref.objective(X, y, Wd, bd, C, sw, binary)
    r_gW, r_gb = ref.objective_gradient(X, y, Wd, bd, C, sw, binary)
    if not np.isinf(C):
        # the penalty is evaluated on the float64 coefficients
        S = X.shape[0] if sw is None else sw.sum()
        r_value += (np.sum(W**2) - np.sum(Wd.astype(np.float64) ** 2)) / (2 * C * S)
        r_gW += (W - Wd) / (C * S)
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(value, r_value, rtol=rtol)
    gW, gb = loss.weight_intercept(grad)
    np.testing.assert_allclose(gW, r_gW, rtol=rtol, atol=rtol * np.abs(r_gW).max())
    if fit_intercept:
        np.testing.assert_allclose(gb, r_gb, rtol=rtol, atol=rtol * np.abs(r_gb).max())
    else:
        assert grad.shape == (loss.layout.K * X.shape[1],)


@pytest.mark.usefixtures("evaluation")
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_finite_differences(rng, n_classes, fit_intercept, weighted):
    X, y, sw = make(rng, n=40, d=4, n_classes=n_classes, weighted=weighted)
    loss = SoftmaxLoss(X, y, n_classes, sw, C=0.7, fit_intercept=fit_intercept)
    coef = 0.5 * rng.standard_normal(loss.n_params)
    _, grad = loss.loss_gradient(coef)
    h = 1e-6
    fd = np.empty_like(coef)
    for j in range(coef.size):
        e = np.zeros_like(coef)
        e[j] = h
        fd[j] = (loss.loss(coef + e) - loss.loss(coef - e)) / (2 * h)
    np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


def test_x_of_another_format_or_layout_raises(rng):
    """The loss takes CSR or C-contiguous X (validation converts the rest): another sparse
    format or a dense layout is a ValueError, not a kernel's typing error."""
    X = rng.standard_normal((50, 4))
    y = rng.integers(0, 3, 50)
    with pytest.raises(ValueError, match="C-contiguous"):
        SoftmaxLoss(np.asfortranarray(X), y, 3, None)
    with pytest.raises(ValueError, match="CSR"):
        SoftmaxLoss(sp.csc_matrix(X), y, 3, None)


@pytest.mark.usefixtures("evaluation")
@pytest.mark.parametrize("n_classes", [2, 5])
def test_layout_is_documented_one(rng, n_classes):
    X, y, _ = make(rng, n_classes=n_classes)
    loss = SoftmaxLoss(X, y, n_classes, fit_intercept=True)
    K = n_classes - 1 if n_classes == 2 else n_classes
    assert loss.coef_shape == (K, X.shape[1] + 1)
    W = rng.standard_normal((K, X.shape[1]))
    b = rng.standard_normal(K)
    coef = loss.pack(W, b)
    # row k of the (K, n_features + 1) C-order reshape is [W_k, b_k]
    np.testing.assert_array_equal(coef.reshape(K, -1), np.hstack([W, b[:, None]]))
    W2, b2 = loss.weight_intercept(coef)
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(b2, b)


@pytest.mark.usefixtures("evaluation")
def test_scaling_matches_sklearn_linear_model_loss(rng):
    """Same objective and gradient as scikit-learn's LinearModelLoss with l2 = 1/(C S)."""
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    X, y, sw = make(rng, n=80, d=6, n_classes=4, weighted=True)
    C = 0.3
    ours = SoftmaxLoss(X, y, 4, sw, C=C, fit_intercept=True)
    coef = rng.standard_normal(ours.n_params)
    sk = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=4), fit_intercept=True)
    # scikit-learn's multinomial layout is the same matrix raveled in F order
    sk_coef = coef.reshape(ours.coef_shape).ravel(order="F")
    sk_val, sk_grad = sk.loss_gradient(sk_coef, X, y.astype(float), sw, 1.0 / (C * sw.sum()))
    val, grad = ours.loss_gradient(coef)
    np.testing.assert_allclose(val, sk_val, rtol=1e-12)
    np.testing.assert_allclose(
        grad.reshape(ours.coef_shape),
        sk_grad.reshape(ours.coef_shape, order="F"),
        rtol=1e-10,
        atol=1e-14,
    )


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_minibatch_loss_gradient_is_the_batch_mean_plus_the_full_penalty(
    rng, sparse, n_classes, weighted
):
    """loss_gradient(coef, rows) = the reference's weighted mean cross-entropy over the
    rows (repeats count twice) + the penalty with S of all the data."""
    import scipy.sparse as sps

    X, y, sw = make(rng, n=90, d=6, n_classes=n_classes, weighted=weighted)
    Xin = sps.csr_matrix(X) if sparse else X
    C = 0.7
    loss = SoftmaxLoss(Xin, y, n_classes, sw, C=C)
    coef = rng.standard_normal(loss.n_params)
    rows = rng.integers(0, 90, size=37)
    rows[1] = rows[0]  # a repeat
    value, grad = loss.loss_gradient(coef, rows)
    W, b = loss.weight_intercept(coef)
    w_rows = np.ones(37) if sw is None else sw[rows]
    r_loss, r_GW, r_gb, _ = ref.loss_sum_terms(X[rows], y[rows], W, b, w_rows, n_classes == 2)
    S_B, S = w_rows.sum(), (90.0 if sw is None else sw.sum())
    l2 = 1.0 / (C * S)
    np.testing.assert_allclose(value, r_loss / S_B + 0.5 * l2 * np.sum(W * W), rtol=1e-12)
    g = grad.reshape(loss.coef_shape)
    np.testing.assert_allclose(g[:, :-1], r_GW / S_B + l2 * W, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(g[:, -1], r_gb / S_B, rtol=1e-10, atol=1e-13)
    # all the rows, in order, as a minibatch: the full objective
    np.testing.assert_allclose(
        loss.loss_gradient(coef, np.arange(90))[0], loss.loss(coef), rtol=1e-12
    )


def test_X_referenced_not_copied(rng):
    """(That the inputs are left unmodified is tests/test_properties.py's.)"""
    X, y, sw = make(rng, n=300, weighted=True)
    X.setflags(write=False)
    assert SoftmaxLoss(X, y, 3, sw).X is X


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_classes", [2, 5])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_numpy_and_kernel_evaluations_agree(rng, sparse, n_classes, weighted, fit_intercept):
    """The NumPy path of small problems and the kernels sum in other orders: they agree
    to 1e-12 relative in float64 (the bound docs/design.md gives), not bit for bit, on
    all rows and on a minibatch (SGD's gradients)."""
    X, y, sw = make(rng, n=400, d=8, n_classes=n_classes, weighted=weighted)
    if sparse:
        X = sp.csr_matrix(np.where(rng.random(X.shape) < 0.3, X, 0.0))
    coef = rng.standard_normal((n_classes - (n_classes == 2)) * (8 + fit_intercept)) * 3
    out = {}
    # a minibatch with repeats, as SGD's (with replacement) may give
    rows = np.r_[rng.integers(0, 400, 40), 3, 3]
    for name, limit in (("kernels", 0), ("numpy", np.inf)):
        loss = SoftmaxLoss(
            X, y, n_classes, sw, C=0.5, fit_intercept=fit_intercept, small_max_work=limit
        )
        assert loss.small == (name == "numpy")
        with kernel_threads(1):
            out[name] = loss.loss_gradient(coef)
            out[name, "batch"] = loss.loss_gradient(coef, rows)
    for key in ("numpy", ("numpy", "batch")):
        ref_key = "kernels" if key == "numpy" else ("kernels", "batch")
        np.testing.assert_allclose(out[key][0], out[ref_key][0], rtol=1e-12)
        scale = np.abs(out[ref_key][1]).max()
        np.testing.assert_allclose(out[key][1], out[ref_key][1], rtol=0, atol=1e-12 * scale)


def test_small_problems_take_the_numpy_path(rng):
    """Below ``SMALL_MAX_WORK`` multiply-adds (dense ``n * d * K``, CSR ``nnz * K``) the
    loss evaluates with NumPy; at it, with the kernels."""
    import scipy.sparse as sp

    from sk_softmax._kernels import SMALL_MAX_WORK

    n = SMALL_MAX_WORK // (10 * 4)
    X, y, _ = make(rng, n=n, d=10, n_classes=4)
    assert not SoftmaxLoss(X, y, 4).small
    assert SoftmaxLoss(X[:-1], y[:-1], 4).small
    Xs = sp.csr_matrix(X)
    assert SoftmaxLoss(sp.vstack([Xs, Xs]).tocsr()[: n // 2], y[: n // 2], 4).small
    assert not SoftmaxLoss(sp.vstack([Xs, Xs]).tocsr(), np.r_[y, y], 4).small


def test_evaluation_allocates_nothing_per_sample():
    """One evaluation allocates no n_samples-sized array: numpy allocations stay small
    and numba's allocation count does not grow with the number of rows (blocks)."""
    code = textwrap.dedent(
        """
        import tracemalloc
        import numpy as np
        from numba.core.runtime import rtsys
        from sk_softmax._loss import SoftmaxLoss
        rng = np.random.default_rng(0)
        for n in (2_000, 40_000):
            X = rng.standard_normal((n, 30)); y = rng.integers(0, 10, n)
            loss = SoftmaxLoss(X, y, 10, None)
            coef = np.zeros(loss.n_params)
            loss.loss_gradient(coef)
            before = rtsys.get_allocation_stats().alloc
            tracemalloc.start()
            loss.loss_gradient(coef)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(n, rtsys.get_allocation_stats().alloc - before, peak)
        """
    )
    env = dict(os.environ, NUMBA_NRT_STATS="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    small_allocs, _, large_allocs, large_peak = (int(v) for v in out[1:3] + out[4:6])
    assert large_allocs == small_allocs  # per call, not per block
    assert large_peak < 40_000 * 10 * 8 / 10  # far below one (n_samples, n_classes) array


def test_dense_blocks_fit_the_cache_budget():
    """Blocks hold about BLOCK_BYTES of X (the gradient's product reads the block again
    from cache), in whole steps of the logits' product, at most BLOCK_SIZE rows."""
    from sk_softmax._kernels import BLOCK_BYTES, BLOCK_SIZE, LOGITS_BLOCKING, dense_block_size

    for d in (1, 4, 64, 784, 3000, 100_000):
        for itemsize in (4, 8):
            step = LOGITS_BLOCKING[itemsize][0]
            rows = dense_block_size(d, itemsize)
            assert 16 - step < rows <= BLOCK_SIZE and rows % step == 0
            assert rows * d * itemsize <= BLOCK_BYTES or rows <= 16
    assert dense_block_size(784, 8) == 40
    assert dense_block_size(784, 4) == 78
    assert dense_block_size(10, 8) == BLOCK_SIZE


def test_block_size_changes_only_rounding(rng):
    X, y, sw = make(rng, n=3000, d=40, n_classes=5, weighted=True)
    coef = rng.standard_normal(5 * 41)
    out = []
    for block in (None, 7, 128):
        loss = SoftmaxLoss(X, y, 5, sw, C=0.3)
        assert not loss.small
        if block is not None:
            loss._block_size = block
        with kernel_threads(2):
            out.append(loss.loss_gradient(coef))
    for v, g in out[1:]:
        np.testing.assert_allclose(v, out[0][0], rtol=1e-12)
        np.testing.assert_allclose(g, out[0][1], rtol=0, atol=1e-12 * np.abs(out[0][1]).max())


# -- the float32 stage of a float64 loss (sk_softmax._precision) ------------------------


@pytest.mark.parametrize("n_classes", [2, 5])
@pytest.mark.parametrize("weighted", [False, True])
def test_float32_stage_is_the_same_objective_in_float32(rng, n_classes, weighted):
    from sk_softmax._precision import precision_stages

    X, y, sw = make(rng, n=2000, d=120, n_classes=n_classes, weighted=weighted)
    loss = SoftmaxLoss(X, y, n_classes, sw, C=0.3)
    stages = precision_stages(loss)
    assert stages.final is loss
    twin = stages.float32
    assert twin.X.dtype == np.float32 and not np.shares_memory(twin.X, X)
    assert twin.penalty is loss.penalty
    streaming = SoftmaxLoss(X, y, n_classes, sw, C=0.3, penalty_weight_sum=1234.5)
    assert precision_stages(streaming).float32.penalty.weight_sum == 1234.5
    coef = 0.3 * rng.standard_normal(loss.n_params)
    f64, g64 = loss.loss_gradient(coef)
    f32, g32 = twin.loss_gradient(coef)
    assert g32.dtype == np.float64
    # the reference on the float32-rounded data: only the products' rounding differs
    W, b = loss.weight_intercept(coef)
    X_r = X.astype(np.float32).astype(np.float64)
    binary = n_classes == 2
    f_ref = ref.objective(X_r, y, W, b, 0.3, sw, binary)
    gW_ref, gb_ref = ref.objective_gradient(X_r, y, W, b, 0.3, sw, binary)
    gW, gb = loss.weight_intercept(g32)
    assert abs(f32 - f_ref) <= 1e-6 * abs(f_ref)
    np.testing.assert_allclose(gW, gW_ref, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(gb, gb_ref, rtol=1e-4, atol=1e-6)
    assert abs(f32 - f64) <= 1e-5 * abs(f64)
    # a copy made once (a path over C) is reused, not made again
    again = precision_stages(SoftmaxLoss(X, y, n_classes, sw, C=3.0), stages.float32_X)
    assert again.float32.X is twin.X


def test_float32_stage_only_where_it_pays_and_is_safe(rng, monkeypatch):
    import scipy.sparse as sp

    from sk_softmax import _precision

    def float32_stage(loss):
        return _precision.precision_stages(loss).float32

    X, y, _ = make(rng, n=2000, d=30, n_classes=4)
    assert float32_stage(SoftmaxLoss(X, y, 4)) is not None
    assert float32_stage(SoftmaxLoss(X.astype(np.float32), y, 4)) is None
    assert float32_stage(SoftmaxLoss(sp.csr_matrix(X), y, 4)) is None
    assert float32_stage(SoftmaxLoss(X[:100], y[:100], 4)) is None  # NumPy path
    assert float32_stage(SoftmaxLoss(X, y, 4, l1_ratio=0.5)) is None  # the L1 solver
    for value in (1e300, -1e300):  # beyond float32's range, either side
        big = X.copy()
        big[7, 3] = value
        assert float32_stage(SoftmaxLoss(big, y, 4)) is None
    monkeypatch.setattr(_precision, "FLOAT32_STAGE_MAX_COPY_BYTES", X.size * 4 - 1)
    assert float32_stage(SoftmaxLoss(X, y, 4)) is None
