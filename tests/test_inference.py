"""Statistical inference: covariance_matrix, std_errors, coef_table and the likelihood
criteria, against statsmodels (MNLogit, Logit) and the NumPy oracle."""

import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning

from sk_softmax import SoftmaxClassifier

from . import reference

sm = pytest.importorskip("statsmodels.api")
pd = pytest.importorskip("pandas")

PARAM_RTOL = 1e-6
SE_RTOL = 1e-5


def admissions(n_per_class=120, seed=0):
    """The admissions example's data: GPA and exam score, three overlapping classes."""
    rng = np.random.default_rng(seed)
    centres = {"rejected": (2.9, 58.0), "waitlisted": (3.5, 71.0), "admitted": (4.0, 83.0)}
    X = np.vstack([rng.normal(c, (0.32, 7.0), size=(n_per_class, 2)) for c in centres.values()])
    return X, np.repeat(list(centres), n_per_class)


def overlapping(n=400, n_features=4, n_classes=4, seed=1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features))
    W = rng.normal(size=(n_classes, n_features))
    Z = X @ W.T + rng.gumbel(size=(n, n_classes)) * 1.5
    return X, Z.argmax(axis=1)


def mnlogit(X, y_enc, cov_type="nonrobust", groups=None, constant=True):
    exog = sm.add_constant(X) if constant else X
    kwargs = {"cov_type": cov_type}
    if groups is not None:
        kwargs["cov_kwds"] = {"groups": groups}
    return sm.MNLogit(y_enc, exog).fit(disp=0, method="newton", maxiter=100, **kwargs)


def test_admissions_mle_equals_mnlogit():
    X, y = admissions()
    clf = SoftmaxClassifier(C=np.inf).fit(X, y)
    res = mnlogit(X, np.searchsorted(clf.classes_, y))
    table = clf.coef_table(X, y)
    # MNLogit's params are (n_coef, n_classes - 1): ours are their transpose, row-major
    np.testing.assert_allclose(table["coef"], res.params.T.ravel(), rtol=PARAM_RTOL)
    np.testing.assert_allclose(table["std_err"], res.bse.T.ravel(), rtol=SE_RTOL)
    np.testing.assert_allclose(clf.std_errors(X, y), res.bse.T, rtol=SE_RTOL)
    np.testing.assert_allclose(clf.covariance_matrix(X, y), res.cov_params(), rtol=SE_RTOL)
    np.testing.assert_allclose(table["p_value"], res.pvalues.T.ravel(), rtol=1e-4, atol=1e-12)
    ci = res.conf_int()  # (equation, coefficient, lower/upper)
    np.testing.assert_allclose(table["ci_lower"], ci[:, :, 0].ravel(), rtol=1e-5)
    np.testing.assert_allclose(table["ci_upper"], ci[:, :, 1].ravel(), rtol=1e-5)
    assert list(table.index.get_level_values("class").unique()) == ["rejected", "waitlisted"]
    assert list(table.index.get_level_values("feature")[:3]) == ["intercept", "x0", "x1"]
    assert list(table.columns) == ["coef", "std_err", "z", "p_value", "ci_lower", "ci_upper"]


