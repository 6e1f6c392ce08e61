"""ONNX export (sk_softmax.onnx, extra ``onnx``) and safe persistence with skops.

onnxruntime must agree with the estimator: identical labels, probabilities within 1e-5 on
float32 input.  These tests need the ``onnx`` extra (skl2onnx, onnx, onnxruntime, skops),
which CI installs; the last test runs the path where it is missing.
"""

import doctest
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_digits, load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier

skl2onnx = pytest.importorskip("skl2onnx", reason="the onnx extra is not installed")
ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
skops_io = pytest.importorskip("skops.io", reason="the onnx extra is not installed")

import sk_softmax.onnx  # noqa: E402, F401  (registers the converter)

REPO = Path(__file__).resolve().parents[1]


def mnist_subset(n=3000):
    from benchmarks._common import default_mnist_dir
    from sk_softmax.datasets import load_mnist

    data_dir = default_mnist_dir()
    if data_dir is None:
        pytest.skip("MNIST IDX files not found beside the repository (../shared/data/mnist)")
    X, y = load_mnist(data_dir, "test")
    return X[:n], y[:n]


def datasets():
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    return {
        "digits": load_digits(return_X_y=True),
        "breast_cancer (binary)": load_breast_cancer(return_X_y=True),
        "iris (string labels)": (X, names[y]),
    }


def run_onnx(onx, X):
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: X})


def check_agreement(model, X, dtype, zipmap):
    X = np.ascontiguousarray(X, dtype=dtype)
    options = {SoftmaxClassifier: {"zipmap": zipmap}}
    onx = skl2onnx.to_onnx(model, X[:1], options=options)
    label, proba = run_onnx(onx, X)
    np.testing.assert_array_equal(label, model.predict(X))
    expected = model.predict_proba(X)
    if zipmap is True:  # a list of {class: probability} dicts
        proba = np.array([[row[c] for c in model.classes_] for row in proba])
    if dtype == np.float32:
        tol = 1e-5
    else:  # ZipMap carries float32 only: the dicts hold rounded probabilities
        tol = 1e-7 if zipmap is True else 1e-12
    np.testing.assert_allclose(proba, expected, atol=tol, rtol=0)
    return np.abs(proba - expected).max()


