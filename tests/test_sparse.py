"""Sparse (CSR) input: kernels against the reference, dense == sparse, awkward CSR."""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import MaxAbsScaler, StandardScaler

from sk_softmax import SoftmaxClassifier
from sk_softmax._kernels import CsrFullBuffers, csr_grad_finish, csr_loss_grad
from sk_softmax._loss import SoftmaxLoss
from sk_softmax._solvers._sgd import row_sq_norms
from sk_softmax._threading import kernel_threads

from . import reference as ref


def awkward_csr(rng, n=40, d=12, dtype=np.float64, index_dtype=np.int32):
    """CSR with unsorted and repeated indices, explicit zeros, empty rows and columns."""
    rows, cols, vals = [], [], []
    for i in range(n):
        if i % 7 == 3:
            continue  # empty row
        k = rng.integers(1, 6)
        c = rng.integers(0, d - 2, size=k)  # the last two columns stay empty
        c = np.concatenate([c, c[:1]])  # a repeated index: values add up
        v = rng.standard_normal(k + 1)
        v[0] = 0.0 if i % 5 == 0 else v[0]  # explicit zero
        rows += [i] * (k + 1)
        cols += list(c[::-1])  # unsorted
        vals += list(v)
    indptr = np.searchsorted(rows, np.arange(n + 1)).astype(index_dtype)
    X = sp.csr_matrix(
        (np.array(vals, dtype=dtype), np.array(cols, dtype=index_dtype), indptr), shape=(n, d)
    )
    assert not X.has_canonical_format
    return X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_classes", [2, 3, 7])
@pytest.mark.parametrize("n_chunks, n_scatter", [(1, 1), (3, 3), (3, 2), (4, 1)])
def test_csr_kernel_matches_reference(rng, dtype, index_dtype, n_classes, n_chunks, n_scatter):
    X = awkward_csr(rng, dtype=dtype, index_dtype=index_dtype)
    n, d = X.shape
    y = rng.integers(0, n_classes, n)
    K = 1 if n_classes == 2 else n_classes
    W = rng.standard_normal((K, d))
    b = rng.standard_normal(K)
    sw = rng.uniform(0, 2, n)
    buf = CsrFullBuffers(
        Z=np.full((n, K), np.nan, dtype=dtype),
        acc_WT=np.full((n_scatter, d, K), np.nan),
        acc_b=np.full((n_chunks, K), np.nan),
        acc_loss=np.full(n_chunks, np.nan),
    )
    Z, acc_WT, acc_b, acc_loss = buf
    with kernel_threads(2):
        csr_loss_grad(
            X.data,
            X.indices,
            X.indptr,
            y,
            sw,
            W.T.astype(dtype).copy(),
            b.astype(dtype),
            n_classes == 2,
            buf,
        )
    # the finishing pass: sum of chunks, transposed, scaled by inv, plus l2 * W
    l2, inv = 0.3, 0.5
    gW = np.empty((K, d))
    gb = np.empty(K)
    loss = csr_grad_finish(acc_WT, acc_b, acc_loss, W, l2, inv, gW, gb)
    Wd, bd = W.astype(dtype), b.astype(dtype)
    r_loss, r_GW, r_gb, r_R = ref.loss_sum_terms(
        X.toarray().astype(np.float64), y, Wd, bd, sw, n_classes == 2
    )
    rtol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(loss, r_loss, rtol=rtol)
    expected_gW = inv * r_GW + l2 * W
    np.testing.assert_allclose(gW, expected_gW, rtol=rtol, atol=rtol * np.abs(expected_gW).max())
    np.testing.assert_allclose(gb, inv * r_gb, rtol=rtol, atol=rtol * np.abs(r_gb).max())
    np.testing.assert_allclose(Z, r_R, rtol=rtol, atol=rtol)


@pytest.mark.usefixtures("evaluation")
@pytest.mark.parametrize("n_classes", [2, 5])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_loss_equals_dense_loss(rng, n_classes, fit_intercept):
    X = awkward_csr(rng, n=300, d=30)
    y = rng.integers(0, n_classes, 300)
    sw = rng.uniform(0, 2, 300)
    dense = SoftmaxLoss(X.toarray(), y, n_classes, sw, C=0.3, fit_intercept=fit_intercept)
    sparse = SoftmaxLoss(X, y, n_classes, sw, C=0.3, fit_intercept=fit_intercept)
    coef = rng.standard_normal(dense.n_params)
    f_d, g_d = dense.loss_gradient(coef)
    f_s, g_s = sparse.loss_gradient(coef)
    np.testing.assert_allclose(f_s, f_d, rtol=1e-12)
    np.testing.assert_allclose(g_s, g_d, rtol=1e-11, atol=1e-14)


def objective(est, X, y):
    y_enc = np.searchsorted(est.classes_, y)
    return ref.objective(X, y_enc, est.coef_, est.intercept_, est.C, None, len(est.classes_) == 2)