def test_likelihood_criteria_equal_statsmodels():
    X, y = admissions()
    clf = SoftmaxClassifier(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
    res = mnlogit(X, np.searchsorted(clf.classes_, y))
    assert clf.log_likelihood(X, y) == pytest.approx(res.llf, rel=1e-9)
    assert clf.aic(X, y) == pytest.approx(res.aic, rel=1e-9)
    assert clf.bic(X, y) == pytest.approx(res.bic, rel=1e-9)
    assert clf.pseudo_r2(X, y) == pytest.approx(res.prsquared, rel=1e-8)


@pytest.mark.parametrize("cov_type", ["HC0", "cluster"])
def test_robust_covariances_equal_statsmodels(cov_type):
    X, y = overlapping()
    groups = np.arange(X.shape[0]) % 23 if cov_type == "cluster" else None
    clf = SoftmaxClassifier(C=np.inf).fit(X, y)
    res = mnlogit(X, y, cov_type, groups)
    cov = clf.covariance_matrix(X, y, cov_type=cov_type, groups=groups)
    # entries near zero (1e-3 of the largest) agree to the matrix's scale, not their own
    expected = res.cov_params()
    atol = 1e-6 * np.max(np.abs(expected))
    np.testing.assert_allclose(cov, expected, rtol=SE_RTOL, atol=atol)


def test_hc1_is_hc0_times_n_over_n_minus_k():
    X, y = overlapping()
    clf = SoftmaxClassifier(C=np.inf).fit(X, y)
    hc0 = clf.covariance_matrix(X, y, cov_type="HC0")
    hc1 = clf.covariance_matrix(X, y, cov_type="HC1")
    n, k = X.shape[0], 3 * (X.shape[1] + 1)
    np.testing.assert_allclose(hc1, hc0 * n / (n - k), rtol=1e-12)


@pytest.mark.parametrize("reference_class", [1, 3])
def test_reference_class_equals_mnlogit_with_that_base(reference_class):
    X, y = overlapping()
    clf = SoftmaxClassifier(C=np.inf).fit(X, y)
    # MNLogit's base is its first category: relabel so that reference_class comes first
    order = [reference_class] + [k for k in range(4) if k != reference_class]
    res = mnlogit(X, np.argsort(order)[y])
    table = clf.coef_table(X, y, reference_class=reference_class)
    assert list(table.index.get_level_values("class").unique()) == order[1:]
    np.testing.assert_allclose(table["coef"], res.params.T.ravel(), rtol=PARAM_RTOL)
    np.testing.assert_allclose(table["std_err"], res.bse.T.ravel(), rtol=SE_RTOL)


def test_without_intercept_equals_mnlogit_without_constant():
    X, y = overlapping()
    clf = SoftmaxClassifier(C=np.inf, fit_intercept=False).fit(X, y)
    res = mnlogit(X, y, constant=False)
    np.testing.assert_allclose(clf.std_errors(X, y), res.bse.T, rtol=SE_RTOL)
    assert "intercept" not in clf.coef_table(X, y).index.get_level_values("feature")


@pytest.mark.parametrize("reference_class", [None, "b"])
def test_binary_equals_logit(reference_class):
    X, y_enc = overlapping(n_classes=2)
    y = np.array(["a", "b"])[y_enc]
    clf = SoftmaxClassifier(C=np.inf).fit(X, y)
    res = sm.Logit(y_enc.astype(float), sm.add_constant(X)).fit(disp=0)
    sign = -1.0 if reference_class == "b" else 1.0
    table = clf.coef_table(X, y, reference_class=reference_class)
    np.testing.assert_allclose(table["coef"], sign * res.params, rtol=PARAM_RTOL)
    np.testing.assert_allclose(table["std_err"], res.bse, rtol=SE_RTOL)
    assert table.index[0][0] == ("a" if reference_class == "b" else "b")
    hc0 = sm.Logit(y_enc.astype(float), sm.add_constant(X)).fit(disp=0, cov_type="HC0")
    got = clf.covariance_matrix(X, y, cov_type="HC0")
    np.testing.assert_allclose(got, hc0.cov_params(), rtol=SE_RTOL, atol=1e-12)


def _fd_hessian(X, y, W, b, C, binary):
    """Central differences of the oracle's gradient, in sum units (times S)."""
    n = X.shape[0]

    def grad(theta):
        Wt, bt = theta[:, 1:], theta[:, 0]
        gW, gb = reference.objective_gradient(X, y, Wt, bt, C, binary=binary)
        return n * np.column_stack([gb, gW]).ravel()

    theta = np.column_stack([b, W])
    H = np.empty((theta.size, theta.size))
    for i in range(theta.size):
        e = np.zeros(theta.size)
        e[i] = 1e-5
        H[:, i] = (
            grad(theta + e.reshape(theta.shape)) - grad(theta - e.reshape(theta.shape))
        ) / 2e-5
    return 0.5 * (H + H.T)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_penalized_covariance_is_the_inverse_penalized_hessian(n_classes):
    X, y = overlapping(n=300, n_features=3, n_classes=n_classes)
    C = 0.05
    clf = SoftmaxClassifier(C=C).fit(X, y)
    tight = SoftmaxClassifier(C=C, tol=1e-12, max_iter=10_000).fit(X, y)
    table = clf.coef_table(X, y)
    W, b = tight.coef_, tight.intercept_
    H = _fd_hessian(X, y, W, b, C, binary=n_classes == 2)
    if n_classes > 2:
        # the intercepts' common shift is not identified: the pseudo-inverse on the rest
        v = np.zeros((n_classes, 4))
        v[:, 0] = 1 / np.sqrt(n_classes)
        P = np.eye(v.size) - np.outer(v.ravel(), v.ravel())
        expected = np.linalg.pinv(P @ H @ P, rcond=1e-8, hermitian=True)
        b = b - b.mean()
    else:
        expected = np.linalg.inv(H)
    np.testing.assert_allclose(table["coef"], np.column_stack([b, W]).ravel(), atol=1e-7)
    np.testing.assert_allclose(clf.covariance_matrix(X, y), expected, rtol=1e-5, atol=1e-9)


def test_penalized_contrast_is_the_linear_map_of_the_symmetric_covariance():
    X, y = overlapping(n_classes=3)
    clf = SoftmaxClassifier(C=0.1).fit(X, y)
    sym = clf.covariance_matrix(X, y)
    q = X.shape[1] + 1
    A = np.zeros((2 * q, 3 * q))
    for row, k in enumerate([0, 2]):  # contrasts against class 1
        A[row * q : (row + 1) * q, k * q : (k + 1) * q] = np.eye(q)
        A[row * q : (row + 1) * q, q : 2 * q] = -np.eye(q)
    got = clf.covariance_matrix(X, y, reference_class=1)
    np.testing.assert_allclose(got, A @ sym @ A.T, rtol=1e-9, atol=1e-12)
    params = clf.coef_table(X, y).coef.to_numpy().reshape(3, q)
    contrast = clf.coef_table(X, y, reference_class=1).coef.to_numpy().reshape(2, q)
    np.testing.assert_allclose(contrast, params[[0, 2]] - params[1], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1", "cluster"])
def test_frequency_weights_equal_repeated_rows(cov_type):
    X, y = overlapping(n=150, n_classes=3)
    rng = np.random.default_rng(3)
    counts = rng.integers(1, 4, size=X.shape[0])
    groups = np.arange(X.shape[0]) % 7
    kw = {"groups": groups} if cov_type == "cluster" else {}
    kw_rep = {"groups": np.repeat(groups, counts)} if cov_type == "cluster" else {}
    weighted = SoftmaxClassifier(C=np.inf).fit(X, y, sample_weight=counts)
    Xr, yr = np.repeat(X, counts, axis=0), np.repeat(y, counts)
    repeated = SoftmaxClassifier(C=np.inf).fit(Xr, yr)
    got = weighted.covariance_matrix(X, y, counts, cov_type=cov_type, **kw)
    expected = repeated.covariance_matrix(Xr, yr, cov_type=cov_type, **kw_rep)
    # two different fits (n rows or sum(counts) rows), each finished to a Newton step
    # below 1e-6: they agree to about that, whatever the machine's BLAS
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7 * np.abs(expected).max())


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0", "cluster"])
def test_csr_and_float32_equal_dense(cov_type):
    X, y = overlapping(n=300, n_features=6, n_classes=3)
    X[np.abs(X) < 0.8] = 0.0
    groups = np.arange(X.shape[0]) % 11 if cov_type == "cluster" else None
    clf = SoftmaxClassifier(C=np.inf).fit(X, y)
    dense = clf.covariance_matrix(X, y, cov_type=cov_type, groups=groups)
    csr = clf.covariance_matrix(sp.csr_matrix(X), y, cov_type=cov_type, groups=groups)
    # the dense and CSR kernels finish the fit at points within rounding of each other;
    # the Newton step's tolerance (1e-6) bounds what the covariances then share
    np.testing.assert_allclose(csr, dense, rtol=1e-6, atol=1e-7 * np.abs(dense).max())
    X32 = X.astype(np.float32)
    clf32 = SoftmaxClassifier(C=np.inf).fit(X32, y)
    # float32 data, float64 inference: the same estimates on the data as float32 rounds it
    expected = clf.fit(X32.astype(np.float64), y).covariance_matrix(
        X32.astype(np.float64), y, cov_type=cov_type, groups=groups
    )
    got = clf32.covariance_matrix(X32, y, cov_type=cov_type, groups=groups)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())


