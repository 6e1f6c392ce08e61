"""Bounds on the weights and per-feature penalty factors (issue 27), every solver.

Each solver's solution is checked against the reference minimiser on the NumPy oracle
(scipy's L-BFGS-B with the same bounds, on split weights: ``reference.constrained_minimize``)
to 1e-7 in objective, against the projected KKT conditions, and for bounds that hold
exactly; then the factor-0 feature, CV, dense against CSR, the critical C and every error
path."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV
from sk_softmax._loss import SoftmaxLoss
from sk_softmax._penalty import ElasticNet, check_penalty_factor, make_box
from sk_softmax._solvers import minimize_owlqn

from . import reference as ref

OBJECTIVE_TOL = 1e-7


def iris(binary=False):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    if binary:
        keep = y > 0
        return X[keep], (y[keep] == 2).astype(int)
    return X, y


def text_like(seed=0, n=200, d=40, n_classes=3):
    """A small CSR set with class-specific features and non-negative counts."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = rng.poisson(0.15, size=(n, d)).astype(np.float64)
    for k in range(n_classes):
        X[y == k, k * 5 : k * 5 + 5] += rng.poisson(0.8, size=((y == k).sum(), 5))
    return sp.csr_array(X), y


def _bounds(kind, n_classes, d):
    K = 1 if n_classes == 2 else n_classes
    if kind == "nonneg":
        return 0.0, None
    if kind == "box":
        rng = np.random.default_rng(1)
        lower = -rng.uniform(0.05, 0.4, size=(K, d))
        upper = rng.uniform(0.05, 0.4, size=(K, d))
        lower[0, 0] = -np.inf  # free on one side
        return lower, upper
    if kind == "excludes_zero":  # every weight of feature 0 at least 0.2
        lower = np.full(d, -0.5)
        lower[0] = 0.2
        return lower, np.full(d, 1.0)
    raise ValueError(kind)


def _reference(X, y, C, l1_ratio, factor, lower, upper, n_classes):
    lo = -np.inf if lower is None else lower
    hi = np.inf if upper is None else upper
    return ref.constrained_minimize(X, y, n_classes, C, l1_ratio, factor, lo, hi)


def _objective(clf, X, y, C, l1_ratio, factor, n_classes):
    Xd = X.toarray() if sp.issparse(X) else X
    return ref.constrained_objective(
        Xd, y, clf.coef_, clf.intercept_, C, l1_ratio, factor, binary=n_classes == 2
    )


def _assert_within(coef, lower, upper):
    if lower is not None:
        assert np.all(coef >= np.broadcast_to(lower, coef.shape))
    if upper is not None:
        assert np.all(coef <= np.broadcast_to(upper, coef.shape))


FULL_BATCH_CASES = [
    # (bounds, l1_ratio, factor, binary, sparse)
    ("nonneg", 0.0, None, False, False),
    ("box", 0.0, None, False, False),
    ("excludes_zero", 0.0, None, False, False),
    ("nonneg", 0.0, "factor", True, False),
    ("box", 0.0, "factor", False, True),
    ("nonneg", 1.0, None, False, False),
    ("box", 1.0, "factor", False, False),
    ("excludes_zero", 1.0, None, False, False),
    ("box", 0.5, None, True, False),
    ("nonneg", 0.5, "factor", False, True),
]


def _factor(spec, d):
    if spec is None:
        return None
    f = np.linspace(0.0, 2.0, d)  # feature 0 unpenalised
    return f


