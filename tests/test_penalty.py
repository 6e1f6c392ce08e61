"""The penalty objects (sk_softmax/_penalty.py) and the coefficient layout
(sk_softmax/_layout.py), against the NumPy oracle and their definitions."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_iris

from sk_softmax import SoftmaxClassifier
from sk_softmax._layout import CoefLayout, fitted_attributes
from sk_softmax._loss import SoftmaxLoss
from sk_softmax._penalty import Box, ElasticNet, GroupElasticNet

from . import reference as ref


@pytest.mark.parametrize("l1_ratio", [0.0, 0.3, 1.0])
def test_strengths_are_logistic_regressions_scaling(l1_ratio):
    pen = ElasticNet(C=0.5, l1_ratio=l1_ratio, weight_sum=40.0)
    assert pen.l2 == pytest.approx((1 - l1_ratio) / (0.5 * 40.0), rel=1e-15)
    assert pen.l1 == pytest.approx(l1_ratio / (0.5 * 40.0), rel=1e-15)
    assert pen.has_l1 == (l1_ratio > 0)
    assert tuple(pen.scalars()) == (pen.l2, pen.l1)
    none = ElasticNet(C=np.inf, l1_ratio=l1_ratio, weight_sum=40.0)
    assert (none.l2, none.l1) == (0.0, 0.0)
    assert pen.with_weight_sum(80.0).l2 == pytest.approx(pen.l2 / 2, rel=1e-15)
    # another C, all else kept (a path of C), bit for bit the penalty made at that C
    box = Box(np.full((1, 1), -1.0), np.full((1, 1), 1.0))
    pen = ElasticNet(C=0.5, l1_ratio=l1_ratio, weight_sum=40.0, factor=np.ones(3), box=box)
    other = pen.with_C(2.0)
    made = ElasticNet(C=2.0, l1_ratio=l1_ratio, weight_sum=40.0)
    assert (other.l2, other.l1, other.C) == (made.l2, made.l1, 2.0)
    assert other.factor is pen.factor and other.box is pen.box
    groups = GroupElasticNet(0.5, l1_ratio, 40.0, np.array([0, 0, 1])).with_C(2.0)
    assert isinstance(groups, GroupElasticNet) and (groups.l2, groups.l1) == (made.l2, made.l1)


def test_value_and_smooth_gradient(rng):
    W = rng.standard_normal((3, 5))
    pen = ElasticNet(C=0.2, l1_ratio=0.4, weight_sum=10.0)
    expected = 0.5 * pen.l2 * np.sum(W**2) + pen.l1 * np.abs(W).sum()
    assert pen.value(W) == pytest.approx(expected, rel=1e-14)
    assert pen.add_smooth(1.5, W) == pytest.approx(1.5 + 0.5 * pen.l2 * np.sum(W**2), rel=1e-14)
    assert pen.l1_value(W) == pytest.approx(pen.l1 * np.abs(W).sum(), rel=1e-14)
    grad = np.ones_like(W)
    pen.add_smooth_gradient(grad, W)
    np.testing.assert_allclose(grad, 1.0 + pen.l2 * W, rtol=1e-15)


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
def test_prox_is_the_oracles_and_minimises_its_problem(rng, l1_ratio):
    W = rng.standard_normal((4, 6))
    pen = ElasticNet(C=0.1, l1_ratio=l1_ratio, weight_sum=3.0)
    step = 0.7
    out = pen.prox(W, step)
    np.testing.assert_allclose(out, ref.prox_elastic_net(W, step, pen.l1, pen.l2), rtol=1e-14)
    if l1_ratio > 0:
        assert np.any(out == 0.0)

    # and it minimises (v - w)^2 / 2 + step * penalty(v), checked on a grid around it
    def h(v, w):
        return (v - w) ** 2 / 2 + step * (pen.l1 * abs(v) + pen.l2 * v * v / 2)

    for v, w in zip(out.ravel(), W.ravel()):
        grid = v + np.linspace(-1e-3, 1e-3, 21)
        assert h(v, w) <= min(h(g, w) for g in grid) + 1e-15


def test_min_norm_subgradient_is_zero_exactly_at_the_optimum():
    X, y = load_iris(return_X_y=True)
    # tol=1e-8: met by the subgradient test (not ended by the relative-decrease test)
    clf = SoftmaxClassifier(C=0.05, l1_ratio=1.0, tol=1e-8, max_iter=5000).fit(X, y)
    loss = SoftmaxLoss(X, y, 3, C=0.05, l1_ratio=1.0)
    coef = loss.pack(clf.coef_, clf.intercept_)
    pg = loss.min_norm_subgradient(coef, loss.loss_gradient(coef)[1])
    assert np.max(np.abs(pg)) <= 1e-8
    moved = coef.copy()
    moved[0] += 1e-3
    pg = loss.min_norm_subgradient(moved, loss.loss_gradient(moved)[1])
    assert np.max(np.abs(pg)) > 1e-6


def test_flush_cumulative_l1_is_the_kernels_rule(rng):
    from sk_softmax._kernels import cumulative_l1

    W = rng.standard_normal((3, 8))
    Q = rng.uniform(-0.2, 0.2, (3, 8))
    u = 0.4
    pen = ElasticNet(C=1.0, l1_ratio=1.0, weight_sum=1.0)
    W_flushed, Q_flushed = W.copy(), Q.copy()
    pen.flush_cumulative_l1(W_flushed, Q_flushed, u)
    for (k, j), w in np.ndenumerate(W):
        w_new, q_new = cumulative_l1(w, u, Q[k, j])
        assert (W_flushed[k, j], Q_flushed[k, j]) == (w_new, q_new)
    again_W, again_Q = W_flushed.copy(), Q_flushed.copy()
    pen.flush_cumulative_l1(again_W, again_Q, u)  # applying it twice: nothing more owed
    np.testing.assert_allclose(again_W, W_flushed, rtol=0, atol=1e-15)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_critical_C_is_the_oracles(rng, n_classes, fit_intercept, weighted, sparse):
    X, y = load_iris(return_X_y=True)
    y = y % n_classes
    sw = rng.uniform(0.5, 2.0, len(y)) if weighted else None
    Xin = sp.csr_matrix(X) if sparse else X
    loss = SoftmaxLoss(Xin, y, n_classes, sw, fit_intercept=fit_intercept, l1_ratio=0.7)
    C0 = loss.penalty.critical_C(loss.gradient_at_zero_weights())
    expected = ref.critical_C(X, y, 0.7, sw, fit_intercept)
    assert C0 == pytest.approx(expected, rel=1e-12)
    assert ElasticNet(1.0, 0.0, 10.0).critical_C(np.ones((2, 2))) == 0.0


@pytest.mark.parametrize("n_classes", [2, 3])
def test_critical_C_separates_the_empty_model_from_the_rest(n_classes):
    X, y = load_iris(return_X_y=True)
    y = y % n_classes
    loss = SoftmaxLoss(X, y, n_classes, l1_ratio=1.0)
    C0 = loss.penalty.critical_C(loss.gradient_at_zero_weights())
    below = SoftmaxClassifier(C=0.99 * C0, l1_ratio=1.0, tol=1e-8, max_iter=1000).fit(X, y)
    above = SoftmaxClassifier(C=1.2 * C0, l1_ratio=1.0, tol=1e-8, max_iter=1000).fit(X, y)
    assert np.all(below.coef_ == 0.0)
    assert np.any(above.coef_ != 0.0)


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_layout_round_trip_and_mask(rng, n_classes, fit_intercept):
    lay = CoefLayout(n_features=5, n_classes=n_classes, fit_intercept=fit_intercept)
    K = 1 if n_classes == 2 else n_classes
    assert (lay.K, lay.binary, lay.n_params) == (K, n_classes == 2, K * (5 + fit_intercept))
    W, b = rng.standard_normal((K, 5)), rng.standard_normal(K)
    coef = lay.pack(W, b)
    W2, b2 = lay.weight_intercept(coef)
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(b2, b if fit_intercept else 0.0)
    mask = lay.penalty_mask.reshape(lay.coef_shape)
    assert mask[:, :5].all() and (not fit_intercept or not mask[:, 5:].any())
    np.testing.assert_array_equal(lay.start(), np.zeros(lay.n_params))
    coef_, intercept_ = fitted_attributes(W, b, np.float32, fit_intercept)
    assert coef_.dtype == intercept_.dtype == np.float32 and coef_.flags.c_contiguous
    np.testing.assert_array_equal(intercept_, b.astype(np.float32) if fit_intercept else 0.0)
    with pytest.raises(ValueError, match="at least 2"):
        CoefLayout(3, 1, True)