def digits_sparse():
    X, y = load_digits(return_X_y=True)
    X = MaxAbsScaler().fit_transform(X)  # keeps zeros: ~50% sparse
    return X, sp.csr_matrix(X), y


@pytest.mark.usefixtures("evaluation")
@pytest.mark.parametrize("n_classes", [2, 10])
def test_lbfgs_dense_equals_sparse(n_classes, monkeypatch):
    from sk_softmax import _precision

    X, Xs, y = digits_sparse()
    if n_classes == 2:
        y = y % 2
    kw = dict(tol=1e-10, max_iter=5000, C=0.05)  # well conditioned: both reach the optimum
    sparse = SoftmaxClassifier(**kw).fit(Xs, y)
    # With its float32 stage the dense fit takes another path to the optimum; both stop
    # on scipy's ftol test with |grad| ~ 1e-8, which leaves coefficients ~5e-7 apart
    # (binary) but the objective the same.
    mixed = SoftmaxClassifier(**kw).fit(X, y)
    f = [objective(est, X, y) for est in (sparse, mixed)]
    assert abs(f[1] - f[0]) <= 1e-11 * f[0]
    # Without the float32 stage: both kernels in float64, both ending on the
    # relative-decrease test (|grad| ~ 1e-8, where the objective is flat to rounding);
    # the dense kernel's products go through BLAS, whose kernels (AVX-512, AVX2, ...)
    # round differently, so the fits end up to ~1e-6 apart
    monkeypatch.setattr(_precision, "FLOAT32_STAGE_MAX_COPY_BYTES", 0)
    dense = SoftmaxClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=5e-6)
    # unpenalised multinomial intercepts are defined up to a shift shared by all classes
    b_d, b_s = dense.intercept_, sparse.intercept_
    if n_classes > 2:
        b_d, b_s = b_d - b_d.mean(), b_s - b_s.mean()
    # unpenalised, the intercepts have little curvature (with the mean pixel weights they
    # make a nearly flat direction): L-BFGS stops (ftol) with |grad| ~ 1e-8, which leaves
    # them ~1e-5 apart, the objective the same (above)
    np.testing.assert_allclose(b_s, b_d, atol=5e-5)


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("n_classes", [2, 10])
def test_sgd_dense_equals_sparse(n_classes, average):
    """Same shuffles, same steps: scaled sparse weights follow the dense iterates."""
    X, Xs, y = digits_sparse()
    if n_classes == 2:
        # one stored class: four copies of the rows keep the problem past SMALL_MAX_WORK
        X, Xs, y = np.tile(X, (4, 1)), sp.vstack([Xs] * 4).tocsr(), np.tile(y % 2, 4)
    assert not SoftmaxLoss(Xs, y, n_classes).small  # the kernels' steps, not NumPy's
    kw = dict(solver="sgd", random_state=0, max_iter=4, tol=None, average=average, C=0.05)
    dense = SoftmaxClassifier(**kw).fit(X, y)
    sparse = SoftmaxClassifier(**kw).fit(Xs, y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-10)
    # and partial_fit
    p_dense = SoftmaxClassifier(**kw).partial_fit(X, y, classes=np.unique(y))
    p_sparse = SoftmaxClassifier(**kw).partial_fit(Xs, y, classes=np.unique(y))
    np.testing.assert_allclose(p_sparse.coef_, p_dense.coef_, rtol=1e-9, atol=1e-10)


