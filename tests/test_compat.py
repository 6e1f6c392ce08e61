"""The private scikit-learn names of sk_softmax/_compat.py, checked as we use them.

A scikit-learn release that moves or changes one of them fails here, by name."""

import ast
import importlib
from pathlib import Path

import numpy as np
import pytest
from sklearn.callback.tests._utils import RecordingCallback
from sklearn.datasets import load_iris

from sk_softmax import SoftmaxClassifier, _compat


def _private_sklearn_imports(path):
    """``(module, name, exported_as)`` of every ``from sklearn... import name [as other]``
    in ``path`` where the module or the name is private (a component starting with
    ``_``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sklearn":
            private_module = any(part.startswith("_") for part in node.module.split("."))
            found += [
                (node.module, alias.name, alias.asname or alias.name)
                for alias in node.names
                if private_module or alias.name.startswith("_")
            ]
        elif isinstance(node, ast.Import):
            found += [
                (alias.name, "", "")
                for alias in node.names
                if alias.name.split(".")[0] == "sklearn"
                and any(part.startswith("_") for part in alias.name.split("."))
            ]
    return found


def test_private_names_come_from_compat_only():
    """_compat.py is the one place that imports scikit-learn's private names, and it
    exports each of them: a module importing one directly would escape these tests."""
    package = Path(_compat.__file__).parent
    elsewhere = {
        str(path.relative_to(package)): found
        for path in package.rglob("*.py")
        if path.name != "_compat.py" and (found := _private_sklearn_imports(path))
    }
    assert not elsewhere, f"import these through sk_softmax._compat: {elsewhere}"
    imported = _private_sklearn_imports(Path(_compat.__file__))
    assert imported, "_compat.py imports no private scikit-learn name: update this test"
    for module, name, exported in imported:
        # exported under a public name (no module imports another's underscore names)
        assert exported in _compat.__all__, f"{module}.{name} is not in _compat.__all__"
        assert not exported.startswith("_"), f"{module}.{name} exported as {exported}"
        # the object _compat hands out is scikit-learn's own
        assert getattr(_compat, exported) is getattr(importlib.import_module(module), name)


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
    np.testing.assert_array_equal(
        _compat.check_sample_weight(None, X, dtype=np.float64), np.ones(4)
    )
    with pytest.raises(ValueError, match="Negative values"):
        _compat.check_sample_weight(np.array([1.0, -1.0, 1.0, 1.0]), X, ensure_non_negative=True)
    with pytest.raises(ValueError):
        _compat.check_sample_weight(np.ones(3), X)


def test_linear_classifier_mixins_give_logistic_regression_methods():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxClassifier(max_iter=1000).fit(X, y)
    np.testing.assert_allclose(clf.decision_function(X), X @ clf.coef_.T + clf.intercept_)
    np.testing.assert_array_equal(
        clf.predict(X), clf.classes_[np.argmax(clf.decision_function(X), 1)]
    )
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


def test_array_api_helpers_behave_as_used():
    """get_namespace(_and_device), is_numpy_namespace, move_to and check_same_namespace,
    as the array API backend (sk_softmax/_array_api.py) uses them."""
    from sklearn import config_context

    xp_strict = pytest.importorskip("array_api_strict")
    X = np.arange(6.0).reshape(3, 2)
    with config_context(array_api_dispatch=True):
        xp, _ = _compat.get_namespace(X)
        assert _compat.is_numpy_namespace(xp)
        Xs = xp_strict.asarray(X, device=xp_strict.Device("device1"))
        xp, is_array_api, device = _compat.get_namespace_and_device(Xs)
        assert is_array_api and not _compat.is_numpy_namespace(xp)
        assert device == xp_strict.Device("device1")
        moved = _compat.move_to(X, xp=xp, device=device)
        assert moved.device == device and moved.dtype == xp.float64
        np.testing.assert_array_equal(_compat.move_to(moved, xp=np, device="cpu"), X)
        clf = SoftmaxClassifier().fit(load_iris(return_X_y=True)[0][:, :2], [0, 1, 2] * 50)
        _compat.check_same_namespace(X, clf, attribute="coef_", method="predict")  # NumPy both
        with pytest.raises(ValueError, match=r"SoftmaxClassifier.predict\(\) must use the same"):
            _compat.check_same_namespace(Xs, clf, attribute="coef_", method="predict")
    # dispatch off: no check at all
    _compat.check_same_namespace(Xs, clf, attribute="coef_", method="predict")
