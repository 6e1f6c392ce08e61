"""The dask backend (sk_softmax/_dask.py) on a real distributed.LocalCluster.

Fits on dask input are compared with the in-memory fit of the same data: at a tight
``tol`` both L-BFGS runs reach the same optimum, so coefficients agree to 1e-6 relative
(measured: about 1e-13 and below).  The cluster has two worker processes with one thread
each, bound to 127.0.0.1, started once for the module.  The tests are skipped without the
``dask`` extra (``pip install sk_softmax[dask]``); CI installs it.
"""

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp

from sk_softmax import SoftmaxClassifier

# tight enough that both fits are at the optimum to far better than 1e-6
TIGHT = {"tol": 1e-10, "max_iter": 1000}
RTOL = 1e-6


@pytest.mark.slow  # a child process
def test_import_does_not_import_dask():
    code = (
        "import sys, numpy as np\n"
        "import sk_softmax\n"
        "from sk_softmax import SoftmaxClassifier\n"
        "X = np.random.default_rng(0).standard_normal((40, 3)); y = np.arange(40) % 3\n"
        "SoftmaxClassifier().fit(X, y).predict_proba(X)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    pytest.importorskip("dask.array")
    # distributed's nanny writes its pre-spawn environment (OMP_NUM_THREADS=1,
    # MKL_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1) into this process's os.environ before it
    # starts (or restarts) a worker: put the environment back afterwards, else every child
    # process of the tests that follow would run with one BLAS/OpenMP thread
    environ = dict(os.environ)
    try:
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster,
            distributed.Client(cluster) as c,
        ):
            yield c
    finally:
        for key in set(os.environ) - set(environ):
            del os.environ[key]
        os.environ.update(environ)


@pytest.fixture(scope="module")
def da():
    return pytest.importorskip("dask.array")


def _data(n=1200, d=8, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    X[:, :k] += 1.5 * np.eye(k)[y]  # informative, not separable
    return X, y


def _rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - b)) / np.max(np.abs(b)))


def _assert_same_fit(dask_clf, ref, rtol=RTOL):
    np.testing.assert_array_equal(dask_clf.classes_, ref.classes_)
    assert dask_clf.coef_.dtype == ref.coef_.dtype
    assert _rel(dask_clf.coef_, ref.coef_) < rtol
    scale = max(float(np.max(np.abs(ref.intercept_))), 1e-8)
    assert np.max(np.abs(dask_clf.intercept_ - ref.intercept_)) < rtol * scale


def _objective(clf, X, y):
    from sk_softmax._loss import SoftmaxLoss

    loss = SoftmaxLoss(X, np.searchsorted(clf.classes_, y), clf.classes_.shape[0], C=clf.C)
    return loss.loss(loss.pack(clf.coef_, clf.intercept_))


@pytest.mark.slow
@pytest.mark.parametrize("k", [2, 4])
def test_lbfgs_matches_in_memory(client, da, k):
    X, y = _data(k=k)
    ref = SoftmaxClassifier(C=0.5, **TIGHT).fit(X, y)
    clf = SoftmaxClassifier(C=0.5, **TIGHT).fit(
        da.from_array(X, chunks=(250, 4)), da.from_array(y, chunks=300)
    )
    _assert_same_fit(clf, ref)
    assert clf._dask_stats["n_blocks"] == 5 and clf._dask_stats["persisted"]
    assert clf.n_features_in_ == X.shape[1]


@pytest.mark.slow
@pytest.mark.parametrize("class_weight", [None, {0: 2.0, 2: 0.5}, "balanced"])
def test_weights_match_in_memory(client, da, class_weight):
    X, y = _data()
    sw = np.random.default_rng(1).uniform(0, 3, X.shape[0])
    sw[:50] = 0.0
    ref = SoftmaxClassifier(class_weight=class_weight, **TIGHT).fit(X, y, sample_weight=sw)
    clf = SoftmaxClassifier(class_weight=class_weight, **TIGHT).fit(
        da.from_array(X, chunks=(400, -1)), y, sample_weight=da.from_array(sw, chunks=256)
    )
    _assert_same_fit(clf, ref)
    np.testing.assert_allclose(clf._fit_weight_sum, ref._fit_weight_sum, rtol=1e-12)