def test_any_memory_layout_of_x():
    """Fortran-ordered and strided X give the covariance of C-ordered X (the kernels need
    C-contiguous rows: validation copies)."""
    X, y = overlapping(n=3000, n_features=30, n_classes=3)  # past the NumPy-only size
    clf = SoftmaxClassifier(C=1.0).fit(X, y)
    expected = clf.covariance_matrix(X, y)
    for layout in (np.asfortranarray(X), np.hstack([X, X])[:, :30]):
        np.testing.assert_allclose(clf.covariance_matrix(layout, y), expected, rtol=1e-10)
    np.testing.assert_allclose(
        clf.std_errors(np.asfortranarray(X), y), clf.std_errors(X, y), rtol=1e-10
    )


def test_feature_names_and_class_weight():
    X, y = admissions()
    frame = pd.DataFrame(X, columns=["gpa", "exam"])
    clf = SoftmaxClassifier(C=np.inf, class_weight={"admitted": 2.0}).fit(frame, y)
    table = clf.coef_table(frame, y, alpha=0.1)
    assert list(table.index.get_level_values("feature")[:3]) == ["intercept", "gpa", "exam"]
    sw = np.where(y == "admitted", 2.0, 1.0)
    plain = SoftmaxClassifier(C=np.inf).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(table["std_err"], plain.std_errors(X, y, sw).ravel(), rtol=1e-8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "X does not have valid feature names"
        assert 0 < clf.pseudo_r2(frame, y) < 1
    z90 = 1.6448536269514722
    np.testing.assert_allclose(table["ci_upper"] - table["coef"], z90 * table["std_err"])


def test_sgd_fit_is_polished_to_the_same_estimates():
    X, y = overlapping(n=400, n_classes=3)
    lbfgs = SoftmaxClassifier(C=1.0).fit(X, y)
    sgd = SoftmaxClassifier(C=1.0, solver="sgd", random_state=0, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(
        sgd.coef_table(X, y).to_numpy(), lbfgs.coef_table(X, y).to_numpy(), rtol=1e-6
    )


# -- honest failures and bad arguments ---------------------------------------------------
def test_separated_data_at_c_inf_raise():
    X, y = load_iris(return_X_y=True)  # setosa is linearly separable from the rest
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxClassifier(C=np.inf, max_iter=1000).fit(X, y)
        with pytest.raises(ValueError, match="separat"):
            clf.std_errors(X, y)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxClassifier(C=np.inf, max_iter=500).fit(X, y)
        with pytest.raises(ValueError, match="separat"):
            clf.coef_table(X, y)
    # a finite C identifies the same model: no error
    assert np.isfinite(SoftmaxClassifier(C=1.0).fit(X, y).std_errors(X, y)).all()


def test_collinear_features_at_c_inf_raise():
    X, y = overlapping(n_classes=3)
    X = np.column_stack([X, X[:, 0] * 2.0])
    clf = SoftmaxClassifier(C=np.inf, max_iter=1000).fit(X, y)
    with pytest.raises(ValueError, match="collinear"):
        clf.covariance_matrix(X, y)


def test_unconverged_fit_warns():
    X, y = overlapping(n_classes=3)
    with pytest.warns(ConvergenceWarning):
        clf = SoftmaxClassifier(C=1.0, max_iter=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        se = clf.std_errors(X, y)
    assert np.isfinite(se).all()


def test_l1_models_raise():
    X, y = overlapping(n_classes=3)
    clf = SoftmaxClassifier(C=1.0, l1_ratio=0.5).fit(X, y)
    for method in (clf.covariance_matrix, clf.std_errors, clf.coef_table):
        with pytest.raises(ValueError, match="L1 or elastic-net"):
            method(X, y)


def test_bad_arguments_raise():
    X, y = overlapping(n_classes=3)
    clf = SoftmaxClassifier(C=1.0).fit(X, y)
    with pytest.raises(ValueError, match="cov_type must be one of"):
        clf.std_errors(X, y, cov_type="HC3")
    with pytest.raises(ValueError, match="needs groups"):
        clf.std_errors(X, y, cov_type="cluster")
    with pytest.raises(ValueError, match="only used with cov_type='cluster'"):
        clf.std_errors(X, y, groups=np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="one per sample"):
        clf.std_errors(X, y, cov_type="cluster", groups=np.arange(5))
    with pytest.raises(ValueError, match="at least two groups"):
        clf.std_errors(X, y, cov_type="cluster", groups=np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="reference_class=7"):
        clf.std_errors(X, y, reference_class=7)
    with pytest.raises(ValueError, match="alpha"):
        clf.coef_table(X, y, alpha=1.5)
    with pytest.raises(ValueError, match="not one of|unseen|y contains"):
        clf.std_errors(X, np.where(y == 0, 9, y))
    with pytest.raises(ValueError, match="features"):
        clf.std_errors(X[:, :2], y)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        SoftmaxClassifier().std_errors(X, y)


def test_hessian_above_the_limit_is_refused_before_it_is_formed():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6000))
    y = np.arange(12) % 3
    clf = SoftmaxClassifier(C=1.0, max_iter=200).fit(X, y)
    with pytest.raises(ValueError, match=r"18003 x 18003 Hessian .*2\.4 GiB"):
        clf.std_errors(X, y)


def test_dask_input_raises():
    da = pytest.importorskip("dask.array")
    X, y = overlapping(n_classes=3)
    clf = SoftmaxClassifier(C=1.0).fit(X, y)
    with pytest.raises(TypeError, match="compute"):
        clf.std_errors(da.from_array(X, chunks=100), y)


def test_coef_table_without_pandas_names_the_extra(monkeypatch):
    X, y = overlapping(n_classes=3)
    clf = SoftmaxClassifier(C=1.0).fit(X, y)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now fails
    with pytest.raises(ImportError, match=r"sk_softmax\[pandas\]"):
        clf.coef_table(X, y)
    assert clf.std_errors(X, y).shape == (3, X.shape[1] + 1)  # needs no pandas


def test_n_jobs_sets_blas_threads_for_the_call_only():
    from threadpoolctl import threadpool_info

    from sk_softmax._threading import blas_threads

    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    with blas_threads(1):
        inside = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert set(inside) <= {1}
    assert after == before
    X, y = overlapping(n_classes=3)
    clf = SoftmaxClassifier(C=1.0, n_jobs=1).fit(X, y)
    assert np.isfinite(clf.std_errors(X, y)).all()


def test_blas_threads_leaves_a_kernel_call_s_limit_alone():
    """The fallback: while a kernel call holds BLAS at one thread (any Python thread),
    blas_threads runs on that one thread rather than lift the limit under it."""
    from threadpoolctl import threadpool_info

    from sk_softmax._threading import blas_threads, kernel_threads

    def blas():
        return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]

    before = blas()
    with kernel_threads(None):
        with blas_threads(-1):  # all cores asked for
            assert set(blas()) <= {1}
        assert set(blas()) <= {1}
    assert blas() == before


