"""Reliability: threads, processes, bad input, numerical extremes, data left untouched."""

import os
import pickle
import threading
import warnings

import joblib
import numba
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier
from sk_softmax._kernels import softmax_rows
from sk_softmax._threading import kernel_threads

from . import reference as ref

X_DIGITS, Y_DIGITS = load_digits(return_X_y=True)
X_DIGITS = StandardScaler().fit_transform(X_DIGITS)


def fit_coef(params):
    """Module level, so that spawned processes can import it."""
    C, solver, sparse = params
    X = sp.csr_matrix(X_DIGITS) if sparse else X_DIGITS
    clf = SoftmaxClassifier(C=C, solver=solver, max_iter=50, tol=1e-6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, Y_DIGITS)
    return clf.coef_, clf.predict_proba(X_DIGITS[:50])


JOBS = [
    (C, solver, sparse)
    for C in (0.01, 0.1, 1.0, 10.0)
    for solver, sparse in (("lbfgs", False), ("sgd", False), ("lbfgs", True), ("sgd", True))
][:8]


def assert_same(results, expected):
    for (coef, proba), (coef0, proba0) in zip(results, expected):
        np.testing.assert_array_equal(coef, coef0)
        np.testing.assert_array_equal(proba, proba0)


# -- concurrency -------------------------------------------------------------------
def test_eight_threads_give_the_serial_results():
    expected = [fit_coef(job) for job in JOBS]
    results = [None] * len(JOBS)
    errors = []

    def run(i):
        try:
            results[i] = fit_coef(JOBS[i])
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(JOBS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "deadlock"
    assert not errors, errors
    assert_same(results, expected)


_START_METHOD_SCRIPT = """
import multiprocessing, sys
import numpy as np
from tests.test_reliability import JOBS, assert_same, fit_coef

if __name__ == "__main__":
    jobs = JOBS[:2]
    expected = [fit_coef(job) for job in jobs]  # the parent has run parallel kernels
    with multiprocessing.get_context(sys.argv[1]).Pool(2) as pool:
        results = pool.map_async(fit_coef, jobs).get(timeout=240)
    assert_same(results, expected)
    print("same results")
"""


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_start_methods(method, tmp_path):
    """Fits in worker processes started by fork, spawn or forkserver from a parent that has
    run the parallel kernels give the parent's results.  The parent is a fresh
    interpreter: forking the test process itself would copy whatever threads earlier
    tests left running (a dask cluster's, joblib's), and a fork with foreign threads
    holding locks can hang the child whatever this package does."""
    import subprocess
    import sys
    from pathlib import Path

    script = tmp_path / "start_methods.py"
    script.write_text(_START_METHOD_SCRIPT)
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, str(script), method],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "same results" in out.stdout


@pytest.mark.parametrize("backend", ["loky", "threading"])
def test_joblib_backends(backend):
    jobs = JOBS[:4]
    expected = [fit_coef(job) for job in jobs]
    results = joblib.Parallel(n_jobs=2, backend=backend)(
        joblib.delayed(fit_coef)(job) for job in jobs
    )
    assert_same(results, expected)


def test_thread_settings_restored_after_fits_that_succeed_or_raise():
    before = numba.get_num_threads()
    SoftmaxClassifier(n_jobs=1).fit(X_DIGITS, Y_DIGITS).predict_proba(X_DIGITS)
    assert numba.get_num_threads() == before
    clf = SoftmaxClassifier(
        n_jobs=1, solver="sgd", eta0=1e200, learning_rate="constant", tol=None, max_iter=3, C=np.inf
    )
    with pytest.raises(ValueError, match="diverged"):
        clf.fit(X_DIGITS * 1e150, Y_DIGITS)
    assert numba.get_num_threads() == before


