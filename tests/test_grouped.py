"""Grouped L1 penalties (issue 28): ``l1_groups="features"`` and user-given groups.

The solver's solution is checked against the reference minimiser of the grouped
objective on the NumPy oracle (FISTA with restarts, ``reference.group_minimize``) to 1e-7
in objective with the same zero groups, against the per-group KKT conditions, dense
against CSR, the binary one-feature groups against element-wise L1, the critical C, CV,
the penalty object's pieces and every error path."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV
from sk_softmax._loss import SoftmaxLoss
from sk_softmax._penalty import GroupElasticNet, check_l1_groups, make_box

from . import reference as ref

OBJECTIVE_TOL = 1e-7
TIGHT = {"tol": 1e-9, "max_iter": 3000}


def data(n=90, d=7, n_classes=3, seed=0):
    """Gaussian features, two informative (0 and 2), the rest noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = rng.standard_normal((n, d))
    X[:, 0] += 1.2 * y
    X[:, 2] -= 0.8 * (y == 1)
    return X, y


def as_groups(l1_groups, d):
    return check_l1_groups(l1_groups, d)


def fit(X, y, C, r, l1_groups, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        params = {**TIGHT, **kw}
        return SoftmaxClassifier(C=C, l1_ratio=r, l1_groups=l1_groups, **params).fit(X, y)


UNEQUAL = np.array([3, 3, 0, 0, 0, 7, 1])  # groups of 2, 3, 1 and 1 features


@pytest.mark.parametrize("l1_groups", ["features", UNEQUAL])
@pytest.mark.parametrize("r", [1.0, 0.5])
@pytest.mark.parametrize("times", [2.0, 8.0, 60.0])
def test_matches_reference(l1_groups, r, times):
    X, y = data()
    groups = as_groups(l1_groups, X.shape[1])
    C = times * ref.group_critical_C(X, y, r, groups)
    model = fit(X, y, C, r, l1_groups)
    W, b = ref.group_minimize(X, y, C, r, groups)
    ours = ref.group_objective(X, y, model.coef_, model.intercept_, C, r, groups)
    theirs = ref.group_objective(X, y, W, b, C, r, groups)
    assert ours <= theirs + OBJECTIVE_TOL
    assert abs(ours - theirs) <= OBJECTIVE_TOL
    zero_ours = ref.group_norms(model.coef_, groups) == 0.0
    zero_ref = ref.group_norms(W, groups) < 1e-12
    np.testing.assert_array_equal(zero_ours, zero_ref)
    # whole groups are zero: every weight of a zero group, for every class
    assert np.all(model.coef_[:, zero_ours[groups]] == 0.0)


@pytest.mark.parametrize("l1_groups", ["features", UNEQUAL])
def test_kkt_per_group(l1_groups):
    X, y = data(seed=1)
    groups = as_groups(l1_groups, X.shape[1])
    C = 5.0 * ref.group_critical_C(X, y, 0.7, groups)
    model = fit(X, y, C, 0.7, l1_groups, tol=1e-7)
    zero_excess, nonzero, intercept = ref.group_kkt(
        X, y, model.coef_, model.intercept_, C, 0.7, groups
    )
    assert zero_excess <= 0.0
    assert nonzero <= 1e-7 * 1.01
    assert intercept <= 1e-7 * 1.01
    assert 0 < np.count_nonzero(ref.group_norms(model.coef_, groups)) < groups.max() + 1


def test_dense_equals_csr():
    X, y = data(seed=2)
    X = np.abs(X) * (np.random.default_rng(3).random(X.shape) < 0.5)
    groups = as_groups(UNEQUAL, X.shape[1])
    C = 10.0 * ref.group_critical_C(X, y, 1.0, groups)
    dense = fit(X, y, C, 1.0, UNEQUAL)
    csr = fit(sp.csr_matrix(X), y, C, 1.0, UNEQUAL)
    np.testing.assert_allclose(csr.coef_, dense.coef_, atol=1e-6)
    np.testing.assert_array_equal(csr.coef_ == 0.0, dense.coef_ == 0.0)
    f_dense = ref.group_objective(X, y, dense.coef_, dense.intercept_, C, 1.0, groups)
    f_csr = ref.group_objective(X, y, csr.coef_, csr.intercept_, C, 1.0, groups)
    assert abs(f_dense - f_csr) <= OBJECTIVE_TOL


def test_binary_one_feature_groups_equal_elementwise_l1():
    X, y = data(n_classes=2, seed=4)
    C = 10.0 * ref.critical_C(X, y, 1.0)
    grouped = fit(X, y, C, 1.0, "features")
    plain = fit(X, y, C, 1.0, None)
    f_g = ref.elastic_net_objective(X, y, grouped.coef_, grouped.intercept_, C, 1.0, binary=True)
    f_p = ref.elastic_net_objective(X, y, plain.coef_, plain.intercept_, C, 1.0, binary=True)
    assert abs(f_g - f_p) <= OBJECTIVE_TOL
    np.testing.assert_array_equal(grouped.coef_ == 0.0, plain.coef_ == 0.0)
    assert grouped.coef_.shape == (1, X.shape[1])


def test_binary_user_groups_match_reference():
    X, y = data(n_classes=2, seed=5)
    groups = as_groups(UNEQUAL, X.shape[1])
    C = 6.0 * ref.group_critical_C(X, y, 1.0, groups)
    model = fit(X, y, C, 1.0, UNEQUAL)
    W, b = ref.group_minimize(X, y, C, 1.0, groups)
    ours = ref.group_objective(X, y, model.coef_, model.intercept_, C, 1.0, groups, binary=True)
    theirs = ref.group_objective(X, y, W, b, C, 1.0, groups, binary=True)
    assert abs(ours - theirs) <= OBJECTIVE_TOL


def test_penalty_factor_constant_within_groups():
    X, y = data(seed=6)
    factor = np.array([0.5, 0.5, 2.0, 2.0, 2.0, 0.0, 1.0])
    groups = as_groups(UNEQUAL, X.shape[1])
    C = 8.0 * ref.group_critical_C(X, y, 0.8, groups)  # with the factor 0 it is 0
    model = fit(X, y, C, 0.8, UNEQUAL, penalty_factor=factor)
    W, b = ref.group_minimize(X, y, C, 0.8, groups, factor)
    ours = ref.group_objective(X, y, model.coef_, model.intercept_, C, 0.8, groups, factor)
    theirs = ref.group_objective(X, y, W, b, C, 0.8, groups, factor)
    assert abs(ours - theirs) <= OBJECTIVE_TOL
    assert np.all(model.coef_[:, 5] != 0.0)  # factor 0: never dropped


@pytest.mark.parametrize("l1_groups", ["features", UNEQUAL])
def test_critical_C(l1_groups):
    X, y = data(seed=7)
    groups = as_groups(l1_groups, X.shape[1])
    loss = SoftmaxLoss(X, y, 3, C=1.0, l1_ratio=0.6, l1_groups=groups)
    C0 = loss.penalty.critical_C(loss.gradient_at_zero_weights())
    np.testing.assert_allclose(C0, ref.group_critical_C(X, y, 0.6, groups), rtol=1e-12)
    assert np.all(fit(X, y, 0.99 * C0, 0.6, l1_groups).coef_ == 0.0)
    assert np.any(fit(X, y, 1.5 * C0, 0.6, l1_groups).coef_ != 0.0)


def test_l1_ratio_zero_is_the_l2_model():
    X, y = data(seed=8)
    grouped = SoftmaxClassifier(C=0.3, l1_groups="features").fit(X, y)
    plain = SoftmaxClassifier(C=0.3).fit(X, y)
    np.testing.assert_allclose(grouped.coef_, plain.coef_, rtol=1e-12, atol=1e-14)


def test_cv_path_zero_groups_and_refit():
    X, y = data(n=120, seed=9)
    groups = as_groups(UNEQUAL, X.shape[1])
    C0 = ref.group_critical_C(X, y, 1.0, groups)
    Cs = C0 * np.array([0.5, 3.0, 30.0])
    cv = SoftmaxClassifierCV(Cs=Cs, l1_ratios=[1.0], l1_groups=UNEQUAL, cv=3, tol=1e-8).fit(X, y)
    paths = cv.coefs_paths_[..., : X.shape[1]]  # (folds, l1, Cs, K, d)
    assert np.all(paths[:, :, 0] == 0.0)
    for g in range(groups.max() + 1):  # a group is zero for every class, or for none
        block = paths[..., groups == g] == 0.0
        assert np.all(block.all(axis=(-2, -1)) == block.any(axis=(-2, -1)))
    single = fit(X, y, cv.C_, 1.0, UNEQUAL, tol=1e-8)
    f_cv = ref.group_objective(X, y, cv.coef_, cv.intercept_, cv.C_, 1.0, groups)
    f_single = ref.group_objective(X, y, single.coef_, single.intercept_, cv.C_, 1.0, groups)
    assert abs(f_cv - f_single) <= 1e-6


def test_penalty_object_prox_and_subgradient():
    rng = np.random.default_rng(10)
    groups = as_groups(UNEQUAL, 7)
    pen = GroupElasticNet(2.0, 0.6, 10.0, groups)
    W = rng.standard_normal((3, 7))
    W[:, groups == 1] = 0.0
    step = 0.7
    out = pen.prox(W, step)
    # the prox is the minimiser of ||V - W||^2 / 2 + step * penalty(V): check against
    # its optimality condition, group by group
    w = ref.group_weights(groups)
    for g in range(w.shape[0]):
        cols = groups == g
        Vg, Wg = out[:, cols], W[:, cols]
        norm = np.linalg.norm(Vg)
        if norm == 0.0:
            assert np.linalg.norm(Wg) <= step * pen.l1 * w[g] + 1e-15
        else:
            res = Vg - Wg + step * (pen.l2 * Vg + pen.l1 * w[g] * Vg / norm)
            np.testing.assert_allclose(res, 0.0, atol=1e-14)
    np.testing.assert_allclose(
        pen.value(W),
        0.5 * pen.l2 * np.sum(W * W) + pen.l1 * w @ ref.group_norms(W, groups),
        rtol=1e-14,
    )
    # least-norm subgradient at a zero group inside the ball is zero, outside it the
    # gradient shrunk towards 0 by the radius
    mask = np.ones(21, dtype=bool)
    G = np.zeros((3, 7))
    G[:, groups == 1] = 1.0
    sub = pen.min_norm_subgradient(W.ravel(), G.ravel(), mask).reshape(3, 7)
    radius = pen.l1 * w[1]
    expect = max(0.0, 1.0 - radius / np.sqrt(3.0))
    np.testing.assert_allclose(sub[:, groups == 1], expect, rtol=1e-14)


def test_sparsify_and_predict_unchanged():
    X, y = data(seed=11)
    groups = as_groups("features", X.shape[1])
    model = fit(X, y, 5.0 * ref.group_critical_C(X, y, 1.0, groups), 1.0, "features")
    proba = model.predict_proba(X)
    model.sparsify()
    assert sp.issparse(model.coef_)
    np.testing.assert_allclose(model.predict_proba(X), proba, rtol=1e-12)


@pytest.mark.parametrize(
    "l1_groups, match",
    [
        (np.zeros(3, dtype=int), r"shape \(n_features,\) = \(7,\)"),
        (np.zeros((7, 1), dtype=int), r"shape \(n_features,\) = \(7,\)"),
        (np.array([0, 1, -1, 0, 0, 0, 0]), r"non-negative.*l1_groups\[2\] = -1"),
        (np.array([0, 1, 1.5, 0, 0, 0, 0]), r"integer group labels.*l1_groups\[2\]"),
        (np.array([0, 1, np.nan, 0, 0, 0, 0]), r"integer group labels.*l1_groups\[2\]"),
        ("columns", r"l1_groups"),
    ],
)
def test_bad_groups(l1_groups, match):
    X, y = data()
    with pytest.raises(ValueError, match=match):
        SoftmaxClassifier(C=1.0, l1_ratio=1.0, l1_groups=l1_groups).fit(X, y)


def test_float_integer_labels_accepted():
    X, y = data()
    a = SoftmaxClassifier(C=0.5, l1_ratio=1.0, l1_groups=UNEQUAL.astype(float)).fit(X, y)
    b = SoftmaxClassifier(C=0.5, l1_ratio=1.0, l1_groups=UNEQUAL).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)


