"""The private scikit-learn names of sk_softmax/_compat.py, checked as we use them.

A scikit-learn release that moves or changes one of them fails here, by name."""

import numpy as np
import pytest
from sklearn.callback.tests._utils import RecordingCallback
from sklearn.datasets import load_iris

from sk_softmax import SoftmaxClassifier, _compat


def test_names_exist_where_compat_takes_them():
    for name in _compat.__all__:
        assert callable(getattr(_compat, name)), name


def test_fit_context_validates_parameters():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="'C' parameter"):
        SoftmaxClassifier(C=-1.0).fit(X, y)


def test_interval_and_str_options_mean_what_the_constraints_say():
    from numbers import Real

    interval = _compat.Interval(Real, 0, None, closed="right")
    assert interval.is_satisfied_by(1e-300) and interval.is_satisfied_by(np.inf)
    assert not interval.is_satisfied_by(0.0)
    options = _compat.StrOptions({"lbfgs", "sgd"})
    assert options.is_satisfied_by("sgd") and not options.is_satisfied_by("saga")


def test_check_sample_weight():
    X = np.zeros((4, 2))
    np.testing.assert_array_equal(_compat.check_sample_weight(None, X, dtype=np.float64),
                                  np.ones(4))
    with pytest.raises(ValueError, match="Negative values"):
        _compat.check_sample_weight(np.array([1.0, -1.0, 1.0, 1.0]), X,
                                     ensure_non_negative=True)
    with pytest.raises(ValueError):
        _compat.check_sample_weight(np.ones(3), X)


def test_linear_classifier_mixins_give_logistic_regression_methods():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxClassifier(max_iter=1000).fit(X, y)
    np.testing.assert_allclose(clf.decision_function(X), X @ clf.coef_.T + clf.intercept_)
    np.testing.assert_array_equal(clf.predict(X),
                                  clf.classes_[np.argmax(clf.decision_function(X), 1)])
    assert hasattr(clf.sparsify().coef_, "toarray")
    assert isinstance(clf.densify().coef_, np.ndarray)


def test_has_callbacks():
    est = SoftmaxClassifier()
    assert not _compat.has_callbacks(est._init_callback_context())
    est.set_callbacks(RecordingCallback())
    assert _compat.has_callbacks(est._init_callback_context())


def test_metadata_routing_checks_behave_as_used():
    import sklearn
    from sklearn.base import BaseEstimator

    class Owner(BaseEstimator):
        pass

    assert _compat.routing_enabled() is False
    with sklearn.config_context(enable_metadata_routing=True):
        assert _compat.routing_enabled() is True
    # without routing, unexpected fit parameters are an error naming them
    with pytest.raises(ValueError, match="groups"):
        _compat.raise_for_params({"groups": [0, 1]}, Owner(), "fit")
    _compat.raise_for_params({}, Owner(), "fit")  # nothing passed: no error