def test_numba_cache_falls_back_when_nothing_is_writable(monkeypatch, tmp_path):
    from sk_softmax._kernels import _config

    monkeypatch.setattr(_config, "_numba_can_cache", lambda: False)
    monkeypatch.setattr(_config.tempfile, "gettempdir", lambda: str(tmp_path))
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    assert _config._cache_option() is True
    assert numba.config.CACHE_DIR.startswith(str(tmp_path))

    def no_dirs(*args, **kwargs):
        raise OSError("read-only")

    monkeypatch.setattr(_config.tempfile, "gettempdir", lambda: str(tmp_path / "ro"))
    monkeypatch.setattr(_config.os, "makedirs", no_dirs)
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    with pytest.warns(RuntimeWarning, match="NUMBA_CACHE_DIR"):
        assert _config._cache_option() is False


# -- bad input ---------------------------------------------------------------------
X_OK, Y_OK = load_iris(return_X_y=True)


def _with(X=None, y=None, sw=None):
    return (X_OK if X is None else X), (Y_OK if y is None else y), sw


def _nan_X():
    X = X_OK.copy()
    X[3, 1] = np.nan
    return X


def _inf_X():
    X = X_OK.copy()
    X[0, 0] = np.inf
    return X


def _nan_y():
    y = Y_OK.astype(float)
    y[5] = np.nan
    return y


BAD_FIT = [
    ("NaN in X", lambda: _with(X=_nan_X()), {}, ValueError, "NaN"),
    ("inf in X", lambda: _with(X=_inf_X()), {}, ValueError, "infinity"),
    ("NaN in y", lambda: _with(y=_nan_y()), {}, ValueError, "NaN"),
    ("NaN in sample_weight", lambda: _with(sw=np.r_[np.nan, np.ones(149)]), {}, ValueError, "NaN"),
    (
        "inf in sample_weight",
        lambda: _with(sw=np.r_[np.inf, np.ones(149)]),
        {},
        ValueError,
        "infinity",
    ),
    (
        "negative sample_weight",
        lambda: _with(sw=np.r_[-1.0, np.ones(149)]),
        {},
        ValueError,
        "[Nn]egative",
    ),
    ("all-zero sample_weight", lambda: _with(sw=np.zeros(150)), {}, ValueError, "non-zero"),
    ("one class", lambda: _with(y=np.zeros(150)), {}, ValueError, "at least 2 classes"),
    ("empty X", lambda: (np.empty((0, 4)), np.empty(0), None), {}, ValueError, "0 sample"),
    ("1-D X", lambda: (X_OK[:, 0], Y_OK, None), {}, ValueError, "2D array"),
    ("3-D X", lambda: (X_OK.reshape(150, 2, 2), Y_OK, None), {}, ValueError, "dim"),
    ("length mismatch", lambda: (X_OK, Y_OK[:-1], None), {}, ValueError, "inconsistent"),
    ("string X", lambda: (np.full((150, 4), "a"), Y_OK, None), {}, ValueError, "convert"),
    ("complex X", lambda: (X_OK + 1j, Y_OK, None), {}, ValueError, "[Cc]omplex"),
    ("continuous y", lambda: _with(y=np.linspace(0, 1, 150)), {}, ValueError, "label type"),
    ("C = 0", lambda: _with(), {"C": 0.0}, ValueError, "'C'"),
    ("C < 0", lambda: _with(), {"C": -1.0}, ValueError, "'C'"),
    ("C is NaN", lambda: _with(), {"C": np.nan}, ValueError, "'C'"),
    ("max_iter = 0", lambda: _with(), {"max_iter": 0}, ValueError, "'max_iter'"),
    ("tol < 0", lambda: _with(), {"tol": -1e-3}, ValueError, "'tol'"),
    ("unknown solver", lambda: _with(), {"solver": "newton"}, ValueError, "'solver'"),
    (
        "unknown class_weight",
        lambda: _with(),
        {"class_weight": "auto"},
        ValueError,
        "'class_weight'",
    ),
    ("sample_weight too short", lambda: _with(sw=np.ones(149)), {}, ValueError, "149"),
    (
        "total_sample_weight = 0",
        lambda: _with(),
        {"total_sample_weight": 0.0},
        ValueError,
        "'total_sample_weight'",
    ),
    (
        "class_weight key not a class",
        lambda: _with(),
        {"class_weight": {7: 2.0}},
        ValueError,
        "not in class",
    ),
    ("n_jobs = 0", lambda: _with(), {"n_jobs": 0}, ValueError, "n_jobs"),
    (
        "batch_size = 0",
        lambda: _with(),
        {"solver": "sgd", "batch_size": 0},
        ValueError,
        "'batch_size'",
    ),
]


