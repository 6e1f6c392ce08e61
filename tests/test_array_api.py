"""Array API input (sk_softmax/_array_api.py): fits and predictions on array-api-strict and
PyTorch (CPU) arrays under ``array_api_dispatch=True``, against the NumPy fit.

PyTorch is optional (its tests skip without it; ``tox -e array-api-torch`` installs it);
array-api-strict is in the test extra.  The dispatch is turned on with
``sklearn.config_context`` inside each test, so no configuration outlives a test.
"""

import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import config_context
from sklearn.datasets import load_iris, make_classification
from sklearn.utils._array_api import (
    get_namespace_and_device,
    move_estimator_to,
    move_to,
    yield_namespace_device_dtype_combinations,
)
from sklearn.utils.estimator_checks import (
    check_array_api_input,
    check_array_api_input_and_values,
)

from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV
from sk_softmax._array_api import ArrayApiLoss, cross_entropy_gradient
from sk_softmax._loss import SoftmaxLoss

# (namespace, device name) pairs this machine can run: array-api-strict on its default
# device and on its second one (what a non-default device is), PyTorch on the CPU
NAMESPACES = [("array_api_strict", None), ("array_api_strict", "device1"), ("torch", "cpu")]
TOL = {"float64": 1e-6, "float32": 1e-4}


def _namespace(name, device_name):
    xp = pytest.importorskip(name)
    if name == "array_api_strict":
        return xp, xp.Device(device_name) if device_name else xp.Device("CPU_DEVICE")
    return xp, xp.device(device_name)


def _to(xp, device, array):
    return None if array is None else xp.asarray(np.asarray(array), device=device)


def _host(array):
    return move_to(array, xp=np, device="cpu")


def _iris(dtype="float64"):
    X, y = load_iris(return_X_y=True)
    return ((X - X.mean(0)) / X.std(0)).astype(dtype), y


def _binary(dtype="float64"):
    X, y = make_classification(n_samples=200, n_features=8, random_state=0)
    return X.astype(dtype), y


# -- scikit-learn's checks, with values -----------------------------------------------------
def _combinations():
    for name, device, dtype in yield_namespace_device_dtype_combinations():
        if (name, device) in (("array_api_strict", "CPU_DEVICE"), ("torch", "cpu")):
            yield name, device, dtype


@pytest.mark.parametrize("name, device, dtype", list(_combinations()))
@pytest.mark.parametrize(
    "estimator",
    [
        SoftmaxClassifier(),
        SoftmaxClassifier(C=0.1, class_weight="balanced"),
        SoftmaxClassifier(fit_intercept=False),
        # (not elastic-net: the check compares n_iter_, and the L1 solver takes no Newton
        # steps on the array API loss; test_l1_fit_matches_numpy compares its solution)
    ],
    ids=["default", "balanced", "no-intercept"],
)
def test_sklearn_array_api_checks_with_values(estimator, name, device, dtype):
    pytest.importorskip(name)
    name_ = type(estimator).__name__
    check_array_api_input_and_values(
        name_, estimator, array_namespace=name, device_name=device, dtype_name=dtype,
        check_sample_weight=True,
    )  # fmt: skip
    check_array_api_input(name_, estimator, array_namespace=name, device_name=device)


