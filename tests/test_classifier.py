"""SoftmaxClassifier: agreement with LogisticRegression and the estimator contract."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sk_softmax._classifier as classifier_module
from sk_softmax import SoftmaxClassifier

from . import reference as ref

LOADERS = {
    "iris": load_iris,
    "wine": load_wine,
    "digits": load_digits,
    "breast_cancer": load_breast_cancer,
}
TIGHT = dict(tol=1e-12, max_iter=20_000)


def dataset(name):
    X, y = LOADERS[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


def objective_of(est, X, y, C, sw=None):
    """Reference objective of a fitted estimator's coefficients (sklearn scaling)."""
    classes = est.classes_
    y_enc = np.searchsorted(classes, y)
    if est.class_weight == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        cw = compute_class_weight("balanced", classes=classes, y=y, sample_weight=sw)
        sw = (np.ones(len(y)) if sw is None else sw) * cw[y_enc]
    return ref.objective(X, y_enc, est.coef_, est.intercept_, C, sw, len(classes) == 2)


@pytest.mark.parametrize("name", list(LOADERS))
@pytest.mark.parametrize("C", [0.01, 1.0, pytest.param(100.0, marks=pytest.mark.slow)])
@pytest.mark.parametrize("weighting", ["none", "sample_weight", "balanced"])
def test_agrees_with_logistic_regression(name, C, weighting):
    X, y = dataset(name)
    sw = None
    cw = None
    if weighting == "sample_weight":
        sw = np.random.default_rng(1).uniform(0.1, 3.0, size=len(y))
    elif weighting == "balanced":
        cw = "balanced"
    ours = SoftmaxClassifier(C=C, class_weight=cw, **TIGHT).fit(X, y, sample_weight=sw)
    sk = LogisticRegression(C=C, class_weight=cw, **TIGHT).fit(X, y, sample_weight=sw)
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    assert ours.coef_.shape == sk.coef_.shape
    assert ours.intercept_.shape == sk.intercept_.shape
    f_ours = objective_of(ours, X, y, C, sw)
    f_sk = objective_of(sk, X, y, C, sw)
    assert f_ours <= f_sk * (1 + 1e-8)
    assert abs(f_ours - f_sk) <= 1e-8 * abs(f_sk)
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-5)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


def test_no_penalty_non_separable():
    """C=inf on a non-separable problem: the unpenalised optimum is finite and matches."""
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X[:, :2])  # sepal only: classes overlap
    ours = SoftmaxClassifier(C=np.inf, **TIGHT).fit(X, y)
    sk = LogisticRegression(C=np.inf, **TIGHT).fit(X, y)
    f_ours = objective_of(ours, X, y, np.inf)
    f_sk = objective_of(sk, X, y, np.inf)
    assert abs(f_ours - f_sk) <= 1e-8 * abs(f_sk)
    # multinomial coefficients without penalty are defined up to a shift shared by all
    # classes; probabilities are unique
    np.testing.assert_allclose(ours.predict_proba(X), sk.predict_proba(X), atol=1e-5)


def test_binary_follows_logistic_regression_conventions():
    X, y = dataset("breast_cancer")
    ours = SoftmaxClassifier(**TIGHT).fit(X, y)
    sk = LogisticRegression(**TIGHT).fit(X, y)
    assert ours.coef_.shape == (1, X.shape[1])
    assert ours.intercept_.shape == (1,)
    assert ours.decision_function(X).shape == (X.shape[0],)
    np.testing.assert_allclose(ours.coef_, sk.coef_, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        ours.decision_function(X), sk.decision_function(X), rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))
    proba = ours.predict_proba(X)
    assert proba.shape == (X.shape[0], 2)
    # positive class is classes_[1]
    np.testing.assert_allclose(
        proba[:, 1], 1 / (1 + np.exp(-ours.decision_function(X))), rtol=1e-12
    )


@pytest.mark.parametrize(
    "labels",
    [
        np.array(["setosa", "versicolor", "virginica"]),
        np.array([10, -3, 7]),
        np.array([2.0, -1.0, 0.0]),
        np.array(["b", "a", "c"], dtype=object),
    ],
)
def test_label_types(labels):
    X, y_idx = dataset("iris")
    y = labels[y_idx]
    ours = SoftmaxClassifier().fit(X, y)
    sk = LogisticRegression().fit(X, y)
    np.testing.assert_array_equal(ours.classes_, sk.classes_)
    np.testing.assert_array_equal(ours.predict(X), sk.predict(X))


