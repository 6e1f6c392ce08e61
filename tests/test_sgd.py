"""solver="sgd" and partial_fit."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier
from sk_softmax._loss import SoftmaxLoss

from . import reference as ref


def digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def objective(est, X, y, C):
    y_enc = np.searchsorted(est.classes_, y)
    loss = SoftmaxLoss(np.asarray(X, np.float64), y_enc, len(est.classes_), C=C)
    return loss.loss(loss.pack(est.coef_, est.intercept_))


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_sgd_steps_match_numpy_reference(rng, n_classes, average, weighted):
    # a small problem: the NumPy steps (tests/test_sgd_solver.py holds the kernels' steps
    # to them)
    X = rng.standard_normal((70, 5))
    y = rng.integers(0, n_classes, 70)
    y[:n_classes] = np.arange(n_classes)
    sw = rng.uniform(0, 2, 70) if weighted else None
    eta = 0.05
    clf = SoftmaxClassifier(
        solver="sgd",
        learning_rate="constant",
        eta0=eta,
        batch_size=16,
        shuffle=False,
        tol=None,
        max_iter=3,
        average=average,
        C=0.5,
    )
    clf.fit(X, y, sample_weight=sw)
    K = 1 if n_classes == 2 else n_classes
    W, b, W_avg, b_avg = ref.sgd_epochs(
        X,
        y,
        np.zeros((K, 5)),
        np.zeros(K),
        C=0.5,
        eta=eta,
        batch_size=16,
        n_epochs=3,
        binary=n_classes == 2,
        sw=sw,
    )
    expected_W, expected_b = (W_avg, b_avg) if average else (W, b)
    np.testing.assert_allclose(clf.coef_, expected_W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, expected_b, rtol=1e-10, atol=1e-12)
    assert clf.t_ == 3 * 70


def test_deterministic_with_random_state():
    X, y = digits()
    a = SoftmaxClassifier(solver="sgd", random_state=3, max_iter=5, tol=None).fit(X, y)
    b = SoftmaxClassifier(solver="sgd", random_state=3, max_iter=5, tol=None).fit(X, y)
    c = SoftmaxClassifier(solver="sgd", random_state=4, max_iter=5, tol=None).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    assert not np.array_equal(a.coef_, c.coef_)


def test_sgd_objective_close_to_lbfgs():
    X, y = digits()
    C = 0.01
    lbfgs = SoftmaxClassifier(C=C, tol=1e-10, max_iter=5000).fit(X, y)
    sgd = SoftmaxClassifier(
        C=C,
        solver="sgd",
        batch_size=512,
        n_iter_no_change=10,
        tol=1e-8,
        max_iter=5000,
        random_state=0,
    ).fit(X, y)
    f_lbfgs = objective(lbfgs, X, y, C)
    f_sgd = objective(sgd, X, y, C)
    assert f_lbfgs <= f_sgd <= f_lbfgs * (1 + 1e-3)


def test_loss_decreases_on_average():
    X, y = digits()
    clf = SoftmaxClassifier(solver="sgd", tol=None, max_iter=30, random_state=0).fit(X, y)
    curve = np.array(clf.loss_curve_)
    assert len(curve) == 30 == clf.n_iter_[0]
    assert curve[-5:].mean() < 0.5 * curve[:5].mean()
    assert np.all(np.isfinite(curve))


def test_adaptive_schedule_stops_and_tol_none_runs_all_epochs():
    X, y = digits()
    clf = SoftmaxClassifier(solver="sgd", tol=1e-2, max_iter=500, random_state=0).fit(X, y)
    assert clf.n_iter_[0] < 500
    with pytest.warns(ConvergenceWarning, match="max_iter=3"):
        SoftmaxClassifier(solver="sgd", tol=1e-12, max_iter=3, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf = SoftmaxClassifier(solver="sgd", tol=None, max_iter=7, random_state=0).fit(X, y)
    assert clf.n_iter_[0] == 7


@pytest.mark.parametrize("learning_rate", ["constant", "invscaling", "adaptive"])
def test_schedules_learn(learning_rate):
    X, y = digits()
    clf = SoftmaxClassifier(
        solver="sgd", learning_rate=learning_rate, max_iter=20, tol=None, random_state=0
    ).fit(X, y)
    assert clf.score(X, y) > 0.9


def test_early_stopping():
    X, y = digits()
    clf = SoftmaxClassifier(
        solver="sgd",
        early_stopping=True,
        max_iter=500,
        tol=1e-3,
        learning_rate="constant",
        random_state=0,
    ).fit(X, y)
    assert len(clf.validation_scores_) == clf.n_iter_[0] < 500
    assert clf.best_validation_score_ == max(clf.validation_scores_)
    assert clf.best_validation_score_ > 0.9
    plain = SoftmaxClassifier(solver="sgd", max_iter=5, tol=None, random_state=0).fit(X, y)
    assert not hasattr(plain, "validation_scores_")
    with pytest.warns(UserWarning, match="early_stopping is ignored"):
        tiny = SoftmaxClassifier(solver="sgd", early_stopping=True, random_state=0)
        tiny.fit(X[:12], y[:12])  # 10 classes: no stratified split possible
    assert not hasattr(tiny, "validation_scores_") and tiny.n_iter_[0] >= 1


def test_float32_kept_and_binary():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    clf = SoftmaxClassifier(solver="sgd", max_iter=50, random_state=0).fit(X, y)
    assert clf.coef_.dtype == np.float32 and clf.score(X, y) > 0.9
    yb = (y == 2).astype(int)
    binary = SoftmaxClassifier(solver="sgd", max_iter=50, random_state=0).fit(X, yb)
    assert binary.coef_.shape == (1, 4) and binary.decision_function(X).shape == (150,)
    assert binary.score(X, yb) > 0.9


def test_divergence_is_a_clear_error():
    """Softmax gradients are bounded, so SGD only overflows with absurd steps and scales;
    then the fit stops with a clear error instead of returning NaN coefficients."""
    X, y = digits()
    with pytest.raises(ValueError, match="diverged"):
        SoftmaxClassifier(
            solver="sgd", eta0=1e200, learning_rate="constant", tol=None, max_iter=5, C=np.inf
        ).fit(X * 1e150, y)


def test_tol_none_needs_sgd():
    X, y = digits()
    with pytest.raises(ValueError, match="tol=None"):
        SoftmaxClassifier(tol=None).fit(X, y)


# -- partial_fit -------------------------------------------------------------------
def test_partial_fit_one_call_equals_one_epoch_of_fit():
    X, y = digits()
    kw = dict(solver="sgd", random_state=0, shuffle=False)
    a = SoftmaxClassifier(**kw).partial_fit(X, y, classes=np.unique(y))
    b = SoftmaxClassifier(**kw, max_iter=1, tol=None).fit(X, y)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=1e-12, atol=1e-14)
    assert a.n_iter_[0] == 1 and a.t_ == len(y)


def test_partial_fit_streaming_reaches_fit_accuracy():
    X, y = digits()
    classes = np.unique(y)
    clf = SoftmaxClassifier(solver="sgd", random_state=0)
    for epoch in range(10):
        for chunk in np.array_split(np.arange(len(y)), 7):
            clf.partial_fit(X[chunk], y[chunk], classes=classes if epoch == 0 else None)
    full = SoftmaxClassifier(solver="sgd", random_state=0, max_iter=10, tol=None).fit(X, y)
    assert clf.n_iter_[0] == 70 and clf.t_ == 10 * len(y)
    assert clf.score(X, y) >= full.score(X, y) - 0.02
    assert len(clf.loss_curve_) == 70


def test_partial_fit_chunk_missing_classes():
    X, y = digits()
    classes = np.unique(y)
    clf = SoftmaxClassifier(solver="sgd", random_state=0)
    clf.partial_fit(X[y < 5], y[y < 5], classes=classes)  # half the classes only
    assert clf.coef_.shape == (10, X.shape[1])
    np.testing.assert_array_equal(clf.classes_, classes)
    clf.partial_fit(X[y >= 5], y[y >= 5])
    assert set(clf.predict(X)) - set(range(5))  # the later classes are predicted too


def test_partial_fit_contract_errors():
    X, y = digits()
    with pytest.raises(ValueError, match="classes must be passed"):
        SoftmaxClassifier(solver="sgd").partial_fit(X, y)
    clf = SoftmaxClassifier(solver="sgd").partial_fit(X, y, classes=np.arange(10))
    with pytest.raises(ValueError, match="not in classes"):
        clf.partial_fit(X[:5], np.array([0, 1, 2, 3, 11]))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :10], y)
    with pytest.raises(ValueError, match="not the same"):
        clf.partial_fit(X, y, classes=np.arange(11))
    with pytest.raises(ValueError, match="balanced"):
        SoftmaxClassifier(solver="sgd", class_weight="balanced").partial_fit(
            X, y, classes=np.arange(10)
        )
    lbfgs = SoftmaxClassifier()
    assert not hasattr(lbfgs, "partial_fit")
    with pytest.raises(AttributeError, match="partial_fit"):
        lbfgs.partial_fit(X, y, classes=np.arange(10))


def test_partial_fit_continues_schedule_and_coef_is_the_model():
    X, y = digits()
    clf = SoftmaxClassifier(solver="sgd", learning_rate="invscaling", random_state=0)
    clf.partial_fit(X, y, classes=np.arange(10))
    t_after_one = clf._sgd_state.t
    clf.partial_fit(X, y)
    assert clf._sgd_state.t == 2 * t_after_one  # the schedule's clock keeps running
    clf.coef_[:] = 0.0  # the next call continues from what coef_ holds
    clf.intercept_[:] = 0.0
    before = clf._sgd_state.t
    clf.partial_fit(X[:128], y[:128])
    assert np.abs(clf.coef_).max() < 0.5  # one small step away from zero
    assert clf._sgd_state.t == before + 1


def test_early_stopping_with_a_zero_weight_split_warns_and_fits():
    """Weights that leave the training or the validation split with zero total weight
    cannot drive early stopping: it is ignored with a warning, never a crash."""
    rng = np.random.RandomState(0)
    X = rng.randn(200, 3)
    y = np.arange(200) % 2
    warned = 0
    for n_weighted, seed in [(20, s) for s in range(4)] + [(2, s) for s in range(120, 126)]:
        sw = np.zeros(200)
        sw[:n_weighted] = 1.0
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf = SoftmaxClassifier(
                solver="sgd", early_stopping=True, max_iter=20, random_state=seed
            ).fit(X, y, sample_weight=sw)
        warned += any("early_stopping is ignored" in str(w.message) for w in caught)
        assert np.all(np.isfinite(clf.coef_))
    assert warned > 0  # the cases above include zero-weight splits


@pytest.mark.parametrize("sparse", [False, True])
def test_warm_start_without_intercept_drops_the_old_intercepts(sparse):
    import scipy.sparse as sp

    X, y = load_iris(return_X_y=True)
    X = sp.csr_matrix(X) if sparse else X
    kw = dict(solver="sgd", random_state=0, max_iter=20, tol=None)
    warm = SoftmaxClassifier(warm_start=True, **kw).fit(X, y)
    assert np.abs(warm.intercept_).max() > 0.05
    warm.set_params(fit_intercept=False, warm_start=False).fit(X, y)
    cold = SoftmaxClassifier(fit_intercept=False, **kw).fit(X, y)
    np.testing.assert_allclose(warm.coef_, cold.coef_)
    # and warm-started: the intercepts must not carry over into the training either
    warm2 = SoftmaxClassifier(warm_start=True, **kw).fit(X, y)
    warm2.set_params(fit_intercept=False).fit(X, y)
    ref_W = SoftmaxClassifier(warm_start=True, **kw).fit(X, y).coef_
    start = SoftmaxClassifier(fit_intercept=False, warm_start=True, **kw)
    start.fit(X, y)  # shapes only; then start from ref_W with zero intercepts
    start.coef_ = ref_W.copy()
    start.intercept_ = np.zeros_like(start.intercept_)
    start.fit(X, y)
    np.testing.assert_allclose(warm2.coef_, start.coef_, rtol=1e-12, atol=1e-12)
    assert np.all(warm2.intercept_ == 0)


@pytest.mark.parametrize("C", [1.0, 0.1])
def test_partial_fit_zero_weight_first_chunk_does_not_freeze_the_step(C):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    cw = {0: 0.0, 1: 1.0, 2: 1.0}
    chunks = [slice(i, i + 30) for i in range(0, 150, 30)]
    order = np.random.RandomState(0).permutation(150)
    Xs, ys = X[order], y[order]
    kw = dict(solver="sgd", random_state=0, class_weight=cw, shuffle=False, C=C)
    with_zero = SoftmaxClassifier(**kw)
    with_zero.partial_fit(X[y == 0][:20], y[y == 0][:20], classes=[0, 1, 2])  # weight 0
    without = SoftmaxClassifier(**kw)
    for _ in range(20):
        for c in chunks:
            with_zero.partial_fit(Xs[c], ys[c])
            without.partial_fit(Xs[c], ys[c], classes=[0, 1, 2])
    assert np.abs(without.coef_).max() > 0.5
    np.testing.assert_allclose(with_zero.coef_, without.coef_, rtol=1e-10, atol=1e-12)


def test_auto_step_on_large_float32_features():
    """Squared row norms of float32 rows of 1e20 overflow float32, not float64: the
    automatic step stays positive and the model learns as on the float64 data."""
    X, y = digits()
    big = X * 1e20
    kw = dict(solver="sgd", random_state=0, max_iter=5, tol=None)
    f64 = SoftmaxClassifier(**kw).fit(big, y)
    f32 = SoftmaxClassifier(**kw).fit(big.astype(np.float32), y)
    assert np.abs(f32.coef_).max() > 0
    assert f32.score(big, y) > 0.9
    assert abs(f32.score(big, y) - f64.score(big, y)) < 0.02
    with pytest.raises(ValueError, match="overflows float64"):
        SoftmaxClassifier(**kw).fit(X * 1e160, y)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_warm_start_after_sparsify(solver):
    X, y = digits()
    clf = SoftmaxClassifier(
        solver=solver,
        warm_start=True,
        max_iter=5,
        random_state=0,
        tol=None if solver == "sgd" else 1e-4,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
        dense_start = SoftmaxClassifier(**clf.get_params())
        dense_start.fit(X, y)
        dense_start.coef_ = clf.coef_.copy()
        dense_start.intercept_ = clf.intercept_.copy()
        clf.sparsify().fit(X, y)
        dense_start.fit(X, y)
    assert not hasattr(clf.coef_, "toarray")
    np.testing.assert_allclose(clf.coef_, dense_start.coef_, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("flag", [False, True])
def test_numpy_bool_average_means_the_same(flag):
    X, y = load_iris(return_X_y=True)
    kw = dict(solver="sgd", random_state=0, max_iter=3, tol=None)
    a = SoftmaxClassifier(average=flag, **kw).fit(X, y)
    b = SoftmaxClassifier(average=np.bool_(flag), **kw).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


# -- state across fits (issue 12, defects 2 and 3) -----------------------------------
def digits16():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def test_repeated_partial_fit_passes_minimise_fits_objective_with_total_sample_weight():
    """40 passes over digits with total_sample_weight=n minimise fit's objective: within
    2% of the L-BFGS optimum, coefficient norm within 10%.  Without it the penalty fades
    with the passes (S grows p-fold), and the model drifts to a much weaker penalty."""
    X, y = digits16()
    C = 0.01
    opt = SoftmaxClassifier(C=C, tol=1e-10, max_iter=10000).fit(X, y)
    f_opt, norm_opt = objective(opt, X, y, C), np.linalg.norm(opt.coef_)
    fixed = SoftmaxClassifier(solver="sgd", C=C, random_state=0, total_sample_weight=len(y))
    fading = SoftmaxClassifier(solver="sgd", C=C, random_state=0)
    for _ in range(40):
        fixed.partial_fit(X, y, classes=np.arange(10))
        fading.partial_fit(X, y, classes=np.arange(10))
    assert objective(fixed, X, y, C) <= 1.02 * f_opt
    assert abs(np.linalg.norm(fixed.coef_) / norm_opt - 1) < 0.10
    assert np.linalg.norm(fading.coef_) > 1.5 * norm_opt  # what the parameter is for


def test_partial_fit_after_lbfgs_fit_continues_from_the_fitted_model():
    """Digits: the lbfgs fit scores ~0.985 on its training data; partial_fit after it
    continues from coef_ with a step for a model near its optimum (it used to restart
    from zero coefficients and drop to 0.49)."""
    X, y = digits16()
    clf = SoftmaxClassifier().fit(X, y)
    fitted = clf.score(X, y)
    assert fitted > 0.98
    clf.set_params(solver="sgd", random_state=0)
    for _ in range(3):
        clf.partial_fit(X, y, classes=range(10))
        assert clf.score(X, y) >= fitted - 0.01
    assert clf.t_ == 3 * len(y)


def test_partial_fit_after_sgd_fit_continues_its_state():
    X, y = digits16()
    clf = SoftmaxClassifier(solver="sgd", random_state=0, max_iter=5, tol=None).fit(X, y)
    state = clf._sgd_state
    t, epochs, eta, before = state.t, state.epochs, state.eta, clf.score(X, y)
    clf.partial_fit(X, y)
    assert clf._sgd_state is state and state.t > t and state.epochs == epochs + 1
    assert state.eta == eta  # the step where fit left it
    assert clf.score(X, y) >= before - 0.01


def test_every_fit_starts_clean():
    """An lbfgs fit after an sgd fit keeps none of SGD's attributes or state; an sgd fit
    after partial_fit calls equals a fresh one."""
    X, y = digits16()
    clf = SoftmaxClassifier(
        solver="sgd",
        random_state=0,
        max_iter=3,
        tol=None,
        early_stopping=True,
        validation_fraction=0.2,
    )
    clf.fit(X, y).partial_fit(X, y)
    for attr in ("t_", "loss_curve_", "validation_scores_", "_sgd_state"):
        assert hasattr(clf, attr)
    clf.set_params(solver="lbfgs", early_stopping=False, tol=1e-4).fit(X, y)
    for attr in ("t_", "loss_curve_", "validation_scores_", "best_validation_score_", "_sgd_state"):
        assert not hasattr(clf, attr), attr
    kw = dict(solver="sgd", random_state=0, max_iter=3, tol=None)
    used = SoftmaxClassifier(**kw).partial_fit(X, y, classes=np.arange(10))
    used.partial_fit(X, y).fit(X, y)
    fresh = SoftmaxClassifier(**kw).fit(X, y)
    np.testing.assert_array_equal(used.coef_, fresh.coef_)
    assert used.t_ == fresh.t_ and used.loss_curve_ == fresh.loss_curve_


def test_partial_fit_after_fit_rejects_other_classes_and_features():
    X, y = digits16()
    clf = SoftmaxClassifier(solver="sgd", max_iter=2, tol=None, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y, classes=np.arange(11))
    with pytest.raises(ValueError, match="features"):
        clf.partial_fit(X[:, :20], y)
    lbfgs = SoftmaxClassifier().fit(X[y < 3], y[y < 3])
    lbfgs.set_params(solver="sgd")
    with pytest.raises(ValueError, match="not in classes"):
        lbfgs.partial_fit(X, y)


# -- L1 / elastic-net --------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.4])
def test_sgd_l1_steps_match_numpy_reference(rng, n_classes, average, l1_ratio):
    # the NumPy steps, as above
    X = rng.standard_normal((70, 5))
    y = rng.integers(0, n_classes, 70)
    y[:n_classes] = np.arange(n_classes)
    sw = rng.uniform(0, 2, 70)
    eta, C = 0.05, 0.02
    clf = SoftmaxClassifier(
        solver="sgd",
        learning_rate="constant",
        eta0=eta,
        batch_size=16,
        shuffle=False,
        tol=None,
        max_iter=3,
        average=average,
        C=C,
        l1_ratio=l1_ratio,
    )
    clf.fit(X, y, sample_weight=sw)
    K = 1 if n_classes == 2 else n_classes
    W, b, W_avg, b_avg = ref.sgd_epochs(
        X,
        y,
        np.zeros((K, 5)),
        np.zeros(K),
        C=C,
        eta=eta,
        batch_size=16,
        n_epochs=3,
        binary=n_classes == 2,
        sw=sw,
        l1_ratio=l1_ratio,
    )
    expected_W, expected_b = (W_avg, b_avg) if average else (W, b)
    np.testing.assert_allclose(clf.coef_, expected_W, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(clf.intercept_, expected_b, rtol=1e-10, atol=1e-12)
    if not average:
        assert np.any(W == 0)  # the penalty holds some weights at exactly zero
        np.testing.assert_array_equal(clf.coef_ == 0, W == 0)


@pytest.mark.parametrize("average", [False, True])
def test_sgd_l1_csr_equals_dense_when_every_feature_is_in_every_batch(rng, average):
    # lazily on CSR, a weight gets its L1 penalty when a batch touches its feature; with
    # no zeros in X every batch touches every feature, so lazy and eager agree.  12000
    # rows: past SMALL_MAX_WORK, so that the kernels' steps (dense and lazy CSR) run
    X = rng.uniform(0.1, 1.0, (12000, 6))
    y = rng.integers(0, 3, 12000)
    assert not SoftmaxLoss(sp.csr_matrix(X), y, 3).small
    kw = dict(
        solver="sgd",
        eta0=0.1,
        batch_size=10,
        tol=None,
        max_iter=4,
        C=0.01,
        l1_ratio=1.0,
        random_state=0,
        average=average,
    )
    a = SoftmaxClassifier(**kw).fit(X, y)
    b = SoftmaxClassifier(**kw).fit(sp.csr_matrix(X), y)
    np.testing.assert_allclose(b.coef_, a.coef_, rtol=1e-9, atol=1e-12)
    if not average:
        np.testing.assert_array_equal(a.coef_ == 0, b.coef_ == 0)
        assert np.any(a.coef_ == 0)


def _text(seed=0, n=600, d=400):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    cols = rng.integers(0, d, (n, 10))
    cols[:, :2] = (y[:, None] * 31 + rng.integers(0, 20, (n, 2))) % d
    X = sp.csr_matrix(
        (rng.uniform(0.5, 1.5, n * 10), cols.ravel(), np.arange(0, n * 10 + 1, 10)), shape=(n, d)
    )
    X.sum_duplicates()
    return X, y


@pytest.mark.parametrize("sparse", [False, True])
def test_sgd_l1_is_sparse_and_near_the_optimum(sparse):
    if sparse:
        X, y = _text()
        C = 0.5
    else:
        X, y = digits()
        C = 0.01
    exact = SoftmaxClassifier(C=C, l1_ratio=1.0, tol=1e-8, max_iter=5000).fit(X, y)
    sgd = SoftmaxClassifier(
        solver="sgd", C=C, l1_ratio=1.0, max_iter=200, tol=1e-6, n_iter_no_change=5, random_state=0
    ).fit(X, y)
    y_enc = np.searchsorted(exact.classes_, y)
    loss = SoftmaxLoss(X, y_enc, len(exact.classes_), C=C, l1_ratio=1.0)

    def f(est):
        return loss.objective(loss.pack(est.coef_, est.intercept_))

    assert f(sgd) <= f(exact) * 1.02
    zeros_exact = np.mean(exact.coef_ == 0)
    zeros_sgd = np.mean(sgd.coef_ == 0)
    assert zeros_exact > 0.3
    assert zeros_sgd > 0.5 * zeros_exact  # exact zeros, of the same order of sparsity
    # the reported loss curve includes the L1 term
    assert sgd.loss_curve_[-1] == pytest.approx(f(sgd), rel=0.05)


def test_partial_fit_l1_accumulates_the_penalty_across_calls():
    X, y = digits()
    clf = SoftmaxClassifier(
        solver="sgd", C=0.01, l1_ratio=1.0, random_state=0, total_sample_weight=X.shape[0]
    )
    classes = np.unique(y)
    for _ in range(3):
        for chunk in np.array_split(np.arange(X.shape[0]), 4):
            clf.partial_fit(X[chunk], y[chunk], classes=classes)
    state = clf._sgd_state
    assert state.l1_u > 0 and state.l1_Q.shape == clf.coef_.shape
    assert np.mean(clf.coef_ == 0) > 0.3
    fit = SoftmaxClassifier(
        solver="sgd", C=0.01, l1_ratio=1.0, random_state=0, max_iter=3, tol=None
    ).fit(X, y)
    assert clf.score(X, y) > 0.8 and fit.score(X, y) > 0.8
    # a pickled state continues identically
    import pickle

    twin = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X[:300], y[:300])
    twin.partial_fit(X[:300], y[:300])
    np.testing.assert_array_equal(clf.coef_, twin.coef_)
