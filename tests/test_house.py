"""The house rules of docs/design.md, checked on the package's source, and the written
solver contract checked on both losses."""

import ast
import pathlib

import pytest
from sklearn.datasets import load_iris

import sk_softmax
from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV
from sk_softmax._compat import InvalidParameterError
from sk_softmax._solvers import FullBatchLoss, MinibatchLoss

PACKAGE = pathlib.Path(sk_softmax.__file__).parent
SOURCES = sorted(PACKAGE.rglob("*.py"))


def _functions(path):
    tree = ast.parse(path.read_text())
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_no_function_longer_than_90_lines():
    long = [
        f"{p.relative_to(PACKAGE)}:{f.lineno} {f.name} ({f.end_lineno - f.lineno + 1})"
        for p in SOURCES
        for f in _functions(p)
        if f.end_lineno - f.lineno + 1 > 90
    ]
    assert not long


def test_kernels_take_at_most_14_parameters():
    many = [
        f"{p.name}:{f.name}"
        for p in sorted((PACKAGE / "_kernels").glob("*.py"))
        for f in _functions(p)
        if len(f.args.args) + len(f.args.kwonlyargs) > 14
    ]
    assert not many


def test_no_module_imports_another_modules_underscore_names():
    """What is shared has a public name in its home module (private modules, such as
    ``_kernels._small``, may be imported; ``_compat`` alone renames scikit-learn's)."""
    found = []
    for p in SOURCES:
        if p.name == "_compat.py":
            continue
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module is not None:
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        module = PACKAGE / node.module.replace(".", "/")
                        if not (module / f"{alias.name}.py").exists():
                            found.append(f"{p.name}: {node.module}.{alias.name}")
    assert not found


def test_solvers_do_not_probe_losses():
    """The solver contract declares capabilities; nothing asks ``hasattr(loss, ...)``."""
    for p in sorted((PACKAGE / "_solvers").glob("*.py")):
        assert "hasattr(loss" not in p.read_text(), p.name


def _contract_members(protocol):
    members = set()
    for cls in protocol.__mro__:
        if cls.__name__ in ("FullBatchLoss", "MinibatchLoss"):
            members |= set(getattr(cls, "__annotations__", {}))
            members |= {k for k, v in vars(cls).items() if callable(v) and not k.startswith("_")}
    return members


def test_both_losses_implement_the_solver_contract():
    from sk_softmax._loss import SoftmaxLoss

    X, y = load_iris(return_X_y=True)
    loss = SoftmaxLoss(X, y, 3, C=0.5, l1_ratio=0.5)
    for name in _contract_members(MinibatchLoss):
        assert hasattr(loss, name), name
    assert loss.supports_hessian_product is True
    data = loss.minibatch_data()
    assert data.X is X and data.y is y and not data.sparse
    pytest.importorskip("dask")
    from sk_softmax._dask import DaskLoss

    dask_loss = DaskLoss(None, loss.layout, loss.penalty, n_jobs=None)  # data: not read
    for name in _contract_members(FullBatchLoss):
        assert hasattr(dask_loss, name), name


def test_array_api_loss_implements_the_full_batch_contract():
    xp = pytest.importorskip("array_api_strict")
    from sklearn import config_context

    from sk_softmax._array_api import ArrayApiLoss

    X, y = load_iris(return_X_y=True)
    with config_context(array_api_dispatch=True):
        loss = ArrayApiLoss(xp.asarray(X), y, 3, C=0.5, l1_ratio=0.5)
    for name in _contract_members(FullBatchLoss):
        assert hasattr(loss, name), name
    assert loss.supports_hessian_product is False


@pytest.mark.parametrize("solver", ["saga", "liblinear", "newton-cg", "newton-cholesky", "sag"])
def test_logistic_regression_solvers_get_a_clear_error(solver):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(InvalidParameterError, match="solver='lbfgs' minimises the same"):
        SoftmaxClassifier(solver=solver).fit(X, y)
    with pytest.raises(InvalidParameterError, match="must be 'lbfgs'. Got"):
        SoftmaxClassifierCV(solver=solver).fit(X, y)
    with pytest.raises(InvalidParameterError):  # any other value: scikit-learn's own error
        SoftmaxClassifier(solver="adam").fit(X, y)
    assert isinstance(InvalidParameterError("x"), ValueError)


def test_serial_callers_of_variant_kernels_are_not_compiled_parallel():
    """The SGD epoch loop and the CSR step have no ``prange`` of their own: compiled with
    ``parallel=True`` they made numba warn ("no transformation for parallel execution
    was possible") on first use; each variant calls the callee's variant of its kind."""
    from sk_softmax._kernels import _dense, _sparse

    for callers, name, callee in (
        (_dense._sgd_steps, "_batch_grad_call", _dense._dense_batch_grad),
        (_sparse._csr_step, "_batch_rows_impl", _sparse._csr_batch_rows),
    ):
        for variant in callers:
            assert not variant.targetoptions.get("parallel")
        assert callers.parallel.py_func.__globals__[name] is callee.parallel
        assert callers.serial.py_func.__globals__[name] is callee.serial
    for kernels in (_dense._dense_loss_grad, _sparse._csr_loss_grad):
        assert kernels.parallel.targetoptions.get("parallel")
        assert not kernels.serial.targetoptions.get("parallel")
