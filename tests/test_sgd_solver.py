"""The SGD solver (sk_softmax/_solvers/_sgd.py) on its own: the automatic step against
exact eigenvalues, and the epoch driver's rules (schedule, stopping, early-stopping
restore, callbacks, divergence guard) on small problems."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

from sk_softmax._loss import SoftmaxLoss
from sk_softmax._solvers import SGDOptions, SGDState, auto_eta0, sgd_epoch, sgd_fit
from sk_softmax._threading import kernel_threads


def expected_steps(X, w, fit_intercept, binary, l2, batch):
    """auto_eta0's formulas with numpy.linalg.eigvalsh in place of power iteration."""
    c = 0.25 if binary else 0.5
    n = w.sum()
    f_mean, f_max = n * (batch - 1) / (batch * (n - 1)), (n - batch) / (batch * (n - 1))
    ws = w / n
    max_sq = float((X**2).sum(1).max())
    lam = np.linalg.eigvalsh(X.T @ (ws[:, None] * X))[-1]
    L_w = c * (f_mean * lam + f_max * max_sq) + l2
    if not fit_intercept:
        return 2 / L_w, 1.0
    X1 = np.hstack([X, np.ones((X.shape[0], 1))])
    lam_j = np.linalg.eigvalsh(X1.T @ (ws[:, None] * X1))[-1]
    shared = 2 / (c * (f_mean * lam_j + f_max * (max_sq + 1)) + l2)
    separate = 1 / L_w
    return (shared, 1.0) if shared >= separate else (separate, (1 / c) / separate)


def dense_data(rng):
    return rng.standard_normal((300, 8)) * rng.uniform(0.1, 3, 8) + rng.uniform(-1, 1, 8)


def normalised_text_like(rng):
    """Non-negative rows of unit norm over many features: the intercept's curvature
    dominates, so auto_eta0 takes separate steps."""
    X = np.zeros((300, 200))
    for i in range(300):
        cols = rng.choice(200, 5, replace=False)
        X[i, cols] = rng.uniform(0.5, 1, 5)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


@pytest.mark.parametrize("make, separate", [(dense_data, False), (normalised_text_like, True)])
@pytest.mark.parametrize("fit_intercept", [False, True])
@pytest.mark.parametrize("binary", [False, True])
def test_auto_eta0_matches_exact_eigenvalues(make, separate, fit_intercept, binary):
    rng = np.random.default_rng(0)
    X = make(rng)
    w = rng.uniform(0, 2, X.shape[0])
    eta, ratio = auto_eta0(X, w, fit_intercept, binary, 0.01, 16)
    exp_eta, exp_ratio = expected_steps(X, w, fit_intercept, binary, 0.01, 16)
    # power iteration approaches the top eigenvalue from below: a step at most 1% long
    assert 1.0 <= eta / exp_eta < 1.01
    assert ratio == pytest.approx(exp_ratio, rel=0.01)
    if fit_intercept:
        assert (ratio != 1.0) == separate


def test_auto_eta0_weights_act_as_repetition():
    rng = np.random.default_rng(1)
    X = dense_data(rng)
    counts = rng.integers(0, 3, X.shape[0])
    a = auto_eta0(X, counts.astype(float), True, False, 0.0, 32)
    b = auto_eta0(np.repeat(X, counts, axis=0), np.ones(counts.sum()), True, False, 0.0, 32)
    np.testing.assert_allclose(a, b, rtol=0.01)


class Tasks:
    """Records the models of the driver's callback subtasks; asks to stop after
    ``stop_after`` epochs."""

    def __init__(self, stop_after=None):
        self.begins, self.ends, self.stop_after = [], [], stop_after

    def begin(self, W, b):
        self.begins.append((W.copy(), b.copy()))

    def end(self, W, b):
        self.ends.append((W.copy(), b.copy()))
        return self.stop_after is not None and len(self.ends) >= self.stop_after


def problem(n=600, seed=0):
    X, y = load_digits(return_X_y=True)
    X = X[:n] / 16.0
    return SoftmaxLoss(X, y[:n], 10, C=1.0), X, y[:n]


def options(**kw):
    base = dict(
        batch_size=32,
        learning_rate="adaptive",
        eta0="auto",
        power_t=0.5,
        shuffle=True,
        average=False,
    )
    return SGDOptions(**{**base, **kw})


def run(loss, opts, **kw):
    state = SGDState.start(
        np.zeros((10, loss.layout.n_features)), np.zeros(10), np.random.default_rng(0)
    )
    tasks = kw.pop("tasks", Tasks())
    args = dict(
        max_iter=100,
        tol=1e-4,
        n_iter_no_change=3,
        early_stopping=False,
        validation_fraction=0.2,
        seed=0,
    )
    with kernel_threads(2):
        result = sgd_fit(loss, state, opts, tasks=tasks, **{**args, **kw})
    return state, result, tasks