def test_check_l1_groups_renumbers():
    groups = check_l1_groups(np.array([10, 10, 3, 7]), 4)
    np.testing.assert_array_equal(groups, [2, 2, 0, 1])


def test_factor_varying_within_group_is_an_error():
    X, y = data()
    factor = np.array([1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0])  # features 0, 1 share group 3
    with pytest.raises(ValueError, match="same for every feature of a group"):
        SoftmaxClassifier(l1_ratio=1.0, l1_groups=UNEQUAL, penalty_factor=factor).fit(X, y)


def test_bounds_with_groups_is_an_error():
    X, y = data()
    with pytest.raises(ValueError, match="cannot be combined with lower_bounds"):
        SoftmaxClassifier(l1_ratio=1.0, l1_groups="features", lower_bounds=0.0).fit(X, y)
    assert make_box(0.0, None, 3, 7) is not None


def test_sgd_and_partial_fit_are_errors():
    X, y = data()
    with pytest.raises(ValueError, match="only supported by solver='lbfgs'"):
        SoftmaxClassifier(solver="sgd", l1_ratio=1.0, l1_groups="features").fit(X, y)
    with pytest.raises(ValueError, match="only supported by solver='lbfgs'"):
        SoftmaxClassifier(solver="sgd", l1_ratio=1.0, l1_groups="features").partial_fit(
            X, y, classes=[0, 1, 2]
        )


