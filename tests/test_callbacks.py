"""scikit-learn 1.9 callbacks: hooks per task, per-iteration estimators, stopping."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.callback import ProgressBar
from sklearn.callback.tests._utils import RecordingCallback
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sk_softmax import SoftmaxClassifier


def data(n_classes=3):
    return make_classification(
        n_features=4, n_informative=4, n_redundant=0, n_classes=n_classes, random_state=0
    )


def records(cb, hook, task):
    return [r for r in cb.record if r["name"] == hook and task in r["context"].task_name]


@pytest.mark.parametrize("max_iter", [1, 2, 1000])
def test_lbfgs_hook_counts(max_iter):
    X, y = data()
    cb = RecordingCallback()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = SoftmaxClassifier(max_iter=max_iter).set_callbacks(cb).fit(X, y)
    assert cb.count_hooks("setup") == cb.count_hooks("teardown") == 1
    # the root task + one per iteration + the empty last one (as LogisticRegression)
    assert cb.count_hooks("on_fit_task_begin") == 1 + clf.n_iter_[0] + 1
    assert cb.count_hooks("on_fit_task_end") == 1 + clf.n_iter_[0] + 1


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_lbfgs_fitted_estimator_equals_fit_stopped_there(n_classes, fit_intercept):
    X, y = data(n_classes)
    cb = RecordingCallback()
    clf = SoftmaxClassifier(fit_intercept=fit_intercept).set_callbacks(cb).fit(X, y)
    n_iter = clf.n_iter_[0]
    begins = records(cb, "on_fit_task_begin", "iter")
    ends = records(cb, "on_fit_task_end", "iter")
    assert len(begins) == len(ends) == n_iter + 1
    for i, (begin, end) in enumerate(zip(begins, ends)):
        assert begin["context"].task_id == end["context"].task_id == i
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if i > 0:
                expected = SoftmaxClassifier(fit_intercept=fit_intercept, max_iter=i).fit(X, y)
                est = begin["kwargs"]["fitted_estimator"]
                assert_allclose(est.coef_, expected.coef_)
                assert_allclose(est.intercept_, expected.intercept_)
                np.testing.assert_array_equal(est.predict(X), expected.predict(X))
            if i < n_iter:
                expected = SoftmaxClassifier(fit_intercept=fit_intercept, max_iter=i + 1).fit(X, y)
                est = end["kwargs"]["fitted_estimator"]
                assert_allclose(est.coef_, expected.coef_)
                assert_allclose(est.predict_proba(X), expected.predict_proba(X))
            else:
                assert end["kwargs"]["fitted_estimator"] is None  # the empty last task


@pytest.mark.parametrize("n_classes", [2, 3])
def test_sgd_one_task_per_epoch_with_the_epochs_model(n_classes):
    X, y = data(n_classes)
    cb = RecordingCallback()
    kw = dict(solver="sgd", tol=None, max_iter=4, random_state=0)
    clf = SoftmaxClassifier(**kw).set_callbacks(cb).fit(X, y)
    ends = records(cb, "on_fit_task_end", "epoch")
    assert cb.count_hooks("on_fit_task_begin") == cb.count_hooks("on_fit_task_end") == 1 + 4
    for i, end in enumerate(ends):
        expected = SoftmaxClassifier(**{**kw, "max_iter": i + 1}).fit(X, y)
        est = end["kwargs"]["fitted_estimator"]
        np.testing.assert_array_equal(est.coef_, expected.coef_)
        np.testing.assert_array_equal(est.predict(X), expected.predict(X))
    np.testing.assert_array_equal(ends[-1]["kwargs"]["fitted_estimator"].coef_, clf.coef_)


def test_partial_fit_is_a_task_with_one_epoch():
    X, y = data()
    cb = RecordingCallback()
    clf = SoftmaxClassifier(solver="sgd", random_state=0).set_callbacks(cb)
    for _ in range(3):
        clf.partial_fit(X, y, classes=np.unique(y))
    assert cb.count_hooks("setup") == cb.count_hooks("teardown") == 3
    assert len(records(cb, "on_fit_task_begin", "partial_fit")) == 3
    assert len(records(cb, "on_fit_task_end", "epoch")) == 3


class StopAfter:
    """Asks to stop once subtask ``n`` has ended."""

    def __init__(self, n):
        self.n = n

    def setup(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        return context.task_name != "fit" and context.task_id >= self.n

    def teardown(self, estimator, context):
        pass


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_callback_can_stop_the_fit(solver):
    X, y = data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a requested stop is no failure
        clf = (
            SoftmaxClassifier(solver=solver, max_iter=100, tol=None if solver == "sgd" else 1e-12)
            .set_callbacks(StopAfter(2))
            .fit(X, y)
        )
    assert clf.n_iter_[0] == 3


def test_progress_bar_runs_on_both_solvers(capsys):
    pytest.importorskip("rich")
    X, y = data()
    for solver in ("lbfgs", "sgd"):
        clf = SoftmaxClassifier(
            solver=solver, max_iter=20, tol=None if solver == "sgd" else 1e-4, random_state=0
        )
        clf.set_callbacks(ProgressBar()).fit(X, y)
        assert clf.n_iter_[0] >= 1
    out = capsys.readouterr()
    assert "SoftmaxClassifier - fit" in out.out + out.err


class FailingLoss:
    """Makes the n-th loss evaluation (L-BFGS) raise."""

    def __init__(self, monkeypatch, n):
        from sk_softmax._loss import SoftmaxLoss

        real = SoftmaxLoss.loss_gradient
        self.calls = 0

        def loss_gradient(loss, coef, rows=None):
            self.calls += 1
            if self.calls == n:
                raise RuntimeError("evaluation failed")
            return real(loss, coef, rows)

        monkeypatch.setattr(SoftmaxLoss, "loss_gradient", loss_gradient)


def test_failed_fits_close_every_task(monkeypatch):
    """A fit that raises (L-BFGS mid-solve; SGD diverging for good; partial_fit on a
    diverging chunk) still ends every task it began, root included, and tears down."""
    X, y = data()
    cb = RecordingCallback()
    with monkeypatch.context() as m:
        FailingLoss(m, 5)
        with pytest.raises(RuntimeError, match="evaluation failed"):
            SoftmaxClassifier().set_callbacks(cb).fit(X, y)
    assert cb.count_hooks("on_fit_task_begin") >= 3  # the root and some iterations
    assert cb.count_hooks("on_fit_task_begin") == cb.count_hooks("on_fit_task_end")
    assert cb.count_hooks("setup") == cb.count_hooks("teardown") == 1

    huge = dict(solver="sgd", eta0=1e200, learning_rate="constant", tol=None, max_iter=3, C=np.inf)
    for method in ("fit", "partial_fit"):
        cb = RecordingCallback()
        est = SoftmaxClassifier(**huge).set_callbacks(cb)
        with pytest.raises(ValueError, match="diverged"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "fit":
                est.fit(X * 1e150, y)
            else:
                est.partial_fit(X * 1e150, y, classes=np.unique(y))
        assert cb.count_hooks("on_fit_task_begin") == cb.count_hooks("on_fit_task_end") == 2
        root_end = [
            r
            for r in cb.record
            if r["name"] == "on_fit_task_end" and r["context"].task_name == method
        ]
        assert len(root_end) == 1 and root_end[0]["kwargs"]["fitted_estimator"] is None
