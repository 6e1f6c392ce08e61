"""L1 / elastic-net with the default solver (OWL-QN): optimality, agreement with saga,
the regularisation path, and the estimator's contract (weights, dtypes, CSR, binary)."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_digits, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier
from sk_softmax._layout import CoefLayout
from sk_softmax._loss import SoftmaxLoss
from sk_softmax._penalty import ElasticNet, min_norm_subgradient
from sk_softmax._solvers import minimize_owlqn

from . import reference as ref


def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def text_like(seed=0, n=400, d=300, n_classes=4):
    """A small TF-IDF-like CSR set: few non-zeros per row, class-specific words."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    rows, cols = [], []
    for i in range(n):
        words = rng.choice(d, size=12, replace=False)
        words[:3] = (y[i] * 17 + rng.integers(0, 15, 3)) % d  # the class's words
        rows.extend([i] * 12)
        cols.extend(words)
    vals = rng.uniform(0.5, 1.5, len(rows))
    X = sp.csr_matrix((vals, (rows, cols)), shape=(n, d))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    return (sp.diags(1 / norms) @ X).tocsr(), y


def binary_of(X, y):
    """Classes 1 and 2 (on iris, the two that overlap)."""
    keep = (y == 1) | (y == 2)
    return X[keep], y[keep]


def kkt(clf, X, y, C, l1_ratio, sw=None):
    y_enc = np.searchsorted(clf.classes_, y)
    Xd = X.toarray() if sp.issparse(X) else X
    return ref.elastic_net_kkt(
        Xd, y_enc, clf.coef_, clf.intercept_, C, l1_ratio, sw, binary=len(clf.classes_) == 2
    )


def enet_objective(clf, X, y, C, l1_ratio, sw=None):
    y_enc = np.searchsorted(clf.classes_, y)
    Xd = X.toarray() if sp.issparse(X) else X
    return ref.elastic_net_objective(
        Xd, y_enc, clf.coef_, clf.intercept_, C, l1_ratio, sw, binary=len(clf.classes_) == 2
    )


CASES = {
    "iris": (iris, 0.05),
    "digits": (digits, 0.05),
    "text": (text_like, 2.0),
}


def critical_C(X, y, l1_ratio):
    """The largest C at which every weight is zero: ``r / (S max|G|)`` with ``G`` the
    mean cross-entropy's gradient at zero weights and optimal intercepts (binary: the
    one stored row of the sigmoid model)."""
    n = X.shape[0]
    classes, yi = np.unique(y, return_inverse=True)
    p = np.bincount(yi) / n
    R = np.tile(p, (n, 1))
    R[np.arange(n), yi] -= 1.0
    if len(classes) == 2:
        R = R[:, 1:]
    G = np.asarray(X.T @ R).T / n
    return l1_ratio / (n * np.abs(G).max())


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("binary", [False, True])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_kkt_conditions_at_the_solution(case, binary, l1_ratio):
    load, _ = CASES[case]
    X, y = load()
    if binary:
        X, y = binary_of(X, y)
    C = 2 * critical_C(X, y, l1_ratio)
    clf = SoftmaxClassifier(C=C, l1_ratio=l1_ratio, tol=1e-9, max_iter=10000).fit(X, y)
    zero_excess, nonzero_res, intercept_res = kkt(clf, X, y, C, l1_ratio)
    S = X.shape[0]
    l1 = l1_ratio / (C * S)
    n_zero = int(np.sum(clf.coef_ == 0))
    # a real L1 problem: some weights are held at zero, some are not
    assert 0 < n_zero < clf.coef_.size
    # Measured residuals are 1e-14..2e-8 (the sparse ones end with Newton steps); the
    # bounds leave room for the relative-decrease stop (64 eps, L-BFGS-B's ftol), far
    # below the penalty's own scale.
    assert zero_excess <= 1e-7
    assert nonzero_res <= min(1e-6, 1e-3 * l1)
    assert intercept_res <= 1e-6