@pytest.mark.slow
def test_string_labels_binary_float32_no_intercept(client, da):
    X, y = _data(k=2)
    labels = np.array(["spam", "ham"])[y]
    X32 = X.astype(np.float32)
    ref = SoftmaxClassifier(fit_intercept=False, **TIGHT).fit(X32, labels)
    clf = SoftmaxClassifier(fit_intercept=False, **TIGHT).fit(
        da.from_array(X32, chunks=(300, -1)), da.from_array(labels, chunks=300)
    )
    assert clf.coef_.dtype == np.float32
    # float32 kernels: both solves end where float32 rounding of the gradient stops them
    _assert_same_fit(clf, ref, rtol=1e-4)
    # labels where the decision is clear of the two fits' difference (the float32
    # gradient's rounding decides where each stops, ~1e-4 apart)
    pred = clf.predict(da.from_array(X32, chunks=(300, -1))).compute()
    margin = np.abs(ref.decision_function(X32))
    diff = np.max(np.abs(clf.decision_function(X32) - ref.decision_function(X32)))
    clear = margin > 10 * diff
    assert clear.mean() > 0.9
    np.testing.assert_array_equal(pred[clear], ref.predict(X32)[clear])


@pytest.mark.slow
def test_csr_blocks(client, da):
    X, y = _data(n=1000, d=30, k=3)
    X[np.abs(X) < 1.0] = 0.0
    Xs = sp.csr_matrix(X)
    ref = SoftmaxClassifier(**TIGHT).fit(Xs, y)
    Xd = da.from_array(Xs, chunks=(300, -1), asarray=False)
    assert sp.issparse(Xd._meta)
    clf = SoftmaxClassifier(**TIGHT).fit(Xd, da.from_array(y, chunks=300))
    _assert_same_fit(clf, ref)
    np.testing.assert_allclose(
        clf.predict_proba(Xd).compute(), ref.predict_proba(Xs), rtol=1e-6, atol=1e-9
    )
    # SGD on CSR blocks: the sparse steps of the in-memory code, block by block; the
    # adaptive schedule ends as near the optimum as in memory (measured: 0.999 of the
    # predictions the same, objective 1.4e-5 above the optimum)
    sgd = SoftmaxClassifier(solver="sgd", random_state=0).fit(Xd, da.from_array(y, chunks=300))
    assert np.mean(sgd.predict(Xs) == ref.predict(Xs)) > 0.98
    assert _objective(sgd, Xs, y) - _objective(ref, Xs, y) < 1e-3


@pytest.mark.slow
# arrays after a fit on a DataFrame: scikit-learn's warning, as in memory
@pytest.mark.filterwarnings("ignore:X does not have valid feature names")
def test_dataframe_and_lazy_predictions(client, da):
    dd = pytest.importorskip("dask.dataframe")
    pd = pytest.importorskip("pandas")
    X, y = _data(k=3)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    ref = SoftmaxClassifier(**TIGHT).fit(frame, y)
    ddf = dd.from_pandas(frame, npartitions=3)
    ys = dd.from_pandas(pd.Series(y), npartitions=3)
    clf = SoftmaxClassifier(**TIGHT).fit(ddf, ys)
    _assert_same_fit(clf, ref)
    np.testing.assert_array_equal(clf.feature_names_in_, ref.feature_names_in_)
    Xd = da.from_array(X, chunks=(500, -1))
    for method in ("predict", "decision_function", "predict_proba", "predict_log_proba"):
        lazy = getattr(clf, method)(Xd)
        assert isinstance(lazy, da.Array), method
        expected = getattr(ref, method)(X)
        assert lazy.shape == expected.shape
        got = lazy.compute()
        if method == "predict":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    # a DataFrame in, feature names checked, dask out
    proba = clf.predict_proba(ddf)
    np.testing.assert_allclose(proba.compute(), ref.predict_proba(frame), rtol=1e-6, atol=1e-9)


