"""Properties every estimator and solver path must have, each asserted in one place.

* The number of threads does not change a result, not by a bit: the kernels sum in
  chunks fixed by the data's shape, never by the thread count (docs/design.md).
* Inputs are never modified: ``X`` (dense or CSR, whatever its layout, dtype and
  storage quirks), ``y`` and ``sample_weight`` are as they were after fits and
  predictions, read-only input included.

Each property is one test, parametrized over the paths: L-BFGS on dense float64, dense
float32 and CSR data, the L1 and elastic-net solvers, SGD (with and without averaging),
``partial_fit``, ``SoftmaxClassifierCV``, the dask backend (where dask is installed), the
array API backend on PyTorch tensors (where torch is installed) and,
for the thread count, the loss object and the dense kernel themselves.
"""

import warnings

import numba
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV
from sk_softmax._kernels import (
    DenseFullBuffers,
    dense_loss_grad,
    padded_classes,
    reduce_chunks,
)
from sk_softmax._loss import SoftmaxLoss
from sk_softmax._threading import kernel_threads


# -- the number of threads -----------------------------------------------------------------
def _digits(dtype=np.float64, sparse=False, reps=3):
    """Digits three times over (5391 x 64, half zeros): every kernel call of a fit is above
    sk_softmax._threading.PARALLEL_MIN_WORK, so that two threads run the parallel variants
    (one thread runs the serial ones)."""
    X, y = load_digits(return_X_y=True)
    X = np.tile(X / 16.0, (reps, 1)).astype(dtype)
    y = np.tile(y, reps)
    return (sp.csr_matrix(X) if sparse else X), y


def _weights(n):
    return np.random.default_rng(0).uniform(0.2, 3.0, n)


def _fitted(est, X):
    return {"coef": est.coef_, "intercept": est.intercept_, "proba": est.predict_proba(X)}


def _fit(n_jobs, dtype=np.float64, sparse=False, weighted=False, **params):
    X, y = _digits(dtype, sparse)
    sw = _weights(len(y)) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SoftmaxClassifier(n_jobs=n_jobs, **params).fit(X, y, sample_weight=sw)
    out = _fitted(est, X)
    if est.solver == "sgd":
        out["loss_curve"] = np.array(est.loss_curve_)
    return out