@pytest.mark.parametrize("case", ["iris", "digits"])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_agrees_with_saga(case, l1_ratio):
    load, C = CASES[case]
    X, y = load()
    ours = SoftmaxClassifier(C=C, l1_ratio=l1_ratio, tol=1e-10, max_iter=20000).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        saga = LogisticRegression(
            C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-12, max_iter=50000
        ).fit(X, y)
    f_ours = enet_objective(ours, X, y, C, l1_ratio)
    f_saga = enet_objective(saga, X, y, C, l1_ratio)
    assert f_ours <= f_saga * (1 + 1e-6)
    assert abs(f_ours - f_saga) <= 1e-6 * abs(f_saga)
    # the same support, up to weights too small to tell apart at saga's precision
    big = np.maximum(np.abs(ours.coef_), np.abs(saga.coef_)) > 1e-5
    np.testing.assert_array_equal((ours.coef_ != 0)[big], (saga.coef_ != 0)[big])
    np.testing.assert_allclose(ours.coef_, saga.coef_, atol=1e-4)


@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_path_reaches_zero_at_the_critical_C(l1_ratio):
    X, y = digits()
    p = np.bincount(y) / X.shape[0]
    C_crit = critical_C(X, y, l1_ratio)
    nonzeros = []
    for factor in (100.0, 10.0, 3.0, 1.5, 1.01):
        clf = SoftmaxClassifier(C=C_crit * factor, l1_ratio=l1_ratio, tol=1e-8, max_iter=5000).fit(
            X, y
        )
        nonzeros.append(np.count_nonzero(clf.coef_))
    assert nonzeros[-1] > 0  # just above the critical C something is still selected
    assert all(a >= b for a, b in zip(nonzeros, nonzeros[1:]))
    assert nonzeros[0] > 5 * nonzeros[-1]
    at = SoftmaxClassifier(C=C_crit * 0.99, l1_ratio=l1_ratio, tol=1e-8).fit(X, y)
    assert np.count_nonzero(at.coef_) == 0
    # and the intercepts are then the log class frequencies (up to a constant)
    centred = at.intercept_ - at.intercept_.mean()
    np.testing.assert_allclose(centred, np.log(p) - np.log(p).mean(), atol=1e-6)


@pytest.mark.parametrize("binary", [False, True])
def test_dense_equals_csr(binary):
    X, y = text_like()
    if binary:
        X, y = binary_of(X, y)
    kw = dict(C=2.0, l1_ratio=0.7, tol=1e-10, max_iter=10000)
    a = SoftmaxClassifier(**kw).fit(X, y)
    b = SoftmaxClassifier(**kw).fit(X.toarray(), y)
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-8)
    np.testing.assert_allclose(a.intercept_, b.intercept_, atol=1e-8)
    assert np.count_nonzero(a.coef_ == 0) > 0


def test_float32_stays_float32_and_close():
    X, y = digits()
    kw = dict(C=0.05, l1_ratio=1.0, tol=1e-6, max_iter=5000)
    a = SoftmaxClassifier(**kw).fit(X.astype(np.float32), y)
    b = SoftmaxClassifier(**kw).fit(X, y)
    assert a.coef_.dtype == np.float32
    f32 = enet_objective(a, X, y, 0.05, 1.0)
    f64 = enet_objective(b, X, y, 0.05, 1.0)
    assert abs(f32 - f64) <= 1e-5 * f64
    assert np.count_nonzero(a.coef_) > 0 and np.count_nonzero(a.coef_ == 0) > 0


def test_integer_sample_weight_equals_repeated_rows():
    X, y = iris()
    rng = np.random.default_rng(0)
    sw = rng.integers(0, 4, X.shape[0])
    sw[:3] = 1
    kw = dict(C=0.05, l1_ratio=0.8, tol=1e-10, max_iter=10000)
    a = SoftmaxClassifier(**kw).fit(X, y, sample_weight=sw)
    b = SoftmaxClassifier(**kw).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-7)
    np.testing.assert_array_equal(a.coef_ == 0, b.coef_ == 0)
    zero_excess, nonzero_res, _ = kkt(a, X, y, 0.05, 0.8, sw)
    assert zero_excess <= 1e-7 and nonzero_res <= 1e-6


def test_class_weight_is_sample_weight():
    X, y = iris()
    cw = {0: 2.0, 1: 0.5, 2: 1.0}
    kw = dict(C=0.05, l1_ratio=1.0, tol=1e-10, max_iter=10000)
    a = SoftmaxClassifier(class_weight=cw, **kw).fit(X, y)
    b = SoftmaxClassifier(**kw).fit(X, y, sample_weight=np.vectorize(cw.get)(y))
    np.testing.assert_allclose(a.coef_, b.coef_, atol=1e-10)