# -- agreement with the NumPy fit ------------------------------------------------------------
@pytest.mark.parametrize("name, device_name", NAMESPACES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("data", ["iris", "binary"])
@pytest.mark.parametrize(
    "params",
    [{}, {"fit_intercept": False}, {"C": 0.05, "class_weight": "balanced"}],
    ids=["default", "no-intercept", "balanced"],
)
def test_fit_matches_numpy(name, device_name, dtype, data, params):
    xp, device = _namespace(name, device_name)
    X, y = _iris(dtype) if data == "iris" else _binary(dtype)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, X.shape[0])
    # float32: at the default tol both fits follow the same iterates; at tighter ones, where
    # float32 rounding decides where L-BFGS stops, each lands within ~2e-4 of the optimum
    kw = {"tol": 1e-8 if dtype == "float64" else 1e-4, "max_iter": 1000, **params}
    ref = SoftmaxClassifier(**kw).fit(X, y, sample_weight=sw)
    Xa = _to(xp, device, X)
    with config_context(array_api_dispatch=True):
        clf = SoftmaxClassifier(**kw).fit(Xa, _to(xp, device, y), sample_weight=_to(xp, device, sw))
        proba = clf.predict_proba(Xa)
        log_proba = clf.predict_log_proba(Xa)
        scores = clf.decision_function(Xa)
        labels = clf.predict(Xa)
        score = clf.score(Xa, _to(xp, device, y))
    for attr in ("coef_", "intercept_", "n_iter_"):
        value = getattr(clf, attr)
        assert type(value) is type(Xa), attr
        assert value.device == Xa.device, attr
    assert clf.coef_.dtype == Xa.dtype and clf.intercept_.dtype == Xa.dtype
    assert clf.n_iter_.dtype == xp.int32
    assert isinstance(clf.classes_, np.ndarray)
    for out in (proba, log_proba, scores, labels):
        assert type(out) is type(Xa) and out.device == Xa.device
    assert proba.dtype == Xa.dtype
    np.testing.assert_allclose(_host(proba), ref.predict_proba(X), rtol=0, atol=TOL[dtype])
    np.testing.assert_allclose(
        np.exp(_host(log_proba)), ref.predict_proba(X), rtol=0, atol=TOL[dtype]
    )
    np.testing.assert_array_equal(_host(labels), ref.predict(X))
    assert score == pytest.approx(ref.score(X, y))


@pytest.mark.parametrize("name, device_name", NAMESPACES)
@pytest.mark.parametrize(
    "penalty",
    [
        {"C": 0.5, "l1_ratio": 1.0},
        {"C": 0.3, "l1_ratio": 1.0, "l1_groups": "features"},
    ],
    ids=["l1", "grouped l1"],
)
def test_l1_fit_matches_numpy(name, device_name, penalty):
    """The L1 solvers run on the array API loss (quasi-Newton steps only: no Hessian
    products there; the grouped penalty is the host's too) to the NumPy fit's solution
    and its zero weights."""
    xp, device = _namespace(name, device_name)
    X, y = _iris()
    kw = {**penalty, "tol": 1e-9, "max_iter": 2000}
    ref = SoftmaxClassifier(**kw).fit(X, y)
    with config_context(array_api_dispatch=True):
        Xa = _to(xp, device, X)
        clf = SoftmaxClassifier(**kw).fit(Xa, _to(xp, device, y))
        proba = _host(clf.predict_proba(Xa))
    np.testing.assert_allclose(proba, ref.predict_proba(X), rtol=0, atol=1e-6)
    np.testing.assert_array_equal(_host(clf.coef_) == 0, ref.coef_ == 0)