@pytest.mark.parametrize("bounds, l1_ratio, factor, binary, sparse", FULL_BATCH_CASES)
def test_lbfgs_and_l1_agree_with_reference(bounds, l1_ratio, factor, binary, sparse):
    """lbfgs (L-BFGS-B's bounds; the float32 stage on dense float64 data) and the L1
    solver (split weights' bounds) reach the reference's objective to 1e-7, inside the
    box, with the projected (sub)gradient below tol."""
    if sparse:
        X, y = text_like()
    else:
        X, y = iris(binary)
    n_classes = 2 if binary else 3
    d = X.shape[1]
    lower, upper = _bounds(bounds, n_classes, d)
    f = _factor(factor, d)
    C = 0.5
    clf = SoftmaxClassifier(
        C=C,
        l1_ratio=l1_ratio,
        lower_bounds=lower,
        upper_bounds=upper,
        penalty_factor=f,
        tol=1e-8,
        max_iter=2000,
    ).fit(X, y)
    _assert_within(clf.coef_, lower, upper)
    _, _, best = _reference(X, y, C, l1_ratio, f, lower, upper, n_classes)
    ours = _objective(clf, X, y, C, l1_ratio, f, n_classes)
    assert ours - best <= OBJECTIVE_TOL * max(1.0, abs(best))
    assert best - ours <= OBJECTIVE_TOL * max(1.0, abs(best))
    kkt = ref.projected_kkt(
        X,
        y,
        clf.coef_,
        clf.intercept_,
        C,
        l1_ratio,
        f,
        -np.inf if lower is None else lower,
        np.inf if upper is None else upper,
        binary=binary,
    )
    assert kkt <= 1e-6