def test_adaptive_divides_the_step_by_5_and_stops_below_1e_6():
    """With a tol no epoch can beat (but the first, which beats +inf), every
    n_iter_no_change epochs divide the step by 5, and the fit stops at the first step
    below 1e-6."""
    loss, _, _ = problem()
    state, result, tasks = run(loss, options(eta0=1e-3), tol=1e9, n_iter_no_change=3)
    k = int(np.ceil(np.log(1e-3 / 1e-6) / np.log(5)))  # reductions to get below 1e-6
    assert result.converged and state.epochs == 1 + 3 * k
    assert state.eta == pytest.approx(1e-3 / 5**k) and state.eta < 1e-6
    assert len(tasks.begins) == len(tasks.ends) == state.epochs


def test_constant_schedule_stops_after_n_iter_no_change():
    loss, _, _ = problem()
    state, result, _ = run(
        loss, options(learning_rate="constant", eta0=1e-3), tol=1e9, n_iter_no_change=4
    )
    assert result.converged and state.epochs == 1 + 4 and state.eta == 1e-3


def test_max_iter_warns_and_tol_none_runs_every_epoch():
    loss, _, _ = problem()
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        state, result, _ = run(loss, options(), max_iter=3, tol=0.0)
    assert not result.converged and state.epochs == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        state, _, _ = run(loss, options(), max_iter=7, tol=None)
    assert state.epochs == 7 and len(state.loss_curve) == 7


def test_early_stopping_restores_the_best_epochs_model():
    loss, X, y = problem()
    opts = options(learning_rate="constant", eta0=2.0)  # a noisy step: scores go up and down
    state, result, tasks = run(
        loss, opts, early_stopping=True, tol=1e-9, n_iter_no_change=4, max_iter=30
    )
    scores = result.validation_scores
    best = int(np.argmax(scores))  # first epoch with the best score
    assert result.best_validation_score == scores[best]
    np.testing.assert_array_equal(state.W, tasks.ends[best][0])
    np.testing.assert_array_equal(state.b, tasks.ends[best][1])
    assert len(scores) == state.epochs >= best + 4


def test_callback_stop_ends_the_driver():
    loss, _, _ = problem()
    state, result, tasks = run(loss, options(), tasks=Tasks(stop_after=2), tol=None)
    assert result.converged and state.epochs == 2 and len(tasks.ends) == 2


def test_epoch_averaging_and_counters():
    """One epoch by hand: t counts stepped batches, samples_seen rows, and the average
    starts once `average` samples were seen."""
    loss, X, _ = problem(n=200)
    state = SGDState.start(np.zeros((10, 64)), np.zeros(10), np.random.default_rng(0))
    state.eta0 = state.eta = 0.1
    with kernel_threads(1):
        sgd_epoch(loss, state, options(average=150, shuffle=False))
    assert state.t == 7 and state.samples_seen == 200  # batches of 32: 6 full + 8 rows
    assert state.n_avg == 3  # after the batches ending at rows 160, 192, 200
    assert state.W_avg is not None and not np.array_equal(state.W_avg, state.W)


def test_divergence_guard_retries_with_a_smaller_step(monkeypatch):
    """An epoch that diverges (here: whenever the step exceeds a limit) is undone and run
    again at a quarter of the step, with one warning; the result equals a run started
    with the step that worked, and a step that never works raises."""
    from sk_softmax._solvers import _sgd

    real = _sgd.sgd_epoch

    def epoch(loss, state, options, rows=None):
        value = real(loss, state, options, rows=rows)
        if state.eta > 1e-3:
            state.W[0, 0] = np.inf  # what an overflow leaves behind
            return np.inf
        return value

    monkeypatch.setattr(_sgd, "sgd_epoch", epoch)
    loss, _, _ = problem()
    with pytest.warns(UserWarning, match="diverged") as record:
        state, _, _ = run(loss, options(learning_rate="constant", eta0=0.01), tol=None, max_iter=3)
    assert len([w for w in record if "diverged" in str(w.message)]) == 1
    assert state.eta0 == pytest.approx(0.01 / 16) and state.epochs == 3
    assert len(state.loss_curve) == 3 and np.all(np.isfinite(state.W))
    again, _, _ = run(loss, options(learning_rate="constant", eta0=0.01 / 16), tol=None, max_iter=3)
    np.testing.assert_array_equal(again.W, state.W)
    assert again.t == state.t and again.samples_seen == state.samples_seen
    with pytest.raises(ValueError, match="diverged"):
        run(loss, options(learning_rate="constant", eta0=1e5), tol=None, max_iter=1)


@pytest.mark.parametrize("sparse", [False, True])
def test_divergence_guard_restores_the_l1_state(monkeypatch, sparse):
    """With an L1 term the undone epoch's penalty bookkeeping (u and what each weight
    received) is undone too: the retried run equals one started with the step that
    worked."""
    import scipy.sparse as sp

    from sk_softmax._solvers import _sgd

    real = _sgd.sgd_epoch

    def epoch(loss, state, options, rows=None):
        value = real(loss, state, options, rows=rows)
        if state.eta > 1e-3:
            state.W[0, 0] = np.inf
            return np.inf
        return value

    monkeypatch.setattr(_sgd, "sgd_epoch", epoch)
    _, X, y = problem()
    X = sp.csr_matrix(X) if sparse else X
    loss = SoftmaxLoss(X, y, 10, C=0.05, l1_ratio=1.0)
    with pytest.warns(UserWarning, match="diverged"):
        state, _, _ = run(loss, options(learning_rate="constant", eta0=0.01), tol=None, max_iter=3)
    again, _, _ = run(loss, options(learning_rate="constant", eta0=0.01 / 16), tol=None, max_iter=3)
    np.testing.assert_array_equal(again.W, state.W)
    np.testing.assert_array_equal(again.l1_Q, state.l1_Q)
    assert again.l1_u == state.l1_u > 0
    assert np.any(state.W == 0)