def test_models_with_bounds_raise():
    X, y = overlapping(n_classes=3)
    clf = SoftmaxClassifier(C=1.0, lower_bounds=0.0).fit(X, y)
    with pytest.raises(ValueError, match="lower_bounds or upper_bounds"):
        clf.std_errors(X, y)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_penalty_factors_enter_the_penalized_hessian(n_classes):
    X, y = overlapping(n=300, n_features=3, n_classes=n_classes)
    C, factor = 0.05, np.array([1.0, 0.0, 2.5])
    clf = SoftmaxClassifier(C=C, penalty_factor=factor).fit(X, y)
    table = clf.coef_table(X, y)
    theta = table["coef"].to_numpy().reshape(-1, 4)
    # the Hessian in sum units: the oracle's at C=inf, plus factor_j / C on the weights
    H = _fd_hessian(X, y, theta[:, 1:], theta[:, 0], np.inf, binary=n_classes == 2)
    H += np.diag(np.tile(np.r_[0.0, factor], theta.shape[0]) / C)
    if n_classes > 2:
        # the intercepts and the unpenalised feature: one common shift each
        V = np.zeros((n_classes, 4, 2))
        V[:, 0, 0] = V[:, 2, 1] = 1 / np.sqrt(n_classes)
        V = V.reshape(-1, 2)
        P = np.eye(V.shape[0]) - V @ V.T
        expected = np.linalg.pinv(P @ H @ P, rcond=1e-8, hermitian=True)
        np.testing.assert_allclose(theta[:, [0, 2]].sum(axis=0), 0.0, atol=1e-9)
    else:
        expected = np.linalg.inv(H)
    np.testing.assert_allclose(clf.covariance_matrix(X, y), expected, rtol=1e-5, atol=1e-9)
