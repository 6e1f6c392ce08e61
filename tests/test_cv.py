"""SoftmaxClassifierCV: the same search as LogisticRegressionCV, warm-started paths,
weights, routing, input kinds."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import GroupKFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV
from sk_softmax._cv import _path
from sk_softmax._loss import SoftmaxLoss


def digits():
    X, y = load_digits(return_X_y=True)
    return X / 16.0, y


def wine():
    X, y = load_wine(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("load", [digits, wine])
def test_same_search_as_logistic_regression_cv(load):
    X, y = load()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = SoftmaxClassifierCV(Cs=8, cv=cv, max_iter=2000, tol=1e-6).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = LogisticRegressionCV(
            Cs=8,
            cv=cv,
            max_iter=2000,
            tol=1e-6,
            l1_ratios=(0.0,),
            scoring="accuracy",
            use_legacy_attributes=False,
        ).fit(X, y)
    np.testing.assert_allclose(ours.Cs_, theirs.Cs_)
    assert ours.scores_.shape == theirs.scores_.shape == (5, 1, 8)
    assert ours.coefs_paths_.shape == theirs.coefs_paths_.shape
    assert ours.n_iter_.shape == theirs.n_iter_.shape
    ours_mean, theirs_mean = ours.scores_.mean(axis=0), theirs.scores_.mean(axis=0)
    np.testing.assert_allclose(ours_mean[:, :-1], theirs_mean[:, :-1], atol=0.01)
    # at the weakest penalty (C = 1e4; standardised wine is separable, l2 ~ 7e-7) a
    # gradient of tol=1e-6 leaves the weights ~1 apart between two solvers' paths, at
    # objectives within 1%: a sample of a fold may flip (measured: 2 of 178)
    np.testing.assert_allclose(ours_mean[:, -1], theirs_mean[:, -1], atol=0.025)
    mean = theirs.scores_.mean(axis=0)[0]
    top = np.sort(mean)[-2:]
    if top[1] - top[0] > 0.005:  # not tied: the same choice
        assert ours.C_ == theirs.C_
    assert isinstance(ours.C_, float) and ours.l1_ratio_ == 0.0
    # the refit model is SoftmaxClassifier's at C_ (to the solver's tolerance: the
    # same objective; digits' weights are ill-determined, so coefficients differ more)
    single = SoftmaxClassifier(C=ours.C_, max_iter=2000, tol=1e-6).fit(X, y)
    # both meet tol=1e-6 from different starts (the folds' mean, zero): objectives within
    # what that allows (measured up to 1.7e-7 relative across BLAS kernels)
    loss = SoftmaxLoss(X, np.searchsorted(ours.classes_, y), len(ours.classes_), C=ours.C_)
    f_cv = loss.loss(loss.pack(ours.coef_, ours.intercept_))
    f_single = loss.loss(loss.pack(single.coef_, single.intercept_))
    assert abs(f_cv - f_single) <= 1e-5 * f_single
    assert np.mean(ours.predict(X) == single.predict(X)) > 0.998


def test_warm_started_path_needs_fewer_iterations_than_independent_fits():
    X, y = digits()
    Cs = np.logspace(-2, 2, 8)
    _, n_iter = _path(
        X,
        y.astype(np.intp),
        10,
        None,
        Cs,
        0.0,
        fit_intercept=True,
        max_iter=1000,
        tol=1e-5,
        verbose=0,
        n_threads=1,
    )
    cold = [SoftmaxClassifier(C=C, max_iter=1000, tol=1e-5).fit(X, y).n_iter_[0] for C in Cs]
    assert n_iter[0] == cold[0]  # the first fit starts from zero either way
    assert n_iter.sum() < 0.8 * sum(cold)


def test_path_makes_the_folds_second_moment_once(monkeypatch):
    """The fits of a path share one loss's data sums (with_penalty): the Kronecker
    estimate's second moment is made once per fold, not once per C."""
    from sk_softmax import _loss

    calls = []
    original = _loss.second_moment
    monkeypatch.setattr(_loss, "second_moment", lambda *a: calls.append(1) or original(*a))
    X, y = digits()
    _path(X, y.astype(np.intp), 10, None, [0.1, 1.0, 10.0], 0.0, fit_intercept=True,
          max_iter=100, tol=1e-4, verbose=0, n_threads=1)  # fmt: skip
    assert len(calls) == 1