def test_owlqn_projects_onto_orthant_and_box():
    """OWL-QN alone (with its Newton steps) on a bounded, factor-weighted L1 problem:
    the reference's objective to 1e-7, weights inside the box, subgradient below tol."""
    X, y = iris()
    d = X.shape[1]
    lower, upper = _bounds("box", 3, d)
    f = _factor("factor", d)
    C, r = 0.5, 1.0
    box = make_box(lower, upper, 3, d)
    loss = SoftmaxLoss(X, y, 3, C=C, l1_ratio=r, penalty_factor=f, box=box)
    coef, _, result = minimize_owlqn(loss, loss.layout.start(), max_iter=2000, tol=1e-9)
    assert result.status == 0
    W, b = loss.layout.weight_intercept(coef)
    _assert_within(W, lower, upper)
    _, _, best = _reference(X, y, C, r, f, lower, upper, 3)
    assert abs(ref.constrained_objective(X, y, W, b, C, r, f) - best) <= OBJECTIVE_TOL
    assert ref.projected_kkt(X, y, W, b, C, r, f, lower, upper) <= 1e-7


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("bounds, factor", [("box", None), ("nonneg", "factor")])
def test_sgd_full_batch_steps_agree_with_reference(sparse, bounds, factor):
    """SGD with one batch of all rows and a constant step ``1 / L`` (``L`` a bound on
    the smooth part's curvature) is projected gradient descent: it reaches the
    reference's objective to 1e-7 (L2, bounds and factors), every iterate inside the
    box.  (Factors from 0.5 up: an unpenalised feature makes the problem too weakly
    convex for a test-sized number of steps.)"""
    X, y = text_like() if sparse else iris()
    d = X.shape[1]
    lower, upper = _bounds(bounds, 3, d)
    f = None if factor is None else _factor(factor, d) + 0.5
    Xd = X.toarray() if sparse else X
    L = 0.5 * np.linalg.norm(np.hstack([Xd, np.ones((Xd.shape[0], 1))]), 2) ** 2 / Xd.shape[0]
    C = 0.5
    clf = SoftmaxClassifier(
        C=C,
        solver="sgd",
        batch_size=X.shape[0],
        learning_rate="constant",
        eta0=1.0 / L,
        tol=None,
        max_iter=2000,
        shuffle=False,
        lower_bounds=lower,
        upper_bounds=upper,
        penalty_factor=f,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    _assert_within(clf.coef_, lower, upper)
    _, _, best = _reference(X, y, C, 0.0, f, lower, upper, 3)
    assert abs(_objective(clf, X, y, C, 0.0, f, 3) - best) <= OBJECTIVE_TOL


@pytest.mark.parametrize("average", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_sgd_minibatches_l1_and_averaging_stay_in_box(sparse, average):
    """Minibatch SGD with the cumulative L1 penalty and averaging: every weight inside
    the box (the average of iterates in a box is in it), near the reference's
    objective."""
    X, y = text_like() if sparse else iris()
    d = X.shape[1]
    lower, upper = _bounds("box", 3, d)
    C, r = 0.5, 0.5
    clf = SoftmaxClassifier(
        C=C,
        l1_ratio=r,
        solver="sgd",
        batch_size=16,
        max_iter=60,
        tol=None,
        random_state=0,
        average=average,
        lower_bounds=lower,
        upper_bounds=upper,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    _assert_within(clf.coef_, lower, upper)
    _, _, best = _reference(X, y, C, r, None, lower, upper, 3)
    assert _objective(clf, X, y, C, r, None, 3) - best <= 2e-2


def test_sgd_partial_fit_keeps_bounds():
    X, y = iris()
    clf = SoftmaxClassifier(solver="sgd", lower_bounds=0.0, upper_bounds=0.3, random_state=0)
    for start in range(0, 150, 50):
        clf.partial_fit(X[start : start + 50], y[start : start + 50], classes=[0, 1, 2])
        _assert_within(clf.coef_, 0.0, 0.3)


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_float32_coef_keeps_bounds_exactly(solver):
    """Bounds that float32 cannot represent (0.1, 0.3): coef_ in float32 stays inside,
    not even outside by rounding."""
    X, y = iris()
    X = X.astype(np.float32)
    lower, upper = 0.1, 0.3
    clf = SoftmaxClassifier(
        C=10.0, solver=solver, lower_bounds=lower, upper_bounds=upper, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert clf.coef_.dtype == np.float32
    assert np.any(clf.coef_ == np.float32(np.nextafter(np.float32(upper), np.float32(0))))
    _assert_within(clf.coef_, lower, upper)


def test_warm_start_outside_box_is_projected():
    X, y = iris()
    clf = SoftmaxClassifier(C=1.0, warm_start=True, tol=1e-8, max_iter=500).fit(X, y)
    clf.set_params(lower_bounds=0.0)
    clf.fit(X, y)
    _assert_within(clf.coef_, 0.0, None)
    _, _, best = _reference(X, y, 1.0, 0.0, None, 0.0, None, 3)
    assert abs(_objective(clf, X, y, 1.0, 0.0, None, 3) - best) <= OBJECTIVE_TOL


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_factor_zero_equals_feature_without_penalty(l1_ratio):
    """A feature of factor 0 is fitted as if its penalty were removed: against the
    reference objective written with that feature's penalty left out, and against the
    fit where the feature is scaled up by 1e4 (its penalty becomes negligible)."""
    X, y = iris()
    C = 0.05
    f = np.array([0.0, 1.0, 1.0, 1.0])
    clf = SoftmaxClassifier(C=C, l1_ratio=l1_ratio, penalty_factor=f, tol=1e-9, max_iter=2000)
    clf.fit(X, y)
    # the reference objective with a mask instead of the factor
    mask = np.array([False, True, True, True])
    S = X.shape[0]

    def removed(W, b):
        total = ref.loss_sum_terms(X, y, W, b)[0] / S
        Wm = W[:, mask]
        pen = (1 - l1_ratio) / 2 * np.sum(Wm**2) + l1_ratio * np.abs(Wm).sum()
        return total + pen / (C * S)

    _, _, best = _reference(X, y, C, l1_ratio, f, None, None, 3)
    assert abs(removed(clf.coef_, clf.intercept_) - best) <= OBJECTIVE_TOL
    # the unpenalised feature is not zeroed by a strong L1 penalty
    assert np.all(clf.coef_[:, 0] != 0.0)
    if l1_ratio > 0:
        return  # (scaling a column shrinks an L1 term only by the scale, not its square)
    scale = 1e4
    Xs = X.copy()
    Xs[:, 0] *= scale
    plain = SoftmaxClassifier(C=C, l1_ratio=l1_ratio, tol=1e-9, max_iter=5000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.fit(Xs, y)
    W = plain.coef_.copy()
    W[:, 0] *= scale
    assert abs(removed(W, plain.intercept_) - best) <= 1e-5


def test_penalty_factor_of_ones_is_the_plain_penalty():
    """All-ones factors are the plain penalty (the same path, hence the same bits)."""
    X, y = iris()
    a = SoftmaxClassifier(C=0.3).fit(X, y)
    b = SoftmaxClassifier(C=0.3, penalty_factor=np.ones(4)).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
@pytest.mark.parametrize(
    "solver, factor, average",
    [
        ("lbfgs", "factor", False),
        ("sgd", "factor", False),  # both eager
        ("sgd", None, False),  # CSR: the lazy steps with the projection of the batch's features
        ("sgd", None, True),  # ... and the lazy average kept consistent
    ],
)
def test_dense_equals_csr(solver, factor, average, l1_ratio):
    """Dense and CSR fits agree; for SGD without factors the CSR epochs take the lazy
    steps (scaled weights, the batch's features projected) and the dense ones the eager
    steps, the same steps in another order of operations."""
    X, y = text_like()
    lower, upper = _bounds("box", 3, X.shape[1])
    f = _factor(factor, X.shape[1])
    kw = dict(
        average=average,
        C=0.5,
        l1_ratio=l1_ratio,
        solver=solver,
        lower_bounds=lower,
        upper_bounds=upper,
        penalty_factor=f,
        random_state=0,
        tol=1e-8 if solver == "lbfgs" else 1e-4,
        max_iter=1000 if solver == "lbfgs" else 20,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = SoftmaxClassifier(**kw).fit(X.toarray(), y)
        csr = SoftmaxClassifier(**kw).fit(X, y)
    np.testing.assert_allclose(dense.coef_, csr.coef_, atol=1e-6)
    np.testing.assert_allclose(dense.intercept_, csr.intercept_, atol=1e-6)


def test_cv_picks_C_with_constraints_on():
    """CV's paths keep the bounds, and its scores are those of the constrained fits:
    the chosen C is the best of SoftmaxClassifier fits with the same bounds per fold."""
    X, y = iris()
    Cs = [0.01, 0.1, 1.0, 10.0]
    f = np.array([0.0, 1.0, 2.0, 1.0])
    cv = SoftmaxClassifierCV(
        Cs=Cs, cv=3, lower_bounds=0.0, penalty_factor=f, scoring="neg_log_loss", tol=1e-8
    ).fit(X, y)
    assert np.all(cv.coefs_paths_[..., :4] >= 0.0)
    assert np.all(cv.coef_ >= 0.0)
    from sklearn.model_selection import StratifiedKFold

    scores = np.zeros(len(Cs))
    for train, test in StratifiedKFold(3).split(X, y):
        for i, C in enumerate(Cs):
            m = SoftmaxClassifier(C=C, lower_bounds=0.0, penalty_factor=f, tol=1e-8)
            m.fit(X[train], y[train])
            scores[i] += -ref.loss_sum_terms(X[test], y[test], m.coef_, m.intercept_)[0] / len(test)
    np.testing.assert_allclose(cv.scores_.sum(axis=0)[0], scores, rtol=1e-5)
    assert cv.C_ == Cs[int(np.argmax(scores))]
    # the refit is the constrained fit at C_ (compared by objective: with an
    # unpenalised feature the multinomial weights of that feature are not unique)
    direct = SoftmaxClassifier(C=cv.C_, lower_bounds=0.0, penalty_factor=f, tol=1e-8).fit(X, y)
    obj = [
        ref.constrained_objective(X, y, m.coef_, m.intercept_, cv.C_, 0.0, f) for m in (cv, direct)
    ]
    assert abs(obj[0] - obj[1]) <= 1e-7


@pytest.mark.parametrize(
    "factor, lower",
    [(None, None), (np.array([0.5, 1.0, 2.0, 1.0]), None), (None, 0.0)],
)
def test_critical_C_accounts_for_factors_and_bounds(factor, lower):
    """Just below the critical C every weight is zero; just above, one is not."""
    X, y = iris()
    box = make_box(lower, None, 3, 4)
    loss = SoftmaxLoss(X, y, 3, C=1.0, l1_ratio=1.0, penalty_factor=factor, box=box)
    Cc = loss.penalty.critical_C(loss.gradient_at_zero_weights())
    assert 0.0 < Cc < np.inf
    kw = dict(l1_ratio=1.0, penalty_factor=factor, lower_bounds=lower, tol=1e-10, max_iter=500)
    below = SoftmaxClassifier(C=Cc * 0.99, **kw).fit(X, y)
    above = SoftmaxClassifier(C=Cc * 1.05, **kw).fit(X, y)
    assert np.all(below.coef_ == 0.0)
    assert np.any(above.coef_ != 0.0)


def test_critical_C_is_zero_when_no_C_zeroes_every_weight():
    G = np.array([[0.3, -0.2], [0.1, 0.0], [0.05, 0.0]])
    pen = ElasticNet(1.0, 1.0, 10.0, factor=np.array([0.0, 1.0]))
    assert pen.critical_C(G) == 0.0
    excl = ElasticNet(1.0, 1.0, 10.0, box=make_box(0.1, None, 3, 2))
    assert excl.critical_C(G) == 0.0
    # lower = 0: only a negative G (pushing the weight up) counts
    nonneg = ElasticNet(1.0, 1.0, 10.0, box=make_box(0.0, None, 3, 2))
    assert nonneg.critical_C(G) == pytest.approx(1.0 / (10.0 * 0.2))


def test_dask_lbfgs_keeps_constraints():
    da = pytest.importorskip("dask.array")
    X, y = iris()
    kw = dict(lower_bounds=0.0, penalty_factor=np.array([0.0, 1.0, 2.0, 1.0]), tol=1e-8)
    mem = SoftmaxClassifier(**kw).fit(X, y)
    dsk = SoftmaxClassifier(**kw).fit(da.from_array(X, chunks=50), da.from_array(y, chunks=50))
    _assert_within(dsk.coef_, 0.0, None)
    # feature 0 is unpenalised: its weights are unique only up to a shift common to the
    # classes, which the two paths (in memory: scaled L-BFGS; dask: unscaled) may leave
    # at different points; the model (its probabilities) is unique
    np.testing.assert_allclose(dsk.predict_proba(X), mem.predict_proba(X), atol=1e-6)
    np.testing.assert_allclose(dsk.coef_[:, 1:], mem.coef_[:, 1:], atol=1e-6)


# -- errors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        (dict(lower_bounds=1.0, upper_bounds=0.0), r"class row 0, feature 0"),
        (
            dict(lower_bounds=[0.0, 0.0, 2.0, 0.0], upper_bounds=1.0),
            r"feature 2: lower_bounds = 2.0 > upper_bounds = 1.0",
        ),
        (dict(lower_bounds=[0.0, np.nan, 0.0, 0.0]), r"lower_bounds\[0, 1\] is NaN"),
        (dict(upper_bounds=np.full((2, 4), 1.0)), r"upper_bounds must be .* shape \(2, 4\)"),
        (dict(lower_bounds=np.zeros(3)), r"lower_bounds must be .* got shape \(3,\)"),
        (dict(penalty_factor=[1.0, -1.0, 1.0, 1.0]), r"penalty_factor\[1\] = -1.0"),
        (dict(penalty_factor=[1.0, 1.0, np.inf, 1.0]), r"penalty_factor\[2\] = inf"),
        (dict(penalty_factor=np.ones(5)), r"penalty_factor must have shape \(n_features,\)"),
        (dict(penalty_factor=2.0), r"'penalty_factor' parameter"),
    ],
)
@pytest.mark.parametrize("estimator", [SoftmaxClassifier, SoftmaxClassifierCV])
def test_bad_constraints_raise(estimator, params, match):
    X, y = iris()
    with pytest.raises(ValueError, match=match):
        estimator(**params).fit(X, y)


def test_binary_bound_shapes():
    X, y = iris(binary=True)
    for lower in (np.zeros(4), np.zeros((1, 4))):
        clf = SoftmaxClassifier(lower_bounds=lower).fit(X, y)
        assert np.all(clf.coef_ >= 0.0)
    with pytest.raises(ValueError, match=r"\(1, n_features\) = \(1, 4\)"):
        SoftmaxClassifier(lower_bounds=np.zeros((2, 4))).fit(X, y)


def test_infinite_bounds_are_no_constraint():
    assert make_box(-np.inf, np.inf, 3, 4) is None
    assert check_penalty_factor(np.ones(4), 4) is None


@pytest.mark.parametrize(
    "sparse, bounds, factor, path",
    [
        (True, "box", None, "_sparse_steps"),
        (True, "nonneg", None, "_sparse_steps"),
        (True, "excludes_zero", None, "_numpy_steps"),
        (True, "box", "factor", "_numpy_steps"),
        (False, "box", None, "_dense_steps"),
        (False, "excludes_zero", None, "_dense_steps"),
        (False, "box", "factor", "_numpy_steps"),
    ],
)
@pytest.mark.parametrize("small", [False, True])
def test_sgd_steps_where_they_are_exact(sparse, bounds, factor, path, small, monkeypatch):
    """Without factors, dense SGD clips into the box inside its kernel and CSR SGD keeps
    its lazy steps for a box that contains zero (only the batch's features can leave
    it); factors, or a box that excludes zero on CSR data, take the eager steps, as
    does every small problem (NumPy steps, no numba).  Every path keeps the box."""
    from sk_softmax._solvers import _sgd

    # 9000 rows: past SMALL_MAX_WORK (CSR: nnz * K) for the kernels' paths
    X, y = text_like(n=200 if small else 9000)
    if not sparse:
        X = X.toarray()
    assert SoftmaxLoss(X, y, 3).small == small
    if small:
        path = "_numpy_steps"
    lower, upper = _bounds(bounds, 3, X.shape[1])
    taken = []
    for name in ("_sparse_steps", "_numpy_steps", "_dense_steps"):
        original = getattr(_sgd, name)

        def spy(*a, _name=name, _original=original):
            taken.append(_name)
            return _original(*a)

        monkeypatch.setattr(_sgd, name, spy)
    clf = SoftmaxClassifier(
        solver="sgd",
        max_iter=5,
        tol=None,
        random_state=0,
        average=True,
        lower_bounds=lower,
        upper_bounds=upper,
        penalty_factor=_factor(factor, X.shape[1]),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y)
    assert set(taken) == {path}
    _assert_within(clf.coef_, lower, upper)
    _assert_within(clf._sgd_state.W, lower, upper)


def test_lbfgs_float32_stage_keeps_the_box():
    """Dense float64 data large enough for the kernels: the solve runs its float32 stage
    under the same bounds, then meets tol in float64 at the reference's objective."""
    from sklearn.datasets import load_digits

    from sk_softmax._precision import precision_stages
    from sk_softmax._solvers import minimize_full_batch

    X, y = load_digits(return_X_y=True)
    X, y = X[:330] / 16.0, y[:330]  # 330 * 64 * 10 multiply-adds: the kernels' path
    d = X.shape[1]
    lower, upper = -0.2, np.full(d, 0.3)
    f = np.linspace(0.5, 2.0, d)
    C = 1.0
    loss = SoftmaxLoss(X, y, 10, C=C, penalty_factor=f, box=make_box(lower, upper, 10, d))
    stages = precision_stages(loss)
    assert stages.float32 is not None and not loss.small
    coef, _, result = minimize_full_batch(stages, loss.layout.start(), max_iter=3000, tol=1e-8)
    assert result.float32_nit > 0
    W, b = loss.layout.weight_intercept(coef)
    _assert_within(W, lower, upper)
    _, _, best = ref.constrained_minimize(X, y, 10, C, 0.0, f, lower, upper)
    assert abs(ref.constrained_objective(X, y, W, b, C, 0.0, f) - best) <= OBJECTIVE_TOL
    assert ref.projected_kkt(X, y, W, b, C, 0.0, f, lower, upper) <= 1e-6


def test_csr_sgd_l1_flush_keeps_bounds_exactly():
    """The end-of-epoch flush of the cumulative L1 penalty can round a weight one ulp
    past a bound (``u - Q`` a hair below 0); the epoch's last projection catches it."""
    X, y = text_like()
    d = X.shape[1]
    sw = np.random.default_rng(0).uniform(0.5, 2, X.shape[0])
    lower = np.full(d, -0.3)
    clf = SoftmaxClassifier(
        solver="sgd",
        l1_ratio=0.5,
        lower_bounds=lower,
        upper_bounds=0.4,
        max_iter=30,
        random_state=0,
        class_weight={0: 1.0, 1: 2.0},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, y, sample_weight=sw)
    _assert_within(clf.coef_, lower, 0.4)
    assert np.any(clf.coef_ == -0.3)