def test_warm_start_continues_to_the_same_solution():
    X, y = digits()
    kw = dict(C=0.05, l1_ratio=1.0, tol=1e-6, max_iter=5000)
    cold = SoftmaxClassifier(**kw).fit(X, y)
    warm = SoftmaxClassifier(warm_start=True, **kw)
    warm.set_params(C=0.055).fit(X, y)
    warm.set_params(C=0.05).fit(X, y)
    assert warm.n_iter_[0] < cold.n_iter_[0]
    f_warm = enet_objective(warm, X, y, 0.05, 1.0)
    f_cold = enet_objective(cold, X, y, 0.05, 1.0)
    assert abs(f_warm - f_cold) <= 1e-8 * f_cold
    np.testing.assert_allclose(warm.coef_, cold.coef_, atol=1e-3)  # digits: ill-conditioned


def test_tol_is_the_subgradient_max_norm():
    X, y = digits()
    for tol in (1e-3, 1e-5):
        clf = SoftmaxClassifier(C=0.05, l1_ratio=1.0, tol=tol, max_iter=5000).fit(X, y)
        loss = SoftmaxLoss(X, y, 10, C=0.05, l1_ratio=1.0)
        coef = loss.pack(clf.coef_, clf.intercept_)
        pg = loss.min_norm_subgradient(coef, loss.loss_gradient(coef)[1])
        assert np.max(np.abs(pg)) <= tol
        # and one iteration earlier the test would not have stopped it
        early = SoftmaxClassifier(C=0.05, l1_ratio=1.0, tol=tol, max_iter=int(clf.n_iter_[0]) - 1)
        with pytest.warns(ConvergenceWarning, match="max_iter"):
            early.fit(X, y)


def test_c_inf_ignores_l1_ratio_and_l1_ratio_zero_is_the_l2_model():
    X, y = iris()
    a = SoftmaxClassifier(C=np.inf, l1_ratio=1.0, max_iter=1000).fit(X, y)
    b = SoftmaxClassifier(C=np.inf, max_iter=1000).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    loss = SoftmaxLoss(X, y, 3, C=0.3, l1_ratio=0.0)
    assert loss.penalty.l2 == 1.0 / (0.3 * X.shape[0]) and loss.penalty.l1 == 0.0
    c = SoftmaxClassifier(C=0.3, l1_ratio=0.0).fit(X, y)
    d = SoftmaxClassifier(C=0.3).fit(X, y)
    np.testing.assert_array_equal(c.coef_, d.coef_)
    assert np.all(c.coef_ != 0)


@pytest.mark.parametrize("bad", [-0.1, 1.5, np.nan, "l1"])
def test_bad_l1_ratio(bad):
    X, y = iris()
    with pytest.raises(ValueError, match="l1_ratio"):
        SoftmaxClassifier(l1_ratio=bad).fit(X, y)


def test_sparsify_keeps_predictions():
    X, y = digits()
    clf = SoftmaxClassifier(C=0.02, l1_ratio=1.0).fit(X, y)
    dense_proba = clf.predict_proba(X)
    clf.sparsify()
    assert sp.issparse(clf.coef_)
    assert clf.coef_.nnz == np.count_nonzero(clf.coef_.toarray()) < clf.coef_.shape[0] * 64
    np.testing.assert_allclose(clf.predict_proba(X), dense_proba, rtol=1e-12)
    clf.densify()
    assert isinstance(clf.coef_, np.ndarray)


def test_callbacks_see_every_iteration():
    from sklearn.callback.tests._utils import RecordingCallback

    X, y = iris()
    cb = RecordingCallback()
    clf = SoftmaxClassifier(C=0.05, l1_ratio=1.0, max_iter=1000).set_callbacks(cb).fit(X, y)
    assert cb.count_hooks("on_fit_task_begin") == 1 + clf.n_iter_[0] + 1


def test_min_norm_subgradient_matches_its_definition(rng):
    coef = np.array([0.0, 0.0, 0.0, 1.5, -2.0, 0.0])
    grad = np.array([0.3, -0.05, -0.4, 0.2, 0.2, 0.7])
    mask = np.array([True, True, True, True, True, False])  # the last is an intercept
    pg = min_norm_subgradient(coef, grad, 0.1, mask)
    np.testing.assert_allclose(pg, [0.2, 0.0, -0.3, 0.3, 0.1, 0.7])
    np.testing.assert_array_equal(min_norm_subgradient(coef, grad, 0.0, mask), grad)