@pytest.mark.slow
def test_binary_decision_function_is_1d(client, da):
    X, y = _data(k=2)
    clf = SoftmaxClassifier().fit(da.from_array(X, chunks=(400, -1)), y)
    scores = clf.decision_function(da.from_array(X, chunks=(400, -1)))
    assert scores.shape == (X.shape[0],)
    np.testing.assert_allclose(scores.compute(), clf.decision_function(X), rtol=1e-12)


@pytest.mark.slow
def test_unknown_chunk_sizes(client, da):
    X, y = _data()
    keep = np.arange(X.shape[0]) % 3 != 0
    Xd, yd = da.from_array(X, chunks=(200, -1)), da.from_array(y, chunks=200)
    keep_d = da.from_array(keep, chunks=200)
    Xu, yu = Xd[keep_d], yd[keep_d]
    assert np.isnan(Xu.shape[0])
    ref = SoftmaxClassifier(**TIGHT).fit(X[keep], y[keep])
    clf = SoftmaxClassifier(**TIGHT).fit(Xu, yu)
    _assert_same_fit(clf, ref)
    # predictions on unknown chunks stay lazy and unknown
    pred = clf.predict(Xu)
    np.testing.assert_array_equal(pred.compute(), ref.predict(X[keep]))


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_l1(client, da, solver):
    X, y = _data(n=1000, d=12)
    Xd, yd = da.from_array(X, chunks=(300, -1)), da.from_array(y, chunks=300)
    params = {"C": 0.02, "l1_ratio": 0.7, "solver": solver, "random_state": 0}
    if solver == "lbfgs":
        params.update(TIGHT)
    ref = SoftmaxClassifier(**params).fit(X, y)
    clf = SoftmaxClassifier(**params).fit(Xd, yd)
    assert np.mean(ref.coef_ == 0) > 0.2  # a sparse model
    if solver == "lbfgs":
        # the same solver on the same objective: the same optimum and the same zeros
        _assert_same_fit(clf, ref)
        np.testing.assert_array_equal(clf.coef_ == 0, ref.coef_ == 0)
    else:
        assert np.mean((clf.coef_ == 0) == (ref.coef_ == 0)) > 0.9
        assert np.mean(clf.predict(X) == ref.predict(X)) > 0.95


@pytest.mark.slow
def test_l1_newton_steps_as_in_memory(client, da, monkeypatch):
    """A very sparse L1 model reaches OWL-QN's Newton steps; their Hessian subsample
    (every k-th row, made small here) is gathered from the blocks, so the dask fit takes
    the in-memory fit's steps."""
    from sk_softmax import _dask
    from sk_softmax._solvers import _owlqn

    monkeypatch.setattr(_owlqn, "_HESSIAN_ROWS", 700)
    products = []
    original = _dask.DaskLoss.hessian_product

    def hessian_product(self, *args, **kwargs):
        products.append(args[-1])
        return original(self, *args, **kwargs)

    monkeypatch.setattr(_dask.DaskLoss, "hessian_product", hessian_product)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 60))
    y = rng.integers(0, 4, 3000)
    X[:, :4] += np.eye(4)[y]
    sw = rng.uniform(0, 2, 3000)
    params = {"C": 0.02, "l1_ratio": 1.0, **TIGHT}
    ref = SoftmaxClassifier(**params).fit(X, y, sample_weight=sw)
    clf = SoftmaxClassifier(**params).fit(
        da.from_array(X, chunks=(700, -1)),
        da.from_array(y, chunks=700),
        sample_weight=da.from_array(sw, chunks=700),
    )
    assert products and products[0] == 700  # Newton steps, on a subsample
    assert np.mean(ref.coef_ == 0) > 0.9
    assert clf.n_iter_[0] == ref.n_iter_[0]
    _assert_same_fit(clf, ref)
    np.testing.assert_array_equal(clf.coef_ == 0, ref.coef_ == 0)