def test_boolean_labels():
    X, y = dataset("breast_cancer")
    yb = y.astype(bool)
    ours = SoftmaxClassifier().fit(X, yb)
    np.testing.assert_array_equal(ours.classes_, [False, True])
    assert ours.predict(X).dtype == bool
    np.testing.assert_array_equal(ours.predict(X), LogisticRegression().fit(X, yb).predict(X))


def test_float32_kept_and_close_to_float64():
    X, y = dataset("digits")
    X32 = X.astype(np.float32)
    c32 = SoftmaxClassifier(max_iter=1000).fit(X32, y)
    c64 = SoftmaxClassifier(max_iter=1000).fit(X, y)
    assert c32.coef_.dtype == np.float32 and c32.intercept_.dtype == np.float32
    assert c64.coef_.dtype == np.float64
    assert c32.predict_proba(X32).dtype == np.float32
    np.testing.assert_allclose(c32.predict_proba(X32), c64.predict_proba(X), atol=2e-3)
    f32 = objective_of(c32, X, y, 1.0)
    f64 = objective_of(c64, X, y, 1.0)
    assert abs(f32 - f64) <= 1e-4 * f64


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_X_not_copied(monkeypatch, dtype):
    """A C-contiguous float X reaches the loss as it is, read-only too (that inputs are
    left unmodified is tests/test_properties.py's)."""
    X, y = dataset("wine")
    X = np.ascontiguousarray(X, dtype=dtype)
    sw = np.linspace(0.5, 2, len(y))
    seen = {}

    class Spy(classifier_module.SoftmaxLoss):
        def __init__(self, X, *args, **kwargs):
            seen["X"] = X
            super().__init__(X, *args, **kwargs)

    monkeypatch.setattr(classifier_module, "SoftmaxLoss", Spy)
    for a in (X, y, sw):
        a.setflags(write=False)
    SoftmaxClassifier(class_weight="balanced").fit(X, y, sample_weight=sw)
    assert np.shares_memory(seen["X"], X)


def test_sample_weight_equals_repetition():
    X, y = dataset("iris")
    rng = np.random.default_rng(0)
    reps = rng.integers(0, 4, size=len(y))
    a = SoftmaxClassifier(**TIGHT).fit(X, y, sample_weight=reps)
    b = SoftmaxClassifier(**TIGHT).fit(np.repeat(X, reps, axis=0), np.repeat(y, reps))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-7)


def test_class_weight_dict_equals_sample_weight():
    X, y = dataset("wine")
    cw = {0: 0.5, 1: 2.0, 2: 1.3}
    a = SoftmaxClassifier(class_weight=cw, **TIGHT).fit(X, y)
    b = SoftmaxClassifier(**TIGHT).fit(X, y, sample_weight=np.vectorize(cw.get)(y))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-6, atol=1e-7)