def test_owlqn_without_l1_matches_lbfgs():
    X, y = digits()
    loss = SoftmaxLoss(X, y, 10, C=0.1)
    coef, _, res = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-9)
    lbfgs = SoftmaxClassifier(C=0.1, tol=1e-9, max_iter=5000).fit(X, y)
    assert res.status == 0
    assert abs(res.fun - loss.loss(loss.pack(lbfgs.coef_, lbfgs.intercept_))) <= 1e-10 * res.fun
    np.testing.assert_allclose(loss.weight_intercept(coef)[0], lbfgs.coef_, atol=1e-4)


def test_owlqn_line_search_failure_warns():
    class Nowhere:
        """A smooth part whose value rises in every direction faster than any model
        predicts: the line search can never accept a step."""

        penalty = ElasticNet(C=10.0, l1_ratio=1.0, weight_sum=1.0)  # l1 = 0.1
        layout = CoefLayout(n_features=2, n_classes=2, fit_intercept=True)  # [w1, w2, b]
        supports_hessian_product = False

        def loss_gradient(self, coef):
            if np.any(coef != 0):
                return np.inf, np.zeros(3)
            return 0.0, np.array([1.0, -1.0, 0.5])

    with pytest.warns(ConvergenceWarning, match="line search"):
        coef, n_iter, res = minimize_owlqn(Nowhere(), np.zeros(3), max_iter=10)
    assert n_iter == 0 and res.status == 2
    np.testing.assert_array_equal(coef, 0.0)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_hessian_product_is_the_gradients_derivative(rng, sparse, n_classes, weighted):
    X = rng.standard_normal((120, 6))
    X[X < 0.3] = 0.0
    y = rng.integers(0, n_classes, 120)
    y[:n_classes] = np.arange(n_classes)
    sw = rng.uniform(0.2, 2, 120) if weighted else None
    Xin = sp.csr_matrix(X) if sparse else X
    loss = SoftmaxLoss(Xin, y, n_classes, sw, C=0.7, l1_ratio=0.3)
    coef = rng.standard_normal(loss.n_params)
    free = rng.random(loss.n_params) < 0.6
    free[~loss.penalty_mask] = True
    coef[~free] = 0.0
    hessp = loss.hessian_product(coef, free)
    v = np.where(free, rng.standard_normal(loss.n_params), 0.0)
    eps = 1e-6
    numeric = (loss.loss_gradient(coef + eps * v)[1] - loss.loss_gradient(coef - eps * v)[1]) / (
        2 * eps
    )
    np.testing.assert_allclose(hessp(v), np.where(free, numeric, 0.0), rtol=1e-6, atol=1e-8)
    # a subsample of the rows estimates the same mean Hessian (exactly, here: all rows
    # are used when there are fewer than max_rows)
    np.testing.assert_array_equal(loss.hessian_product(coef, free, 1000)(v), hessp(v))
    sub = loss.hessian_product(coef, free, 40)(v)  # every third row
    assert np.all(np.isfinite(sub)) and np.any(sub != hessp(v))


def test_newton_steps_reach_the_same_optimum_in_fewer_evaluations(monkeypatch):
    from sk_softmax._solvers import _owlqn

    X, y = digits()
    C = 3 * critical_C(X, y, 1.0)
    loss = SoftmaxLoss(X, y, 10, C=C, l1_ratio=1.0)
    with_newton = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-8)
    monkeypatch.setattr(_owlqn, "_NEWTON_AFTER", 10**9)
    without = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-8)
    assert with_newton[2].fun == pytest.approx(without[2].fun, rel=1e-10)
    np.testing.assert_array_equal(with_newton[0] == 0, without[0] == 0)
    assert with_newton[2].nfev < without[2].nfev


def test_a_newton_direction_that_is_not_descent_falls_back_to_quasi_newton(monkeypatch):
    """A Newton direction that does not descend (CG on an indefinite model can give one)
    is replaced by the quasi-Newton direction; the solve ends where it would."""
    from sk_softmax._solvers import _owlqn

    X, y = digits()
    C = 3 * critical_C(X, y, 1.0)
    loss = SoftmaxLoss(X, y, 10, C=C, l1_ratio=1.0)
    reference = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-7)
    calls = []

    def wrong_direction(hessp, pg, free):
        calls.append(1)
        return np.where(free, pg, 0.0)  # ascent: rejected before any line search

    monkeypatch.setattr(_owlqn, "_newton_direction", wrong_direction)
    coef, _, res = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-7)
    assert calls
    assert res.status == 0
    assert res.fun == pytest.approx(reference[2].fun, rel=1e-9)