# -- the NumPy steps of small problems against the kernels' steps ------------------------
def _both_paths(X, y, n_classes, sw, opts, n_epochs, state_kw=None, **loss_kw):
    """The same epochs (same start, same shuffles, same schedule) on a loss forced onto
    the kernels (``small_max_work=0``) and one forced onto NumPy (``np.inf``)."""
    K = 1 if n_classes == 2 else n_classes
    states = {}
    for name, limit in (("kernels", 0), ("numpy", np.inf)):
        loss = SoftmaxLoss(X, y, n_classes, sw, small_max_work=limit, **loss_kw)
        assert loss.small == (name == "numpy")
        state = SGDState.start(np.zeros((K, X.shape[1])), np.zeros(K), np.random.default_rng(5))
        state.eta0 = state.eta = 0.3
        for key, value in (state_kw or {}).items():
            setattr(state, key, value)
        with kernel_threads(1):
            for _ in range(n_epochs):
                sgd_epoch(loss, state, opts)
        states[name] = state
    return states["kernels"], states["numpy"]


def _assert_states_agree(a, b):
    for name in ("W", "b", "W_avg", "b_avg", "l1_Q"):
        va, vb = getattr(a, name), getattr(b, name)
        assert (va is None) == (vb is None), name
        if va is not None:
            np.testing.assert_allclose(vb, va, rtol=1e-10, atol=1e-13, err_msg=name)
    np.testing.assert_allclose(b.loss_curve, a.loss_curve, rtol=1e-10)
    np.testing.assert_allclose(b.l1_u, a.l1_u, rtol=1e-12)
    assert (a.t, a.samples_seen, a.n_avg) == (b.t, b.samples_seen, b.n_avg)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("l1_ratio", [0.0, 0.5])
@pytest.mark.parametrize("average", [False, 40])
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_numpy_steps_agree_with_the_kernels(rng, sparse, l1_ratio, average, n_classes, weighted):
    """Small problems step in NumPy (``_numpy_steps``, minibatch gradients from
    ``small_loss_grad``); the kernels' steps (dense: one call per epoch; CSR: the lazy
    scaled weights) give the same iterates, average, L1 bookkeeping and epoch losses to
    rounding.  On CSR data with an L1 term every batch touches every feature (no zeros:
    lazily, an untouched weight gets its L1 penalty later, eagerly at every step)."""
    import scipy.sparse as sp

    n, d = 150, 6
    X = rng.uniform(0.2, 1.5, (n, d)) * rng.choice([-1.0, 1.0], (n, d))
    if sparse and l1_ratio == 0.0:
        X[rng.random(X.shape) < 0.4] = 0.0  # the lazy steps skip untouched features
    if sparse:
        X = sp.csr_matrix(X)
    y = rng.integers(0, n_classes, n)
    sw = rng.uniform(0.0, 2.0, n) if weighted else None
    if weighted:
        sw[:20] = 0.0  # with shuffles, some batches weigh less, none nothing
    opts = options(batch_size=16, learning_rate="invscaling", power_t=0.3, average=average)
    a, b = _both_paths(X, y, n_classes, sw, opts, 3, C=0.05, l1_ratio=l1_ratio)
    _assert_states_agree(a, b)
    if l1_ratio > 0 and not average:
        assert np.any(a.W == 0)  # the L1 penalty holds weights at exactly zero
        np.testing.assert_array_equal(a.W == 0, b.W == 0)


@pytest.mark.parametrize("sparse", [False, True])
def test_numpy_steps_agree_with_the_kernels_in_a_box(rng, sparse):
    """Bounds (a box containing zero): the dense kernel clips, CSR's lazy steps clip the
    batch's weights, the NumPy steps project all of them; same iterates."""
    import scipy.sparse as sp

    from sk_softmax._penalty import make_box

    n, d, n_classes = 120, 5, 3
    X = rng.standard_normal((n, d))
    if sparse:
        X[rng.random(X.shape) < 0.3] = 0.0
        X = sp.csr_matrix(X)
    y = rng.integers(0, n_classes, n)
    box = make_box(-0.05, 0.08, n_classes, d)
    opts = options(batch_size=10, learning_rate="constant", average=True)
    a, b = _both_paths(X, y, n_classes, None, opts, 3, C=10.0, box=box)
    _assert_states_agree(a, b)
    assert np.any(a.W == 0.08) or np.any(a.W == -0.05)  # the box is active