@pytest.mark.parametrize("name, make, params, exc, match", BAD_FIT, ids=[b[0] for b in BAD_FIT])
def test_bad_fit_input(name, make, params, exc, match):
    """Each bad input raises the type scikit-learn uses with a message naming the problem,
    and a previously fitted estimator stays usable and unchanged."""
    clf = SoftmaxClassifier(max_iter=500).fit(X_OK, Y_OK)
    coef, proba = clf.coef_.copy(), clf.predict_proba(X_OK)
    X, y, sw = make()
    with pytest.raises(exc, match=match):
        clf.set_params(**params).fit(X, y, sample_weight=sw)
    clf.set_params(**{k: SoftmaxClassifier().get_params()[k] for k in params})
    np.testing.assert_array_equal(clf.coef_, coef)
    np.testing.assert_array_equal(clf.predict_proba(X_OK), proba)
    clf.set_params(max_iter=500).fit(X_OK, Y_OK)  # and it can be refitted
    np.testing.assert_allclose(clf.predict_proba(X_OK), proba, atol=1e-8)


def test_bad_predict_and_partial_fit_input():
    pd = pytest.importorskip("pandas")
    with pytest.raises(NotFittedError):
        SoftmaxClassifier().predict(X_OK)
    clf = SoftmaxClassifier(max_iter=500).fit(X_OK, Y_OK)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X_OK[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        clf.predict_proba(_nan_X())
    frame = pd.DataFrame(X_OK, columns=list("abcd"))
    named = SoftmaxClassifier(max_iter=500).fit(frame, Y_OK)
    with pytest.raises(ValueError, match="feature names"):
        named.predict(frame.rename(columns={"a": "z"}))
    sgd = SoftmaxClassifier(solver="sgd").partial_fit(X_OK, Y_OK, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="not in classes"):
        sgd.partial_fit(X_OK[:3], [0, 1, 5])
    np.testing.assert_array_equal(sgd.classes_, [0, 1, 2])  # still usable
    assert sgd.predict(X_OK).shape == (150,)


def test_warm_start_after_failed_fit_starts_cleanly():
    clf = SoftmaxClassifier(warm_start=True, max_iter=500).fit(X_OK, Y_OK)
    coef = clf.coef_.copy()
    with pytest.raises(ValueError):
        clf.fit(_nan_X(), Y_OK)
    np.testing.assert_array_equal(clf.coef_, coef)
    clf.fit(X_OK, Y_OK)
    assert clf.n_iter_[0] <= 2  # continued from the untouched previous solution


# -- numerical extremes ------------------------------------------------------------
@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_separable_data_huge_C_stays_finite(solver):
    X, y = make_classification(
        n_samples=200,
        n_features=5,
        n_informative=5,
        n_redundant=0,
        n_classes=3,
        class_sep=10.0,
        random_state=0,
    )
    for max_iter in (15, 2000):
        # overflow RuntimeWarnings are errors in this suite; running out of iterations
        # while the coefficients grow must say so
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = SoftmaxClassifier(
                C=np.inf, solver=solver, max_iter=max_iter, tol=1e-12, random_state=0
            ).fit(X, y)
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
        if clf.n_iter_[0] == max_iter:
            assert [w for w in caught if issubclass(w.category, ConvergenceWarning)]
        assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    if solver == "lbfgs":
        assert np.abs(clf.coef_).max() > 10  # they did grow
    proba = clf.predict_proba(X * 100)
    log_proba = clf.predict_log_proba(X * 100)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(log_proba))