def test_newton_line_search_failure_turns_newton_off(monkeypatch):
    from sk_softmax._solvers import _owlqn

    X, y = digits()
    C = 3 * critical_C(X, y, 1.0)
    loss = SoftmaxLoss(X, y, 10, C=C, l1_ratio=1.0)
    reference = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-7)
    seen = []

    def tiny_descent(hessp, pg, free):
        seen.append(1)
        # a descent direction so long that no halving within the line search's 50
        # tries brings the step to where the objective decreases
        return -np.where(free, pg, 0.0) * 1e30

    monkeypatch.setattr(_owlqn, "_newton_direction", tiny_descent)
    coef, _, res = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-7)
    assert len(seen) == 1  # tried once, then off for good
    assert res.status == 0
    assert res.fun == pytest.approx(reference[2].fun, rel=1e-9)


# -- the two-phase solver the estimator uses (sk_softmax/_solvers/_l1.py) -------------


def test_sparse_models_are_handed_over_to_owlqn_and_dense_ones_are_not():
    from sk_softmax._solvers import minimize_l1

    X, y = digits()
    for factor, phases in ((2.0, "lbfgsb+owlqn"), (300.0, "lbfgsb")):
        C = factor * critical_C(X, y, 1.0)
        loss = SoftmaxLoss(X, y, 10, C=C, l1_ratio=1.0)
        coef, n_iter, res = minimize_l1(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-7)
        assert res.phases == phases, factor
        assert res.status == 0 and n_iter == res.nit
        # both end at the optimum: no worse than OWL-QN alone, and within 1e-7 of it
        alone = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-7)
        assert res.fun <= alone[2].fun * (1 + 1e-9)
        assert res.fun == pytest.approx(alone[2].fun, rel=1e-7)
        pg = loss.min_norm_subgradient(coef, loss.loss_gradient(coef)[1])
        assert np.max(np.abs(pg)) <= 1e-6


def test_l1_solver_max_iter_warns_and_callback_stops():
    from sk_softmax._solvers import minimize_l1

    X, y = digits()
    loss = SoftmaxLoss(X, y, 10, C=0.05, l1_ratio=1.0)
    with pytest.warns(ConvergenceWarning, match="max_iter=5"):
        _, n_iter, res = minimize_l1(loss, np.zeros(loss.n_params), max_iter=5)
    assert n_iter == 5 and res.status == 1
    seen = []

    def stop_at_3(coef, value):
        seen.append(value)
        if len(seen) == 3:
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _, n_iter, res = minimize_l1(
            loss, np.zeros(loss.n_params), max_iter=100, callback=stop_at_3
        )
    assert n_iter == 3 and res.status == 99
    assert seen == sorted(seen, reverse=True)  # objective values, decreasing


def test_newton_steps_let_a_violating_zero_weight_back_in(monkeypatch):
    """Newton steps on a settled support must still move a zero weight whose subgradient
    says it should not be zero (before the fix, such a weight was never in the Newton
    subspace, and the solve stalled on it until the relative-decrease test).  Any
    support change counts as settled here, so the support never stops Newton steps:
    only the rule "a quasi-Newton step when the largest violation is at zero" lets the
    weight back in."""
    from sk_softmax._solvers import _owlqn

    X, y = digits()
    C = 3 * critical_C(X, y, 1.0)
    loss = SoftmaxLoss(X, y, 10, C=C, l1_ratio=1.0)
    opt, _, _ = minimize_owlqn(loss, np.zeros(loss.n_params), max_iter=5000, tol=1e-9)
    start = opt.copy()
    W, _ = loss.weight_intercept(start)
    k, j = np.unravel_index(np.argmax(np.abs(W)), W.shape)
    W[k, j] = 0.0  # the largest weight, knocked out: a strong violator at zero
    monkeypatch.setattr(_owlqn, "SUPPORT_CHANGE", np.inf)
    coef, _, res = minimize_owlqn(loss, start, max_iter=5000, tol=1e-9, settled=True)
    assert loss.weight_intercept(coef)[0][k, j] != 0.0
    assert res.subgrad_norm <= 1e-6
    assert res.fun == pytest.approx(loss.objective(opt), rel=1e-10)