@pytest.mark.parametrize("name, device_name", NAMESPACES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bounds_and_penalty_factors_match_numpy(name, device_name, dtype):
    """The penalty object (factors, box) is the host's: the same constrained solution, and
    a float32 coef_ rounded into the box as on the NumPy path."""
    xp, device = _namespace(name, device_name)
    X, y = _iris(dtype)
    kw = {"C": 0.5, "tol": 1e-8, "max_iter": 2000, "lower_bounds": 0.0, "upper_bounds": 1.5,
          "penalty_factor": [1.0, 0.0, 2.0, 1.0]}  # fmt: skip
    ref = SoftmaxClassifier(**kw).fit(X, y)
    with config_context(array_api_dispatch=True):
        Xa = _to(xp, device, X)
        clf = SoftmaxClassifier(**kw).fit(Xa, _to(xp, device, y))
        proba = _host(clf.predict_proba(Xa))
    coef = _host(clf.coef_)
    assert coef.min() >= 0.0 and coef.max() <= 1.5
    np.testing.assert_allclose(proba, ref.predict_proba(X), rtol=0, atol=TOL[dtype])
    with pytest.raises(TypeError, match="array API input"):
        clf.std_errors(X, y)


@pytest.mark.parametrize("name, device_name", NAMESPACES)
@pytest.mark.parametrize("n_classes, fit_intercept", [(3, True), (2, True), (3, False)])
def test_loss_gradient_matches_softmax_loss(name, device_name, n_classes, fit_intercept):
    """One evaluation on the device equals the numba kernels' (and the NumPy path's)."""
    xp, device = _namespace(name, device_name)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 7))
    y = rng.integers(0, n_classes, 300)
    sw = rng.uniform(0, 3, 300)
    kw = {"C": 0.7, "fit_intercept": fit_intercept}
    ref = SoftmaxLoss(X, y, n_classes, sw, **kw)
    coef = rng.standard_normal(ref.layout.n_params)
    with config_context(array_api_dispatch=True):
        loss = ArrayApiLoss(_to(xp, device, X), y, n_classes, sw, **kw)
        value, grad = loss.loss_gradient(coef)
    ref_value, ref_grad = ref.loss_gradient(coef)
    assert isinstance(value, float) and grad.dtype == np.float64
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-13)
    # L-BFGS's scaling: the same estimate as in memory (same iterates)
    np.testing.assert_allclose(loss.curvature_diagonal(), ref.curvature_diagonal(), rtol=1e-12)
    assert loss.supports_hessian_product is False
    with pytest.raises(NotImplementedError):
        loss.hessian_product(coef, np.ones(coef.shape, dtype=bool))


def test_cross_entropy_gradient_extreme_logits():
    """Logits far beyond exp's range give finite values and gradients."""
    xp = pytest.importorskip("array_api_strict")
    X = xp.asarray([[1.0], [-1.0]])
    for binary, W, T, expected in (
        (True, xp.asarray([[800.0]]), xp.asarray([[0.0], [1.0]]), 800.0),
        (False, xp.asarray([[800.0], [-800.0], [0.0]]), xp.asarray([[0.0, 1, 0], [1, 0, 0]]), 1600),
    ):
        value, gW, gb = cross_entropy_gradient(xp, X, T, 0.5, W, None, binary)
        assert float(value) == pytest.approx(expected)
        assert np.isfinite(_host(gW)).all() and np.isfinite(_host(gb)).all()


# -- what the estimator keeps and where -------------------------------------------------------
@pytest.mark.parametrize("name, device_name", NAMESPACES)
def test_warm_start_and_refit(name, device_name):
    xp, device = _namespace(name, device_name)
    X, y = _iris()
    with config_context(array_api_dispatch=True):
        Xa, ya = _to(xp, device, X), _to(xp, device, y)
        clf = SoftmaxClassifier(warm_start=True, tol=1e-8, max_iter=1000).fit(Xa, ya)
        clf.fit(Xa, ya)  # from its own solution: done at once
        assert int(_host(clf.n_iter_)[0]) <= 2
        with pytest.raises(ValueError, match="warm_start"):
            clf.fit(Xa[:, :3], ya)


@pytest.mark.parametrize("name, device_name", NAMESPACES)
def test_move_estimator_to(name, device_name):
    """A model fitted on the device predicts NumPy input after move_estimator_to (on the
    numba path), and back; X of another namespace gets scikit-learn's error."""
    xp, device = _namespace(name, device_name)
    X, y = _iris()
    Xa = _to(xp, device, X)
    with config_context(array_api_dispatch=True):
        clf = SoftmaxClassifier().fit(Xa, _to(xp, device, y))
        proba = _host(clf.predict_proba(Xa))
        for method in ("predict_proba", "predict_log_proba", "predict", "decision_function"):
            with pytest.raises(ValueError, match="must use the same namespace"):
                getattr(clf, method)(X)
        host = move_estimator_to(clf, np, "cpu")
        xp, _, device = get_namespace_and_device(Xa)  # the namespace scikit-learn uses
        assert isinstance(host.coef_, np.ndarray) and isinstance(host.n_iter_, np.ndarray)
        np.testing.assert_allclose(host.predict_proba(X), proba, rtol=1e-12)
        back = move_estimator_to(host, xp, device)
        np.testing.assert_allclose(_host(back.predict_proba(Xa)), proba, rtol=1e-12)
    np.testing.assert_allclose(host.predict_proba(X), proba, rtol=1e-12)  # dispatch off