def test_dask_is_an_error():
    da = pytest.importorskip("dask.array")
    X, y = data()
    with pytest.raises(ValueError, match="not supported on dask input"):
        SoftmaxClassifier(l1_ratio=1.0, l1_groups="features").fit(da.from_array(X, chunks=30), y)


def test_grouped_model_exports_to_onnx_and_persists(tmp_path):
    """ONNX export and skops persistence see a grouped model like any other (its
    ``l1_groups`` array parameter included)."""
    skl2onnx = pytest.importorskip("skl2onnx", reason="the onnx extra is not installed")
    ort = pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    skops_io = pytest.importorskip("skops.io", reason="the onnx extra is not installed")
    import sk_softmax.onnx  # noqa: F401  (registers the converter)

    X, y = data(seed=12)
    model = SoftmaxClassifier(C=0.3, l1_ratio=1.0, l1_groups=UNEQUAL).fit(X, y)
    X32 = X.astype(np.float32)
    onx = skl2onnx.to_onnx(model, X32[:1], options={SoftmaxClassifier: {"zipmap": False}})
    sess = ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = sess.run(None, {sess.get_inputs()[0].name: X32})
    np.testing.assert_allclose(proba, model.predict_proba(X32), atol=1e-5)
    path = tmp_path / "grouped.skops"
    skops_io.dump(model, path)
    untrusted = skops_io.get_untrusted_types(file=path)
    assert all(t.startswith("sk_softmax.") for t in untrusted), untrusted
    loaded = skops_io.load(path, trusted=untrusted)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(loaded.get_params()["l1_groups"], UNEQUAL)