def test_sgd_sparse_large_penalty_step():
    """A step that shrinks W by more than half takes the materialised path: still equal."""
    X, Xs, y = digits_sparse()
    kw = dict(
        solver="sgd",
        random_state=0,
        max_iter=2,
        tol=None,
        C=1e-4,
        eta0=10.0,
        learning_rate="constant",
    )
    dense = SoftmaxClassifier(**kw).fit(X, y)
    sparse = SoftmaxClassifier(**kw).fit(Xs, y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("fmt", ["csr_array", "csc_matrix", "coo_matrix"])
def test_sparse_formats_fit_as_csr(fmt):
    """Other sparse formats are converted to CSR: the same path on the same data."""
    X, Xs, y = digits_sparse()
    csr = SoftmaxClassifier(max_iter=300).fit(Xs, y)
    clf = SoftmaxClassifier(max_iter=300).fit(getattr(sp, fmt)(Xs), y)
    np.testing.assert_allclose(clf.coef_, csr.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, csr.intercept_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(
        clf.predict_proba(getattr(sp, fmt)(Xs)), csr.predict_proba(X), rtol=1e-10
    )


def max_abs_gradient(est, X, y):
    """The stopping test's quantity (``tol`` bounds it): the float64 gradient's max-norm."""
    loss = SoftmaxLoss(X, np.searchsorted(est.classes_, y), len(est.classes_), C=est.C)
    return np.abs(loss.loss_gradient(loss.pack(est.coef_, est.intercept_))[1]).max()


def test_predict_across_dense_and_sparse():
    """A model fitted on either kind of input predicts the same on both kinds, and both
    fits meet the stopping test.

    The dense float64 fit and the CSR fit take different paths (the dense one has a
    float32 stage) and stop at different points within ``tol``: at tol=1e-4 they may label
    a point near a class boundary differently (1 of 1797 digits on an AMD EPYC), so they
    are held to what both guarantee, not to each other's labels
    (test_lbfgs_dense_equals_sparse compares the two paths at a tight tol)."""
    X, Xs, y = digits_sparse()
    tol = 1e-4
    for data in (X, Xs):
        est = SoftmaxClassifier(max_iter=300, tol=tol).fit(data, y)
        # the stopping test of the same float64 objective, evaluated on either kind of
        # input (the two evaluations agree to rounding, ~1e-16 of the gradient's terms)
        for other in (X, Xs):
            assert max_abs_gradient(est, other, y) <= tol * (1 + 1e-9)
        np.testing.assert_allclose(est.predict_proba(Xs), est.predict_proba(X), rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float_dtype_kept(rng, dtype):
    """(That the matrix is left untouched is tests/test_properties.py's.)"""
    X = awkward_csr(rng, n=200, d=20, dtype=dtype)
    y = rng.integers(0, 3, 200)
    for solver in ("lbfgs", "sgd"):
        clf = SoftmaxClassifier(solver=solver, max_iter=20, tol=None if solver == "sgd" else 1e-4)
        clf.fit(X, y)
        assert clf.coef_.dtype == dtype
        assert clf.predict_proba(X).dtype == dtype


@pytest.mark.slow
def test_no_densification_huge_sparse():
    """1e6 x 1e6 CSR with 1e6 non-zeros (8 TB dense): both solvers fit in bounded memory."""
    n = d = 1_000_000
    rng = np.random.default_rng(0)
    X = sp.csr_matrix((rng.random(n), (np.arange(n), rng.integers(0, d, n))), shape=(n, d))
    y = rng.integers(0, 2, n)
    tracemalloc.start()
    lbfgs = SoftmaxClassifier(max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # may stop at max_iter
        lbfgs.fit(X, y)
    sgd = SoftmaxClassifier(solver="sgd", max_iter=1, tol=None, batch_size=4096).fit(X, y)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lbfgs.coef_.shape == sgd.coef_.shape == (1, d)
    assert np.all(np.isfinite(sgd.coef_))
    assert peak < 2 * 2**30  # well under 2 GiB; the dense matrix would be 8 TB


@pytest.mark.usefixtures("evaluation")
def test_iris_sparse_lbfgs_agrees_with_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    X, y = load_iris(return_X_y=True)
    Xs = sp.csr_matrix(StandardScaler().fit_transform(X))
    ours = SoftmaxClassifier(tol=1e-10, max_iter=5000).fit(Xs, y)
    sk = LogisticRegression(tol=1e-10, max_iter=5000).fit(Xs, y)
    np.testing.assert_allclose(ours.predict_proba(Xs), sk.predict_proba(Xs), atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sq_norms_match_dense(rng, dtype):
    """Repeated indices add up before squaring, as in ``toarray``; float64 results, from
    NumPy (``row_sq_norms`` of a small CSR matrix) and from the kernel (larger ones)."""
    from sk_softmax._kernels import csr_row_sq_norms, small_csr_row_sq_norms

    X = awkward_csr(rng, dtype=dtype)
    data, indices = X.data.copy(), X.indices.copy()
    dense = X.toarray().astype(np.float64)
    expected = (dense**2).sum(axis=1)
    rtol = 1e-12 if dtype == np.float64 else 1e-6
    got = row_sq_norms(X)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=rtol)
    np.testing.assert_allclose(small_csr_row_sq_norms(X), expected, rtol=rtol)
    # X is left as it was (its repeats are summed on a copy)
    np.testing.assert_array_equal(X.data, data)
    np.testing.assert_array_equal(X.indices, indices)
    kernel = np.empty(X.shape[0])
    csr_row_sq_norms(X.data, X.indices, X.indptr, np.zeros(X.shape[1]), kernel)
    np.testing.assert_allclose(kernel, expected, rtol=rtol)
    np.testing.assert_allclose(row_sq_norms(dense.astype(dtype)), expected, rtol=1e-6)


def test_sgd_ignores_how_entries_are_stored():
    """A CSR matrix whose entries are split into repeats is the same data: same model
    (the automatic step size included)."""
    _, X, y = digits_sparse()
    X, y = X[:300], y[:300]
    parts = 3
    Xrep = sp.csr_matrix(
        (
            np.repeat(X.data / parts, parts),
            np.repeat(X.indices, parts),
            np.concatenate(([0], np.cumsum(np.diff(X.indptr) * parts))),
        ),
        shape=X.shape,
    )
    assert Xrep.nnz == parts * X.nnz
    np.testing.assert_allclose(Xrep.toarray(), X.toarray(), atol=1e-15)
    kw = dict(solver="sgd", max_iter=3, tol=None, random_state=0)
    a = SoftmaxClassifier(**kw).fit(X, y)
    b = SoftmaxClassifier(**kw).fit(Xrep, y)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-9, atol=1e-11)