def test_float32_stays_float32():
    xp = pytest.importorskip("array_api_strict")
    X, y = _iris("float32")
    with config_context(array_api_dispatch=True):
        Xa = xp.asarray(X)
        clf = SoftmaxClassifier().fit(Xa, xp.asarray(y))
        assert clf.coef_.dtype == xp.float32 and clf.intercept_.dtype == xp.float32
        assert clf.predict_proba(Xa).dtype == xp.float32
        assert clf.predict_log_proba(Xa).dtype == xp.float32
        # integer X becomes float64, as LogisticRegression makes it
        clf = SoftmaxClassifier().fit(xp.asarray((X * 4).astype(np.int64)), xp.asarray(y))
        assert clf.coef_.dtype == xp.float64


def test_string_labels_and_mixed_namespaces():
    """y of any namespace (here NumPy strings) with X on the device, as LogisticRegression
    takes them; predictions are the labels."""
    xp = pytest.importorskip("array_api_strict")
    X, y = _iris()
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    with config_context(array_api_dispatch=True):
        Xa = xp.asarray(X, device=xp.Device("device1"))
        clf = SoftmaxClassifier().fit(Xa, names, sample_weight=np.ones(X.shape[0]))
        assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
        pred = clf.predict(Xa)
    ref = SoftmaxClassifier().fit(X, names)
    np.testing.assert_array_equal(pred, ref.predict(X))


def test_log_proba_is_finite():
    xp = pytest.importorskip("array_api_strict")
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    y = np.array([0, 0, 1, 1])
    with config_context(array_api_dispatch=True):
        clf = SoftmaxClassifier(C=np.inf, tol=1e-10).fit(xp.asarray(X), xp.asarray(y))
        log_proba = _host(clf.predict_log_proba(xp.asarray(np.array([[-1e6], [1e6]]))))
    assert np.isfinite(log_proba).all()


# -- what is not supported, and what stays as it was ------------------------------------------
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_unsupported_solvers_and_estimators_raise():
    xp = pytest.importorskip("array_api_strict")
    X, y = _iris()
    with config_context(array_api_dispatch=True):
        Xa, ya = xp.asarray(X), xp.asarray(y)
        with pytest.raises(ValueError, match=r"solver='sgd'.*SoftmaxClassifier\(solver='lbfgs'\)"):
            SoftmaxClassifier(solver="sgd").fit(Xa, ya)
        with pytest.raises(ValueError, match="partial_fit does not support array API"):
            SoftmaxClassifier(solver="sgd").partial_fit(Xa, ya, classes=np.arange(3))
        with pytest.raises(ValueError, match="SoftmaxClassifierCV does not support array API"):
            SoftmaxClassifierCV(Cs=2, cv=2).fit(Xa, ya)
        # NumPy input keeps every solver and estimator, dispatch on or off
        SoftmaxClassifier(solver="sgd", max_iter=2, random_state=0).fit(X, y)
        SoftmaxClassifierCV(Cs=2, cv=2).fit(X, y)
    assert SoftmaxClassifier().__sklearn_tags__().array_api_support
    assert not SoftmaxClassifier(solver="sgd").__sklearn_tags__().array_api_support
    assert not SoftmaxClassifierCV().__sklearn_tags__().array_api_support