def _fit_badly_scaled(n_jobs):
    """Columns of scales 1e-2..1e2, CSR: L-BFGS on Jacobi-scaled coefficients (dense
    data take the Kronecker preconditioner, the "lbfgs dense" cases)."""
    X, y = _digits()
    X = sp.csr_matrix(X * np.logspace(-2, 2, X.shape[1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = SoftmaxClassifier(n_jobs=n_jobs, max_iter=300).fit(X, y)
    return _fitted(est, X)


def _partial_fit(n_jobs, sparse=False):
    X, y = _digits(sparse=sparse)
    est = SoftmaxClassifier(solver="sgd", batch_size=1024, random_state=0, n_jobs=n_jobs)
    for _ in range(2):
        est.partial_fit(X, y, classes=np.arange(10))
    return _fitted(est, X)


def _cv(n_jobs):
    # n_jobs=1: one fold at a time on two kernel threads; n_jobs=2: two folds at once on
    # one kernel thread each
    X, y = _digits(reps=1)
    est = SoftmaxClassifierCV(Cs=4, cv=3, n_jobs=n_jobs).fit(X, y)
    return {"paths": est.coefs_paths_, "scores": est.scores_, **_fitted(est, X)}


def _dask(n_jobs, monkeypatch):
    """A fit on dask blocks, each task running ``n_jobs`` kernel threads: a distributed
    worker with that many threads, faked, under dask's synchronous scheduler."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    import dask

    class State:
        nthreads = n_jobs
        executing_count = 1

    class Worker:
        state = State()

    monkeypatch.setattr(distributed, "get_worker", lambda: Worker())
    X, y = _digits()
    with dask.config.set(scheduler="synchronous"):
        est = SoftmaxClassifier().fit(
            da.from_array(X, chunks=(2700, -1)), da.from_array(y, chunks=2700)
        )
    return {"coef": est.coef_, "intercept": est.intercept_}


def _loss_evaluation(n_jobs, dtype):
    """The loss object, on weighted data, under the estimator call's thread setting."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 20)).astype(dtype)
    y = rng.integers(0, 6, 5000)
    coef = rng.standard_normal(6 * 21)
    with kernel_threads(n_jobs):
        value, grad = SoftmaxLoss(X, y, 6, _weights(5000)).loss_gradient(coef)
    return {"value": np.array(value), "grad": grad}


def _dense_kernel(n_jobs, dtype):
    """The parallel variant of the dense kernel itself on 1 or 2 threads (a fit runs it on
    two or more only), in seven chunks of blocks of 16 rows."""
    rng = np.random.default_rng(0)
    n, d, K, n_chunks, block = 1000, 13, 6, 7, 16
    X = rng.standard_normal((n, d)).astype(dtype)
    y = rng.integers(0, K, n)
    W = rng.standard_normal((K, d)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    buf = DenseFullBuffers(
        Z=np.full((n, K), np.nan, dtype=dtype),
        WTp=np.full((d, padded_classes(K, dtype)), np.nan, dtype=dtype),
        tmp=np.full((n_chunks, K, d), np.nan, dtype=dtype),
        acc_W=np.full((n_chunks, K, d), np.nan),
        acc_b=np.full((n_chunks, K), np.nan),
        acc_loss=np.full(n_chunks, np.nan),
    )
    gW, gb = np.empty((K, d)), np.empty(K)
    with kernel_threads(n_jobs):
        dense_loss_grad(X, y, np.empty(0), W, b, False, block, buf, True)
    loss = reduce_chunks(buf.acc_W, buf.acc_b, buf.acc_loss, gW, gb)
    return {"loss": np.array(loss), "gW": gW, "gb": gb, "Z": buf.Z}


THREAD_CASES = {
    "lbfgs dense": lambda n, mp: _fit(n, max_iter=300),
    "lbfgs dense float32, weighted": lambda n, mp: _fit(n, np.float32, weighted=True, max_iter=300),
    "lbfgs csr": lambda n, mp: _fit(n, sparse=True, max_iter=300),
    "lbfgs csr, badly scaled (Jacobi scaling)": lambda n, mp: _fit_badly_scaled(n),
    "l1": lambda n, mp: _fit(n, C=0.05, l1_ratio=1.0, tol=1e-6, max_iter=500),
    "elastic-net": lambda n, mp: _fit(n, C=0.05, l1_ratio=0.5, tol=1e-6, max_iter=500),
    "elastic-net csr": lambda n, mp: _fit(n, sparse=True, C=0.05, l1_ratio=0.5, max_iter=100),
    # batches of 512 (dense) and 1024 (CSR) rows: above PARALLEL_MIN_WORK
    "sgd dense": lambda n, mp: _fit(
        n, solver="sgd", batch_size=512, random_state=3, max_iter=5, tol=None
    ),
    "sgd dense float32, averaged, weighted": lambda n, mp: _fit(
        n,
        np.float32,
        weighted=True,
        solver="sgd",
        batch_size=512,
        average=True,
        random_state=3,
        max_iter=3,
        tol=None,
    ),
    "sgd csr": lambda n, mp: _fit(
        n, sparse=True, solver="sgd", batch_size=1024, random_state=3, max_iter=5, tol=None
    ),
    "sgd csr l1": lambda n, mp: _fit(
        n,
        sparse=True,
        solver="sgd",
        batch_size=1024,
        C=0.1,
        l1_ratio=1.0,
        random_state=3,
        max_iter=3,
        tol=None,
    ),
    "partial_fit dense": lambda n, mp: _partial_fit(n),
    "partial_fit csr": lambda n, mp: _partial_fit(n, sparse=True),
    "SoftmaxClassifierCV": lambda n, mp: _cv(n),
    "dask": _dask,
    "loss object float64": lambda n, mp: _loss_evaluation(n, np.float64),
    "loss object float32": lambda n, mp: _loss_evaluation(n, np.float32),
    "dense kernel float64": lambda n, mp: _dense_kernel(n, np.float64),
    "dense kernel float32": lambda n, mp: _dense_kernel(n, np.float32),
}


@pytest.mark.parametrize("case", list(THREAD_CASES))
def test_thread_count_does_not_change_results(case, monkeypatch):
    """One thread, two threads, and two threads again: the same bits."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("numba has one thread here: nothing to compare")
    run = THREAD_CASES[case]
    first, *others = [run(n_jobs, monkeypatch) for n_jobs in (1, 2, 2)]
    for other in others:
        assert other.keys() == first.keys()
        for key, value in first.items():
            np.testing.assert_array_equal(other[key], value, err_msg=f"{case}: {key}")


# -- inputs are never modified ----------------------------------------------------------
def _awkward_csr(X, dtype):
    """``X`` as CSR with every storage quirk: unsorted indices, a repeated index (its two
    entries add up), explicit zeros and an empty row."""
    X = np.array(X, dtype=dtype)
    X[3] = 0.0  # an empty row
    rows, cols, vals = [], [], []
    for i, row in enumerate(X):
        nz = np.flatnonzero(row)[::-1]  # unsorted
        v = list(row[nz])
        c = list(nz)
        if len(c) > 1:
            half = v[0] / 2  # repeated: the first value split in two
            c.append(c[0])
            v[0] = half
            v.append(half)
        if i % 5 == 0:
            c.append(0 if 0 not in c else c[-1])
            v.append(0.0)  # an explicit zero
        rows += [i] * len(c)
        cols += c
        vals += v
    indptr = np.searchsorted(rows, np.arange(X.shape[0] + 1))
    Xs = sp.csr_matrix(
        (np.array(vals, dtype=dtype), np.array(cols, dtype=np.int32), indptr.astype(np.int32)),
        shape=X.shape,
    )
    assert not Xs.has_sorted_indices and not Xs.has_canonical_format
    np.testing.assert_allclose(Xs.toarray(), X, rtol=1e-6)
    return Xs


LAYOUTS = ["C", "F", "readonly", "float32", "csr", "csr awkward", "csr awkward float32"]


def _inputs(layout):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    sw = np.linspace(0.5, 2.0, len(y))
    if layout == "F":
        X = np.asfortranarray(X)
    elif layout == "float32":
        X = X.astype(np.float32)
    elif layout == "csr":
        X = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    elif layout.startswith("csr awkward"):
        X = _awkward_csr(X, np.float32 if layout.endswith("float32") else np.float64)
    if layout == "readonly":
        for a in (X, y, sw):
            a.setflags(write=False)
    return X, y, sw


def _snapshot(X, y, sw):
    """Copies of everything a fit could change: values, index arrays, CSR flags, array
    flags."""
    arrays = (X.data, X.indices, X.indptr) if sp.issparse(X) else (X,)
    state = {f"X[{i}]": a.copy() for i, a in enumerate(arrays)}
    state.update(y=y.copy(), sw=sw.copy())
    flags = [
        (a.flags.writeable, a.flags.c_contiguous, a.flags.f_contiguous) for a in (*arrays, y, sw)
    ]
    if sp.issparse(X):
        flags.append((X.has_sorted_indices, X.has_canonical_format, X.nnz, X.format))
    return state, flags


def _use(case, X, y, sw):
    """Fit, and predict on the training data, along ``case``'s path."""
    if case == "loss object":
        loss = SoftmaxLoss(X, y, 3, sw, C=0.5)
        coef = np.random.default_rng(0).standard_normal(loss.n_params)
        loss.loss_gradient(coef)
        loss.loss_gradient(coef, np.arange(0, len(y), 3))  # a minibatch
        return
    if case == "dask":
        da = pytest.importorskip("dask.array")
        if sp.issparse(X):
            Xd = da.from_array(X, chunks=(50, -1), asarray=False)
        else:
            Xd = da.from_array(X, chunks=(50, -1))
        est = SoftmaxClassifier(max_iter=50).fit(
            Xd, da.from_array(y, chunks=50), sample_weight=da.from_array(sw, chunks=50)
        )
        est.predict_proba(Xd).compute()
        return
    if case == "array API":
        _use_array_api(X, y, sw)
        return
    common = dict(max_iter=50, class_weight="balanced")
    if case == "SoftmaxClassifierCV":
        est = SoftmaxClassifierCV(Cs=2, cv=2, **common)
    elif case == "partial_fit":
        est = SoftmaxClassifier(solver="sgd", random_state=0, max_iter=50)
    else:
        params = {
            "lbfgs": {},
            "l1": dict(C=0.5, l1_ratio=1.0),
            "elastic-net": dict(C=0.5, l1_ratio=0.5),
            "sgd": dict(solver="sgd", random_state=0),
            "sgd averaged": dict(solver="sgd", average=True, random_state=0),
        }[case]
        est = SoftmaxClassifier(**params, **common)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if case == "partial_fit":
            for _ in range(2):
                est.partial_fit(X, y, classes=np.unique(y), sample_weight=sw)
        else:
            est.fit(X, y, sample_weight=sw)
    est.predict_proba(X)
    est.predict_log_proba(X)
    est.decision_function(X)


def _use_array_api(X, y, sw):
    """Fit and predict on PyTorch tensors that share the NumPy arrays' memory (so that a
    change made through them shows in the snapshot), under array API dispatch."""
    torch = pytest.importorskip("torch")
    from sklearn import config_context

    if sp.issparse(X):
        pytest.skip("array API input is dense (sparse X takes the numba kernels)")
    with config_context(array_api_dispatch=True), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", UserWarning)  # torch on read-only arrays
        Xt = torch.from_numpy(X)
        est = SoftmaxClassifier(max_iter=50, class_weight="balanced")
        est.fit(Xt, torch.from_numpy(y), sample_weight=torch.from_numpy(sw))
        est.predict_proba(Xt)
        est.predict_log_proba(Xt)
        est.decision_function(Xt)


INPUT_CASES = [
    "lbfgs",
    "l1",
    "elastic-net",
    "sgd",
    "sgd averaged",
    "partial_fit",
    "SoftmaxClassifierCV",
    "dask",
    "array API",
    "loss object",
]


@pytest.mark.parametrize(
    "case, layout",
    [
        (case, layout)
        for case in INPUT_CASES
        for layout in LAYOUTS
        # the loss object takes dense X C-contiguous (the estimators make it so)
        if not (case == "loss object" and layout == "F")
    ],
)
def test_inputs_are_not_modified(case, layout, evaluation):
    """Along every path, on the NumPy evaluations of small problems and on the kernels
    (the ``evaluation`` fixture), ``X``, ``y`` and ``sample_weight`` are left as given."""
    X, y, sw = _inputs(layout)
    before = _snapshot(X, y, sw)
    _use(case, X, y, sw)
    after = _snapshot(X, y, sw)
    for key, value in before[0].items():
        np.testing.assert_array_equal(after[0][key], value, err_msg=f"{key} changed")
    assert after[1] == before[1], "flags changed"