@pytest.mark.slow
def test_nan_block_reported(client, da):
    X, y = _data()
    X[2 * 200 + 17, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity in block 2 \(rows 400 to 599\)"):
        SoftmaxClassifier().fit(da.from_array(X, chunks=(200, -1)), y)


@pytest.mark.slow
def test_bad_input_messages(client, da):
    X, y = _data()
    Xd = da.from_array(X, chunks=(400, -1))
    with pytest.raises(ValueError, match="at least 2 classes"):
        SoftmaxClassifier().fit(Xd, np.zeros(X.shape[0], dtype=int))
    with pytest.raises(ValueError, match="rows but X has"):
        SoftmaxClassifier().fit(Xd, y[:-1])
    with pytest.raises(ValueError, match="sum of the sample weights"):
        SoftmaxClassifier().fit(Xd, y, sample_weight=np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="Negative values"):
        SoftmaxClassifier().fit(Xd, y, sample_weight=-np.ones(X.shape[0]))
    with pytest.raises(NotImplementedError, match="early_stopping"):
        SoftmaxClassifier(solver="sgd", early_stopping=True).fit(Xd, y)
    with pytest.raises(TypeError, match="partial_fit"):
        SoftmaxClassifier(solver="sgd").partial_fit(Xd, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="features"):
        SoftmaxClassifier().fit(X, y).predict(Xd[:, :5])


@pytest.mark.slow
def test_in_memory_X_with_dask_y(client, da):
    X, y = _data()
    ref = SoftmaxClassifier(**TIGHT).fit(X, y)
    clf = SoftmaxClassifier(**TIGHT).fit(X, da.from_array(y, chunks=500))
    _assert_same_fit(clf, ref)
    assert clf._dask_stats["n_blocks"] == 3  # X chunked as y
    # warm_start continues from the fitted coefficients: at the optimum already (the
    # fit above stopped where rounding decides, below tol=1e-10's reach: the warm fit
    # asks for 1e-7, which the fitted coefficients meet at the first evaluation)
    coef = clf.coef_.copy()
    clf.set_params(warm_start=True, tol=1e-7).fit(X, da.from_array(y, chunks=500))
    assert clf.n_iter_[0] == 0
    np.testing.assert_array_equal(clf.coef_, coef)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_sgd_visits_blocks(client, da):
    X, y = _data(n=2000, k=3)
    Xd, yd = da.from_array(X, chunks=(400, -1)), da.from_array(y, chunks=400)
    params = {"solver": "sgd", "random_state": 0, "max_iter": 30}
    clf = SoftmaxClassifier(**params).fit(Xd, yd)
    again = SoftmaxClassifier(**params).fit(Xd, yd)
    np.testing.assert_array_equal(clf.coef_, again.coef_)  # random_state decides all
    mem = SoftmaxClassifier(**params).fit(X, y)
    opt = SoftmaxClassifier(**TIGHT).fit(X, y)
    assert clf.n_iter_[0] == len(clf.loss_curve_) and clf.t_ == clf.n_iter_[0] * X.shape[0]
    # both SGD fits end near the optimum: objective gaps measured 1.8e-5 (dask) and
    # 2.0e-5 (in memory), coefficients within 0.4% and 1%, 99.9% of predictions the same
    f_opt = _objective(opt, X, y)
    assert _objective(clf, X, y) - f_opt < 2e-4
    assert _objective(mem, X, y) - f_opt < 2e-4
    assert _rel(clf.coef_, opt.coef_) < 0.02
    assert np.mean(clf.predict(X) == mem.predict(X)) > 0.99
    assert np.mean(clf.predict(X) == opt.predict(X)) > 0.99
    # the adaptive schedule's stopping rule ends the fit as in memory
    stopped = SoftmaxClassifier(solver="sgd", random_state=0, max_iter=200).fit(Xd, yd)
    assert stopped.n_iter_[0] < 200


@pytest.mark.slow
def test_workers_use_their_threads(client, monkeypatch):
    import distributed
    import numba

    from sk_softmax._dask import task_threads

    assert client.submit(task_threads, None, pure=False).result() == 1
    assert task_threads(None) == 1  # not on a worker: dask's local schedulers

    class State:  # a worker with 4 threads running `executing_count` tasks
        nthreads = 4
        executing_count = 1

    class Worker:
        state = State()

    monkeypatch.setattr(distributed, "get_worker", lambda: Worker())
    numba_max = numba.config.NUMBA_NUM_THREADS
    assert task_threads(None) == min(4, numba_max)
    assert task_threads(1) == 1  # n_jobs caps the share
    State.executing_count = 2
    assert task_threads(None) == min(2, numba_max)
    State.executing_count = 8
    assert task_threads(None) == 1


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_client_solve_holds_blas_at_one_thread(client, da, monkeypatch):
    """The L-BFGS solve on the client runs its BLAS calls on one thread, as in memory,
    whatever the caller's BLAS limit."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from sk_softmax import _dask

    seen = []
    original = _dask.minimize_full_batch

    def spy(*args, **kwargs):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return original(*args, **kwargs)

    monkeypatch.setattr(_dask, "minimize_full_batch", spy)
    X, y = _data(n=400, k=3, seed=5)
    with threadpool_limits(2, user_api="blas"):
        before = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        SoftmaxClassifier(max_iter=3).fit(da.from_array(X, chunks=(200, -1)), y)
        after = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    assert seen and set(seen) == {1}
    assert after == before  # the caller's limit is back


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_curvature_estimates_equal_in_memory(client, da, monkeypatch):
    """L-BFGS's preconditioners on dask are the in-memory estimates: the Kronecker one
    (the same evenly spaced rows, gathered) for dense blocks, the diagonal (sums over
    blocks) for sparse ones."""
    from sk_softmax import _dask
    from sk_softmax._loss import SoftmaxLoss

    X, y = _data(n=1000, k=3, seed=4)
    X[np.abs(X) < 0.5] = 0.0
    sw = np.random.default_rng(4).uniform(0.0, 2.0, X.shape[0])
    seen = {}
    for name in ("curvature_kronecker", "curvature_diagonal"):
        original = getattr(_dask.DaskLoss, name)

        def spy(self, original=original, name=name):
            value = original(self)
            seen.setdefault(name, value)  # the first fit's (dense), then the second's
            return value

        monkeypatch.setattr(_dask.DaskLoss, name, spy)
    kw = dict(y=da.from_array(y, chunks=250), sample_weight=da.from_array(sw, chunks=250))
    SoftmaxClassifier(C=0.5, max_iter=2).fit(da.from_array(X, chunks=(250, -1)), **kw)
    Xs = da.from_array(sp.csr_matrix(X), chunks=(250, -1), asarray=False)
    SoftmaxClassifier(C=0.5, max_iter=2).fit(Xs, **kw)
    y_enc = np.unique(y, return_inverse=True)[1]
    expected = SoftmaxLoss(X, y_enc, 3, sw, C=0.5)
    for ours, theirs in zip(seen["curvature_kronecker"], expected.curvature_kronecker()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    np.testing.assert_allclose(seen["curvature_diagonal"], expected.curvature_diagonal(),
                               rtol=1e-12)  # fmt: skip


@pytest.mark.slow
def test_worker_lost_mid_fit(client, da, monkeypatch):
    """One worker process is killed during the third evaluation; dask recomputes its
    persisted blocks and tasks elsewhere, and the fit is the same."""
    from sk_softmax import _dask

    X, y = _data(n=2000, k=3, seed=3)
    ref = SoftmaxClassifier(**TIGHT).fit(X, y)
    pids = list(client.run(os.getpid).values())
    original = _dask.DaskLoss.loss_gradient
    killed = []

    def loss_gradient(self, coef):
        if self.n_evaluations == 2 and not killed:
            killed.append(pids[0])
            # kill while the evaluation's tasks run
            threading.Timer(0.05, os.kill, (pids[0], signal.SIGKILL)).start()
        return original(self, coef)

    monkeypatch.setattr(_dask.DaskLoss, "loss_gradient", loss_gradient)
    clf = SoftmaxClassifier(**TIGHT).fit(
        da.from_array(X, chunks=(250, -1)), da.from_array(y, chunks=250)
    )
    assert killed
    _assert_same_fit(clf, ref)
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it
    assert pids[0] not in client.run(os.getpid).values()