@pytest.mark.parametrize("scale", [1e6, 1e-6])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_extreme_feature_scales_constant_features_duplicate_rows(scale, solver):
    X, y = load_iris(return_X_y=True)
    X = np.hstack([X * scale, np.full((150, 1), 3.0), X[:, :1]])  # constant, duplicate col
    X = np.vstack([X, X[:10]])  # duplicate rows
    y = np.concatenate([y, y[:10]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxClassifier(solver=solver, max_iter=200, random_state=0).fit(X, y)
    assert np.all(np.isfinite(clf.coef_))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(np.isfinite(clf.predict_log_proba(X)))


def test_logits_of_1e4():
    clf = SoftmaxClassifier(max_iter=500).fit(X_OK, Y_OK)
    clf.coef_ = clf.coef_ * (1e4 / np.abs(clf.decision_function(X_OK)).max())
    proba = clf.predict_proba(X_OK)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    log_proba = clf.predict_log_proba(X_OK)
    assert np.all(np.isfinite(log_proba))
    np.testing.assert_allclose(
        log_proba, ref.log_softmax(clf.decision_function(X_OK)), rtol=1e-12, atol=1e-9
    )


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def _softmax(Z, log, ref_zero=False):
    out = np.empty((Z.shape[0], Z.shape[1] + ref_zero))
    with kernel_threads(1):
        softmax_rows(np.ascontiguousarray(Z), ref_zero, log, out)
    return out


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(1, 8)), elements=finite), finite)
def test_softmax_shift_invariance(Z, c):
    np.testing.assert_allclose(_softmax(Z + c, False), _softmax(Z, False), atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 6), st.integers(2, 8)), elements=finite))
def test_softmax_preserves_order_and_matches_log(Z):
    p = _softmax(Z, False)
    lp = _softmax(Z, True)
    assert np.all(np.isfinite(lp))
    for zi, pi in zip(Z, p):
        order = np.argsort(zi, kind="stable")
        assert np.all(np.diff(pi[order]) >= 0)  # larger logit, no smaller probability
    mask = p > 1e-300
    np.testing.assert_allclose(lp[mask], np.log(p[mask]), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-12)


# -- no data lost or changed -------------------------------------------------------
@pytest.mark.parametrize("layout", ["C", "F", "readonly", "csr", "csr_unsorted"])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_inputs_never_modified(layout, solver):
    X, y = load_iris(return_X_y=True)
    sw = np.linspace(0.5, 2.0, 150)
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout.startswith("csr"):
        X = sp.csr_matrix(X)
        if layout == "csr_unsorted":
            for i in range(X.shape[0]):
                sl = slice(X.indptr[i], X.indptr[i + 1])
                X.indices[sl] = X.indices[sl][::-1].copy()
                X.data[sl] = X.data[sl][::-1].copy()
            X.has_sorted_indices = False
    copies = [a.copy() for a in ((X.data, X.indices, X.indptr) if sp.issparse(X) else (X,))]
    y0, sw0 = y.copy(), sw.copy()
    if layout == "readonly":
        for a in (X, y, sw):
            a.setflags(write=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxClassifier(
            solver=solver, max_iter=50, class_weight="balanced", random_state=0
        ).fit(X, y, sample_weight=sw)
    clf.predict_proba(X)
    now = (X.data, X.indices, X.indptr) if sp.issparse(X) else (X,)
    for a, b in zip(now, copies):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(sw, sw0)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_persistence_and_clone(tmp_path, solver):
    clf = SoftmaxClassifier(solver=solver, max_iter=100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_DIGITS, Y_DIGITS)
    expected = clf.predict_proba(X_DIGITS)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X_DIGITS), expected)
    joblib.dump(clf, tmp_path / "model.joblib")
    np.testing.assert_array_equal(
        joblib.load(tmp_path / "model.joblib").predict_proba(X_DIGITS), expected
    )
    fresh = clone(clf)
    with pytest.raises(NotFittedError):
        fresh.predict(X_DIGITS)
    assert fresh.get_params() == clf.get_params()