def test_path_order_does_not_depend_on_the_order_of_cs():
    X, y = load_iris(return_X_y=True)
    Cs = [10.0, 0.01, 1.0]
    a = SoftmaxClassifierCV(Cs=Cs, cv=3, max_iter=1000).fit(X, y)
    b = SoftmaxClassifierCV(Cs=sorted(Cs), cv=3, max_iter=1000).fit(X, y)
    np.testing.assert_array_equal(a.Cs_, Cs)
    np.testing.assert_array_equal(a.scores_[..., [1, 2, 0]], b.scores_)
    np.testing.assert_array_equal(a.coefs_paths_[:, :, [1, 2, 0]], b.coefs_paths_)


def test_elastic_net_grid():
    X, y = digits()
    clf = SoftmaxClassifierCV(
        Cs=[0.01, 0.1, 1.0], l1_ratios=[0.0, 0.5, 1.0], cv=3, max_iter=500
    ).fit(X, y)
    assert clf.scores_.shape == (3, 3, 3)
    assert clf.coefs_paths_.shape == (3, 3, 3, 10, 65)
    assert clf.l1_ratio_ in (0.0, 0.5, 1.0)
    # the L1 fits are sparse, the L2 ones are not
    paths = clf.coefs_paths_[..., :64]
    assert np.mean(paths[:, 2, 0] == 0) > 0.5
    assert np.mean(paths[:, 0, 0] == 0) < 0.2
    best = np.unravel_index(np.argmax(clf.scores_.sum(0).T), (3, 3))
    assert (clf.C_, clf.l1_ratio_) == ([0.01, 0.1, 1.0][best[0]], [0.0, 0.5, 1.0][best[1]])


@pytest.mark.parametrize("bad", [[-0.5], [1.5], [], [np.nan]])
def test_bad_l1_ratios(bad):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="l1_ratios"):
        SoftmaxClassifierCV(l1_ratios=bad).fit(X, y)


def test_bad_cs():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="Cs"):
        SoftmaxClassifierCV(Cs=[1.0, -1.0]).fit(X, y)


def test_refit_false_averages_the_folds():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxClassifierCV(Cs=4, cv=3, refit=False, max_iter=1000).fit(X, y)
    best = np.argmax(clf.scores_[:, 0], axis=1)
    expected = np.mean([clf.coefs_paths_[f, 0, best[f]] for f in range(3)], axis=0)
    np.testing.assert_allclose(clf.coef_, expected[:, :4])
    np.testing.assert_allclose(clf.intercept_, expected[:, 4])
    assert clf.C_ == pytest.approx(np.mean(clf.Cs_[best]))


def test_binary_shapes():
    X, y = load_iris(return_X_y=True)
    X, y = X[y > 0], y[y > 0]
    clf = SoftmaxClassifierCV(Cs=3, cv=3, max_iter=1000).fit(X, y)
    assert clf.coefs_paths_.shape == (3, 1, 3, 1, 5)
    assert clf.coef_.shape == (1, 4) and clf.intercept_.shape == (1,)
    assert clf.decision_function(X).shape == (X.shape[0],)
    assert clf.predict_proba(X).shape == (X.shape[0], 2)


def test_sample_weight_is_used_by_fits_and_scorer():
    X, y = load_iris(return_X_y=True)
    rng = np.random.default_rng(0)
    sw = rng.integers(1, 4, X.shape[0]).astype(float)
    a = SoftmaxClassifierCV(Cs=3, cv=3, max_iter=1000).fit(X, y, sample_weight=sw)
    b = SoftmaxClassifierCV(Cs=3, cv=3, max_iter=1000).fit(X, y)
    assert not np.allclose(a.coefs_paths_, b.coefs_paths_)
    # the fold fits are SoftmaxClassifier fits with the fold's weights
    folds = list(StratifiedKFold(3).split(X, y))
    train, test = folds[0]
    single = SoftmaxClassifier(C=a.Cs_[0], max_iter=1000).fit(
        X[train], y[train], sample_weight=sw[train]
    )
    np.testing.assert_allclose(a.coefs_paths_[0, 0, 0, :, :4], single.coef_, atol=1e-6)
    # and the scorer saw the weights
    model = SoftmaxClassifier(max_iter=1000)
    model.classes_, model.n_features_in_ = a.classes_, 4
    model.coef_ = a.coefs_paths_[0, 0, 0, :, :4]
    model.intercept_ = a.coefs_paths_[0, 0, 0, :, 4]
    assert a.scores_[0, 0, 0] == pytest.approx(model.score(X[test], y[test], sw[test]))