def test_numpy_input_under_dispatch_takes_the_numba_path():
    """NumPy input (and lists, and sparse matrices) under dispatch takes the numba path:
    the bits of dispatch off."""
    X, y = _iris()
    ref = SoftmaxClassifier().fit(X, y)
    with config_context(array_api_dispatch=True):
        clf = SoftmaxClassifier().fit(X, y)
        proba = clf.predict_proba(X)
        sparse = SoftmaxClassifier(tol=1e-10, max_iter=1000).fit(sp.csr_matrix(X), y)
        as_list = SoftmaxClassifier().fit(X.tolist(), y.tolist())
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)
    np.testing.assert_array_equal(proba, ref.predict_proba(X))
    np.testing.assert_array_equal(as_list.coef_, ref.coef_)
    # CSR takes another L-BFGS path (no Kronecker preconditioner): the same optimum, to
    # how closely both solves reach it
    tight = SoftmaxClassifier(tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(sparse.coef_, tight.coef_, rtol=1e-6, atol=1e-8)


def test_torch_input_with_dispatch_off_is_converted():
    """Dispatch off: a CPU tensor goes through np.asarray, as before (NumPy attributes)."""
    torch = pytest.importorskip("torch")
    X, y = _iris()
    clf = SoftmaxClassifier().fit(torch.asarray(X), torch.asarray(y))
    assert isinstance(clf.coef_, np.ndarray)
    np.testing.assert_array_equal(clf.coef_, SoftmaxClassifier().fit(X, y).coef_)


def test_dispatch_off_never_imports_the_backend():
    code = (
        "import sys; from sklearn.datasets import load_iris; "
        "from sk_softmax import SoftmaxClassifier; X, y = load_iris(return_X_y=True); "
        "SoftmaxClassifier().fit(X, y).predict_proba(X); "
        "assert 'sk_softmax._array_api' not in sys.modules; "
        "assert 'array_api_strict' not in sys.modules and 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("name, device_name", NAMESPACES[1:])
def test_float32_stage(name, device_name, monkeypatch):
    """A float64 fit large enough for NumPy input's float32 stage has it on the device too
    (a float32 copy of X there), and ends at the float64 solution of a fit without it."""
    xp, device = _namespace(name, device_name)
    X, y = make_classification(
        n_samples=3000, n_features=30, n_informative=10, n_classes=3, random_state=0
    )
    Xa, ya = _to(xp, device, X), _to(xp, device, y)
    dtypes = []
    original = ArrayApiLoss.loss_gradient

    def spy(self, coef):
        dtypes.append(self.dtype)
        return original(self, coef)

    monkeypatch.setattr(ArrayApiLoss, "loss_gradient", spy)
    kw = {"tol": 1e-8, "max_iter": 1000}
    with config_context(array_api_dispatch=True):
        staged = _host(SoftmaxClassifier(**kw).fit(Xa, ya).predict_proba(Xa))
        assert np.float32 in dtypes and dtypes[-1] == np.float64
        dtypes.clear()
        from sk_softmax import _precision

        monkeypatch.setattr(_precision, "FLOAT32_STAGE_MAX_COPY_BYTES", 0)
        plain = _host(SoftmaxClassifier(**kw).fit(Xa, ya).predict_proba(Xa))
        assert set(dtypes) == {np.dtype(np.float64)}
    np.testing.assert_allclose(staged, plain, rtol=0, atol=1e-6)
    np.testing.assert_allclose(
        staged, SoftmaxClassifier(**kw).fit(X, y).predict_proba(X), atol=1e-6
    )


def test_no_float32_stage_beyond_float32_range():
    xp = pytest.importorskip("array_api_strict")
    X, y = make_classification(
        n_samples=3000, n_features=30, n_informative=10, n_classes=3, random_state=0
    )
    X[0, 0] = 1e39
    with config_context(array_api_dispatch=True):
        from sk_softmax._array_api import precision_stages

        loss = ArrayApiLoss(xp.asarray(X), y, 3, None)
        assert not loss.small and precision_stages(loss).float32 is None
        loss = ArrayApiLoss(xp.asarray(X[1:]), y[1:], 3, None)
        assert precision_stages(loss).float32 is not None
