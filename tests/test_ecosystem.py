"""Where scikit-learn reaches into the estimator: threads, metadata routing, coef_,
DataFrames, repr, tags."""

import numba
import numpy as np
import pytest
from sklearn import config_context
from sklearn.base import clone
from sklearn.datasets import load_digits, load_iris
from sklearn.model_selection import GridSearchCV, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_info, threadpool_limits

import sk_softmax._classifier as classifier_module
from sk_softmax import SoftmaxClassifier
from sk_softmax._threading import effective_n_threads

X, Y = load_iris(return_X_y=True)
X = StandardScaler().fit_transform(X)
SW = np.random.default_rng(0).uniform(0.2, 3.0, len(Y))
# large enough for the numba kernels (iris is evaluated with NumPy)
XD, YD = load_digits(return_X_y=True)
XD = XD / 16.0


@pytest.fixture
def thread_spy(monkeypatch):
    seen = []
    real = classifier_module.kernel_threads

    def spy(n_threads):
        seen.append(n_threads)
        return real(n_threads)

    monkeypatch.setattr(classifier_module, "kernel_threads", spy)
    return seen


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_threadpool_limits_reach_the_kernels(thread_spy, solver):
    SoftmaxClassifier(solver=solver, max_iter=5, tol=None if solver == "sgd" else 1e-4).fit(XD, YD)
    assert "numba" in {lib["user_api"] for lib in threadpool_info()}
    before = numba.get_num_threads()
    thread_spy.clear()
    with threadpool_limits(limits=1):
        assert effective_n_threads(None) == 1
        SoftmaxClassifier(solver=solver, max_iter=5, tol=None if solver == "sgd" else 1e-4).fit(
            XD, YD
        )
    assert thread_spy and set(thread_spy) == {1}
    assert numba.get_num_threads() == before  # restored by threadpoolctl and by us
    thread_spy.clear()
    SoftmaxClassifier(n_jobs=1, max_iter=5).fit(XD, YD)
    assert set(thread_spy) == {1}


def test_a_small_lbfgs_fit_sets_no_numba_threads(thread_spy):
    """iris is evaluated with NumPy: the call owns BLAS's limit and touches no numba."""
    SoftmaxClassifier(n_jobs=1, max_iter=5).fit(X, Y)
    assert thread_spy == [None]


def test_n_jobs_none_never_exceeds_what_numba_was_given():
    assert effective_n_threads(None) <= numba.config.NUMBA_NUM_THREADS
    assert effective_n_threads(10_000) == numba.config.NUMBA_NUM_THREADS


def test_metadata_routing():
    direct = SoftmaxClassifier(max_iter=500).fit(X, Y, sample_weight=SW)
    unweighted = SoftmaxClassifier(max_iter=500).fit(X, Y)
    with config_context(enable_metadata_routing=True):
        clf = SoftmaxClassifier(max_iter=500).set_fit_request(sample_weight=True)
        clf.set_score_request(sample_weight=True)  # cross_validate scores with them too
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), clf)
        pipe.fit(X, Y, sample_weight=SW)
        np.testing.assert_allclose(pipe[-1].coef_, direct.coef_, rtol=1e-6, atol=1e-8)
        assert not np.allclose(pipe[-1].coef_, unweighted.coef_)
        grid = GridSearchCV(pipe, {"softmaxclassifier__C": [0.5, 1.0]}, cv=3)
        grid.fit(X, Y, sample_weight=SW)
        np.testing.assert_allclose(
            grid.best_estimator_[-1].coef_,
            SoftmaxClassifier(C=grid.best_params_["softmaxclassifier__C"], max_iter=500)
            .fit(X, Y, sample_weight=SW)
            .coef_,
            rtol=1e-6,
            atol=1e-8,
        )
        cv = cross_validate(clf, X, Y, params={"sample_weight": SW}, cv=3)
        assert len(cv["test_score"]) == 3
        # the request is what routes: without it the weights are refused
        with pytest.raises(Exception, match="sample_weight"):
            make_pipeline(SoftmaxClassifier()).fit(X, Y, sample_weight=SW)
    # without routing, fit params work as before
    pipe = make_pipeline(SoftmaxClassifier(max_iter=500))
    pipe.fit(X, Y, softmaxclassifier__sample_weight=SW)
    np.testing.assert_allclose(pipe[-1].coef_, direct.coef_, rtol=1e-10)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_coef_is_the_model_and_sparsify(solver):
    clf = SoftmaxClassifier(solver=solver, max_iter=50, random_state=0).fit(X, Y)
    proba = clf.predict_proba(X)
    clf.coef_ = clf.coef_ * 2.0  # no hidden copy: predictions follow
    assert not np.allclose(clf.predict_proba(X), proba)
    clf.coef_ = clf.coef_ / 2.0
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-12)
    clf.sparsify()
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-12)
    if solver == "sgd":
        clf.partial_fit(X, Y)  # continues from the sparsified coefficients
        assert isinstance(clf.coef_, np.ndarray)
    clf.densify()
    assert isinstance(clf.coef_, np.ndarray)


@pytest.mark.parametrize("frame", ["pandas", "polars"])
@pytest.mark.parametrize("labels", ["str", "bool", "int"])
def test_dataframes_and_label_types(frame, labels):
    lib = pytest.importorskip(frame)
    cols = ["a", "b", "c", "d"]
    df = lib.DataFrame({c: X[:, i] for i, c in enumerate(cols)})
    y = {"str": np.array(["x", "y", "z"])[Y], "bool": Y > 0, "int": Y * 10 - 5}[labels]
    clf = SoftmaxClassifier(max_iter=500).fit(df, y)
    np.testing.assert_array_equal(clf.feature_names_in_, cols)
    np.testing.assert_array_equal(clf.classes_, np.unique(y))
    np.testing.assert_array_equal(clf.predict(df), clf.predict(X))
    np.testing.assert_allclose(clf.predict_proba(df), clf.predict_proba(X), rtol=1e-12)


def test_repr_clone_params_and_tags():
    clf = SoftmaxClassifier(C=0.3, solver="sgd", batch_size=64)
    html = clf._repr_html_()
    assert "SoftmaxClassifier" in html and "batch_size" in html
    assert "C=0.3" in repr(clf)
    params = clf.get_params()
    assert SoftmaxClassifier(**params).get_params() == params
    assert clone(clf).set_params(C=2.0).C == 2.0
    for solver in ("lbfgs", "sgd"):
        tags = SoftmaxClassifier(solver=solver).__sklearn_tags__()
        assert tags.estimator_type == "classifier"
        assert tags.input_tags.sparse and not tags.input_tags.allow_nan
        assert tags.classifier_tags.multi_class
    assert hasattr(SoftmaxClassifier(solver="sgd"), "partial_fit")
    assert not hasattr(SoftmaxClassifier(solver="lbfgs"), "partial_fit")