@pytest.mark.parametrize("name", list(datasets()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zipmap", [False, True])
def test_pipeline_agrees_with_onnxruntime(name, dtype, zipmap):
    X, y = datasets()[name]
    X = X.astype(dtype)
    model = make_pipeline(StandardScaler(), SoftmaxClassifier(max_iter=1000)).fit(X, y)
    check_agreement(model, X, dtype, zipmap)


def test_mnist_subset_and_bare_estimator():
    X, y = mnist_subset()
    X = X.astype(np.float32)
    model = SoftmaxClassifier(max_iter=200).fit(X[:2000], y[:2000])
    check_agreement(model, X, np.float32, False)
    sgd = SoftmaxClassifier(solver="sgd", random_state=0, max_iter=3, tol=None)
    check_agreement(sgd.fit(X[:2000], y[:2000]), X, np.float32, False)


def test_zipmap_columns_and_no_intercept():
    X, y = load_iris(return_X_y=True)
    X = X.astype(np.float32)
    model = SoftmaxClassifier(fit_intercept=False, max_iter=1000).fit(X, y)
    onx = skl2onnx.to_onnx(model, X[:1], options={SoftmaxClassifier: {"zipmap": "columns"}})
    outputs = run_onnx(onx, X)
    np.testing.assert_array_equal(outputs[0], model.predict(X))
    np.testing.assert_allclose(np.column_stack(outputs[1:]), model.predict_proba(X), atol=1e-5)


def test_sparsified_coef_exports():
    X, y = load_digits(return_X_y=True)
    X = (X / 16).astype(np.float32)
    model = SoftmaxClassifier().fit(X, y).sparsify()
    check_agreement(model, X, np.float32, False)


def test_sparse_input_is_refused_and_sparse_fits_convert_from_dense_rows():
    X, y = load_iris(return_X_y=True)
    model = SoftmaxClassifier(max_iter=1000).fit(X, y)
    # the error docs/deploying.md shows
    with pytest.raises(TypeError, match="unable to guess type"):
        skl2onnx.to_onnx(model, sp.csr_matrix(X[:1].astype(np.float32)))
    # fitted on CSR, converted from a dense row: the same graph
    Xs = sp.csr_matrix(X.astype(np.float32))
    sparse_fit = SoftmaxClassifier(max_iter=1000).fit(Xs, y)
    onx = skl2onnx.to_onnx(
        sparse_fit, Xs[:1].toarray(), options={SoftmaxClassifier: {"zipmap": False}}
    )
    label, proba = run_onnx(onx, Xs.toarray())
    np.testing.assert_array_equal(label, sparse_fit.predict(Xs))
    np.testing.assert_allclose(proba, sparse_fit.predict_proba(Xs), atol=1e-5)


def test_labels_that_onnx_cannot_hold():
    X, y = load_iris(return_X_y=True)
    model = SoftmaxClassifier(max_iter=1000).fit(X, y)
    model.classes_ = np.array([0.0, 0.5, 1.0])  # scikit-learn refuses to fit such labels
    with pytest.raises(ValueError, match="integer-valued"):
        skl2onnx.to_onnx(model, X[:1].astype(np.float32))


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_skops_round_trip_trusts_only_our_types(tmp_path, solver):
    X, y = load_digits(return_X_y=True)
    X = X / 16
    model = make_pipeline(
        StandardScaler(),
        SoftmaxClassifier(
            solver=solver, random_state=0, max_iter=5, tol=None if solver == "sgd" else 1e-4
        ),
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    path = tmp_path / "model.skops"
    skops_io.dump(model, path)
    untrusted = skops_io.get_untrusted_types(file=path)
    assert untrusted and all(t.startswith("sk_softmax.") for t in untrusted), untrusted
    with pytest.raises(Exception, match="[Uu]ntrusted"):
        skops_io.load(path)
    loaded = skops_io.load(path, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    if solver == "sgd":  # the SGD state survives: partial_fit continues identically
        model[-1].partial_fit(model[0].transform(X), y)
        loaded[-1].partial_fit(loaded[0].transform(X), y)
        np.testing.assert_array_equal(loaded[-1].coef_, model[-1].coef_)


def test_deploying_page_runs():
    """The code of docs/deploying.md runs and prints what the page shows."""
    failures, tried = doctest.testfile(
        str(REPO / "docs" / "deploying.md"),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
    )
    assert tried > 5 and failures == 0


def test_missing_extra_gives_a_clear_error():
    """Without skl2onnx, importing sk_softmax.onnx names the extra to install."""
    code = (
        "import sys; sys.modules['skl2onnx'] = None\n"
        "try:\n    import sk_softmax.onnx\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert "pip install" in out and "onnx" in out


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_bounded_model_exports_and_persists_unchanged(tmp_path, solver):
    """A model fitted with bounds and penalty factors (array parameters) converts to
    ONNX and round-trips through skops like any other."""
    X, y = load_digits(return_X_y=True)
    X = X / 16
    d = X.shape[1]
    model = SoftmaxClassifier(
        solver=solver,
        random_state=0,
        max_iter=20,
        lower_bounds=np.zeros(d),
        upper_bounds=0.5,
        penalty_factor=np.linspace(0.0, 2.0, d),
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    assert np.all((model.coef_ >= 0) & (model.coef_ <= 0.5))
    check_agreement(model, X[:200], np.float32, False)
    path = tmp_path / "bounded.skops"
    skops_io.dump(model, path)
    untrusted = skops_io.get_untrusted_types(file=path)
    assert all(t.startswith("sk_softmax.") for t in untrusted), untrusted
    loaded = skops_io.load(path, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.get_params()["penalty_factor"], model.penalty_factor)
