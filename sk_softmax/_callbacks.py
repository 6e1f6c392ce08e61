"""scikit-learn 1.9 callbacks (``sklearn.callback``) for one fit or partial_fit call.

One root task per call, one subtask per solver iteration (L-BFGS) or epoch (SGD).  Each
subtask begins with the model as it stands before the iteration and ends with the model
after it, given as ``reconstruction_attributes`` from which scikit-learn builds the
``fitted_estimator`` a callback may predict with.  :class:`FitTasks` is a context
manager: whatever happens inside (a diverged fit, a bad input found late, a
``KeyboardInterrupt``), every task it opened is ended on the way out.
"""

from ._compat import has_callbacks, init_callback_context
from ._layout import fitted_attributes

__all__ = ["FitTasks"]


class FitTasks:
    """The callback tasks of one ``fit`` / ``partial_fit`` call.

    Parameters
    ----------
    estimator : SoftmaxClassifier
    task_name : str
        Name of the root task (``"fit"`` or ``"partial_fit"``).
    subtask_name : str
        Name of the per-iteration subtasks (``"lbfgs-iter"``, ``"sgd-epoch"``).
    max_subtasks : int
        Upper bound on the number of subtasks.
    X, y : the call's data, passed to the hooks
    sample_weight : array-like or None
        Passed to the hooks as ``metadata``.
    classes : ndarray of shape (n_classes,)
    dtype : numpy dtype
        Dtype of the coefficients of the ``fitted_estimator`` of each subtask.
    fit_intercept : bool
    """

    def __init__(
        self,
        estimator,
        task_name,
        subtask_name,
        max_subtasks,
        X,
        y,
        sample_weight,
        classes,
        dtype,
        fit_intercept,
    ):
        self.estimator = estimator
        self.task_name, self.subtask_name = task_name, subtask_name
        self.max_subtasks = max_subtasks
        self.X, self.y = X, y
        self.metadata = {"sample_weight": sample_weight} if sample_weight is not None else None
        self.classes, self.dtype, self.fit_intercept = classes, dtype, fit_intercept
        self.ctx = None
        self.current = None

    @property
    def active(self):
        """Whether any callback listens (else per-iteration models need not be built)."""
        return self.ctx is not None and has_callbacks(self.ctx)

    def _attributes(self, W, b):
        coef, intercept = fitted_attributes(W, b, self.dtype, self.fit_intercept)
        return {"coef_": coef, "intercept_": intercept, "classes_": self.classes}

    def __enter__(self):
        self.ctx = init_callback_context(self.estimator, self.task_name, self.max_subtasks)
        self.ctx.call_on_fit_task_begin(
            estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
        )
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.end_empty()
        finally:
            if exc_type is None:
                self.ctx.call_on_fit_task_end(
                    estimator=self.estimator,
                    X=self.X,
                    y=self.y,
                    metadata=self.metadata,
                    reconstruction_attributes={},
                )
            else:
                # a failed call: the task ends, with no model to show
                self.ctx.call_on_fit_task_end(
                    estimator=self.estimator, X=self.X, y=self.y, metadata=self.metadata
                )
        return False

    def begin(self, W, b):
        """Begin the next subtask with the model ``(W, b)`` (copied only when asked for)."""
        self.current = self.ctx.subcontext(task_name=self.subtask_name)
        self.current.call_on_fit_task_begin(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=lambda: self._attributes(W, b),
        )

    def end(self, W, b):
        """End the current subtask with the model ``(W, b)``; True when a callback asks to
        stop."""
        current, self.current = self.current, None
        stop = current.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            metadata=self.metadata,
            reconstruction_attributes=lambda: self._attributes(W, b),
        )
        return bool(stop)

    def end_empty(self):
        """End the current subtask, if any, without a model (it never ran, or failed)."""
        if self.current is not None:
            current, self.current = self.current, None
            current.call_on_fit_task_end(estimator=self.estimator)