def test_class_weight_balanced_is_computed_on_all_of_y():
    X, y = load_iris(return_X_y=True)
    keep = np.r_[0:50, 50:70, 100:150]
    X, y = X[keep], y[keep]
    clf = SoftmaxClassifierCV(Cs=[1.0], cv=3, class_weight="balanced", max_iter=1000)
    clf.fit(X, y)
    counts = np.bincount(y)
    sw = (len(y) / (3 * counts))[y]
    ref = SoftmaxClassifierCV(Cs=[1.0], cv=3, max_iter=1000).fit(X, y, sample_weight=sw)
    np.testing.assert_allclose(clf.coefs_paths_, ref.coefs_paths_)


def test_metadata_routing_groups_and_scorer_weights():
    X, y = digits()
    groups = np.arange(X.shape[0]) % 7
    sw = np.random.default_rng(0).uniform(0.5, 2, X.shape[0])
    with sklearn.config_context(enable_metadata_routing=True):
        from sklearn.metrics import get_scorer

        scorer = get_scorer("accuracy").set_score_request(sample_weight=True)
        clf = SoftmaxClassifierCV(Cs=3, cv=GroupKFold(3), scoring=scorer)
        clf.fit(X, y, groups=groups, sample_weight=sw)
        # the folds are the group folds
        folds = list(GroupKFold(3).split(X, y, groups))
        train, test = folds[1]
        assert len(np.intersect1d(groups[train], groups[test])) == 0
        # the first C of a path starts from zero, as a single fit does
        single = SoftmaxClassifier(C=clf.Cs_[0]).fit(X[train], y[train], sample_weight=sw[train])
        np.testing.assert_allclose(
            clf.coefs_paths_[1, 0, 0, :, :64], single.coef_, rtol=1e-10, atol=1e-14
        )
        assert clf.score(X, y, sample_weight=sw) == pytest.approx(
            np.average(clf.predict(X) == y, weights=sw)
        )
    # without routing, groups is an error naming it
    with pytest.raises(ValueError, match="groups"):
        SoftmaxClassifierCV(Cs=2).fit(X, y, groups=groups)


def test_sparse_float32_and_pandas_input():
    import pandas as pd

    X, y = digits()
    dense = SoftmaxClassifierCV(Cs=[0.01, 0.1], cv=3, tol=1e-10, max_iter=2000).fit(X, y)
    csr = SoftmaxClassifierCV(Cs=[0.01, 0.1], cv=3, tol=1e-10, max_iter=2000)
    csr.fit(sp.csr_matrix(X), y)
    # Both end on L-BFGS-B's relative-decrease test with |grad| ~ 1e-8: the weights ~1e-6
    # apart on digits, the unpenalised, weakly curved intercepts up to ~2e-5 (how far
    # depends on the machine's BLAS kernels: 7e-6 with AVX-512's, 1.7e-5 with AVX2's)
    np.testing.assert_allclose(csr.coefs_paths_[..., :64], dense.coefs_paths_[..., :64], atol=1e-5)
    np.testing.assert_allclose(csr.coefs_paths_[..., 64], dense.coefs_paths_[..., 64], atol=1e-4)
    np.testing.assert_allclose(csr.scores_, dense.scores_)
    f32 = SoftmaxClassifierCV(Cs=3, cv=3).fit(X.astype(np.float32), y)
    assert f32.coef_.dtype == np.float32
    frame = pd.DataFrame(X, columns=[f"px{i}" for i in range(64)])
    named = SoftmaxClassifierCV(Cs=3, cv=3).fit(frame, y)
    assert list(named.feature_names_in_) == list(frame.columns)
    assert named.predict(frame).shape == (X.shape[0],)


def test_negative_log_loss_scoring():
    X, y = load_iris(return_X_y=True)
    clf = SoftmaxClassifierCV(Cs=4, cv=3, scoring="neg_log_loss", max_iter=1000).fit(X, y)
    assert np.all(clf.scores_ < 0)
    assert clf.score(X, y) < 0


def test_class_weight_with_a_key_that_is_not_a_class():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="not in class"):
        SoftmaxClassifierCV(Cs=2, cv=3, class_weight={7: 2.0}).fit(X, y)