def test_warm_start_continues():
    X, y = dataset("digits")
    cold = SoftmaxClassifier(tol=1e-6, max_iter=1000).fit(X, y)
    warm = SoftmaxClassifier(tol=1e-6, max_iter=1000, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warm.set_params(max_iter=20).fit(X, y)
    first = warm.n_iter_[0]
    warm.set_params(max_iter=1000).fit(X, y)
    assert warm.n_iter_[0] < cold.n_iter_[0]
    refit = warm.fit(X, y).n_iter_[0]  # already at the optimum: almost nothing to do
    assert refit < first
    f_warm = objective_of(warm, X, y, 1.0)
    f_cold = objective_of(cold, X, y, 1.0)
    assert abs(f_warm - f_cold) <= 1e-6 * f_cold


def test_warm_start_shape_mismatch_raises():
    X, y = dataset("iris")
    clf = SoftmaxClassifier(warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="warm_start"):
        clf.fit(X[:, :3], y)


def test_pipeline_grid_search_parallel():
    X, y = dataset("digits")
    grid = GridSearchCV(
        make_pipeline(StandardScaler(), SoftmaxClassifier(max_iter=500)),
        {"softmaxclassifier__C": [0.1, 1, 10]},
        n_jobs=2,
        cv=3,
    ).fit(X, y)
    assert grid.best_score_ > 0.9
    # two processes give what one does (the fit is deterministic)
    serial = GridSearchCV(
        make_pipeline(StandardScaler(), SoftmaxClassifier(max_iter=500)),
        {"softmaxclassifier__C": [0.1, 1, 10]},
        n_jobs=1,
        cv=3,
    ).fit(X, y)
    np.testing.assert_array_equal(
        grid.cv_results_["mean_test_score"], serial.cv_results_["mean_test_score"]
    )


def test_convergence_warning_names_max_iter():
    X, y = dataset("digits")
    with pytest.warns(ConvergenceWarning, match=r"max_iter=3"):
        clf = SoftmaxClassifier(max_iter=3).fit(X, y)
    assert clf.n_iter_.shape == (1,) and clf.n_iter_[0] == 3


def test_n_iter_matches_logistic_regression_shape_and_dtype():
    X, y = dataset("iris")
    ours = SoftmaxClassifier().fit(X, y)
    sk = LogisticRegression().fit(X, y)
    assert ours.n_iter_.shape == sk.n_iter_.shape == (1,)
    assert ours.n_iter_.dtype == sk.n_iter_.dtype


def test_predict_log_proba_is_log_softmax_and_finite():
    X, y = dataset("iris")
    clf = SoftmaxClassifier(C=np.inf, max_iter=50)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    Xbig = X * 1e6  # logits of order 1e6+: probabilities underflow to 0
    proba = clf.predict_proba(Xbig)
    log_proba = clf.predict_log_proba(Xbig)
    assert np.all(np.isfinite(log_proba))
    assert np.any(proba == 0.0)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    expected = ref.log_softmax(clf.decision_function(Xbig))
    np.testing.assert_allclose(log_proba, expected, rtol=1e-12)


def test_verbose_prints_iterations(capsys):
    X, y = dataset("iris")
    SoftmaxClassifier(verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "L-BFGS iter    1" in out and "objective" in out


def test_feature_names_in():
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = SoftmaxClassifier().fit(X, y)
    np.testing.assert_array_equal(clf.feature_names_in_, X.columns.to_numpy())
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(X.to_numpy())


# -- float64 data: a float32 stage, then float64 (docs/design.md, "Two precisions") ----


def test_float64_fit_runs_a_float32_stage_and_meets_tol_in_float64(capsys):
    X, y = dataset("digits")
    clf = SoftmaxClassifier(tol=1e-5, max_iter=1000, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    assert "L-BFGS float32 iter" in out  # the first stage ran on the float32 copy
    # the float64 gradient of the reference at the fitted coefficients meets tol
    gW, gb = ref.objective_gradient(
        X, np.searchsorted(clf.classes_, y), clf.coef_, clf.intercept_, 1.0
    )
    # (the reference computes the gradient in another order: a hair of slack)
    assert max(np.max(np.abs(gW)), np.max(np.abs(gb))) <= 1e-5 * (1 + 1e-9)
    assert clf.coef_.dtype == np.float64


def test_two_precisions_reach_the_float64_only_objective(monkeypatch):
    from sk_softmax import _precision

    X, y = dataset("digits")
    mixed = SoftmaxClassifier(C=0.5, **TIGHT).fit(X, y)
    monkeypatch.setattr(_precision, "FLOAT32_STAGE_MAX_COPY_BYTES", 0)
    plain = SoftmaxClassifier(C=0.5, **TIGHT).fit(X, y)
    f_mixed = objective_of(mixed, X, y, 0.5)
    f_plain = objective_of(plain, X, y, 0.5)
    assert abs(f_mixed - f_plain) <= 1e-8 * f_plain
    np.testing.assert_allclose(mixed.coef_, plain.coef_, rtol=1e-4, atol=1e-5)


def test_weights_that_overflow_float32_fall_back_to_float64(capsys):
    # weights of 1e39 with C=1e-39 pose the unit-weight problem at C=1 (the penalty is
    # ||W||^2 / (2 C S)); in the float32 copy's buffers w * (p - y) overflows, and the
    # solve goes on in float64
    X, y = dataset("digits")
    unit = SoftmaxClassifier(**TIGHT).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        huge = SoftmaxClassifier(C=1e-39, verbose=1, **TIGHT).fit(
            X, y, sample_weight=np.full(len(y), 1e39)
        )
    assert "L-BFGS float32 iter" not in capsys.readouterr().out
    assert np.all(np.isfinite(huge.coef_))
    f_unit, f_huge = objective_of(unit, X, y, 1.0), objective_of(huge, X, y, 1.0)
    assert abs(f_huge - f_unit) <= 1e-8 * f_unit


def test_the_float32_copy_lives_only_for_the_fit(monkeypatch):
    import gc
    import weakref

    import sk_softmax._classifier as classifier_module

    made = []
    original = classifier_module.precision_stages

    def recording(loss, float32_X=None):
        stages = original(loss, float32_X)
        if stages.float32 is not None:
            made.append(weakref.ref(stages.float32_X))
        return stages

    monkeypatch.setattr(classifier_module, "precision_stages", recording)
    X, y = dataset("digits")
    clf = SoftmaxClassifier(max_iter=30).fit(X, y)
    gc.collect()
    assert len(made) == 1 and made[0]() is None  # made once, not kept by the estimator
    assert clf.coef_.dtype == np.float64
