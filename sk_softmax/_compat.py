"""The one place where sk_softmax reaches into scikit-learn's private API.

scikit-learn offers no public equivalent of these names; every other module imports
them from here, under public names, and ``tests/test_compat.py`` checks each one's
behaviour as we use it, so that a scikit-learn release that moves or changes one fails
there, loudly, with the name in the test, rather than somewhere deep in a fit.

* ``fit_context`` (``sklearn.base._fit_context``): parameter validation and
  nested-validation skipping around ``fit`` (every scikit-learn estimator uses it; the
  callbacks' teardown hangs on it too);
* ``Interval`` / ``StrOptions``: the vocabulary of ``_parameter_constraints``, and
  ``InvalidParameterError``, the error a bad parameter value raises;
* ``check_sample_weight`` (``sklearn.utils.validation._check_sample_weight``):
  validation of ``sample_weight`` as scikit-learn's estimators do it (shape, dtype,
  non-negativity);
* ``LinearClassifierMixin`` / ``SparseCoefMixin``: ``decision_function``, ``predict``,
  ``score``, ``sparsify`` and ``densify`` exactly as ``LogisticRegression`` has them;
* ``raise_for_params`` / ``routing_enabled`` (``_raise_for_params`` and
  ``_routing_enabled`` of ``sklearn.utils.metadata_routing``): metadata routing's
  checks, as ``LogisticRegressionCV`` uses them (``SoftmaxClassifierCV``);
* ``get_namespace``, ``get_namespace_and_device``, ``move_to``, ``is_numpy_namespace``
  (``_is_numpy_namespace``) and ``check_same_namespace`` of ``sklearn.utils._array_api``:
  the array API helpers ``LogisticRegression`` uses (the array API backend,
  :mod:`sk_softmax._array_api`, and the prediction methods' namespace check);
* :func:`has_callbacks`: whether a callback context has any callback (to skip building
  per-iteration models nobody reads), and :func:`init_callback_context`, the callback
  context of one ``fit`` call (``CallbackSupportMixin._init_callback_context``).
"""

from sklearn.base import _fit_context as fit_context
from sklearn.linear_model._base import LinearClassifierMixin, SparseCoefMixin
from sklearn.utils._array_api import _is_numpy_namespace as is_numpy_namespace
from sklearn.utils._array_api import (
    check_same_namespace,
    get_namespace,
    get_namespace_and_device,
    move_to,
)
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.metadata_routing import _raise_for_params as raise_for_params
from sklearn.utils.metadata_routing import _routing_enabled as routing_enabled
from sklearn.utils.validation import _check_sample_weight as check_sample_weight

__all__ = [
    "Interval",
    "InvalidParameterError",
    "LinearClassifierMixin",
    "SparseCoefMixin",
    "StrOptions",
    "check_same_namespace",
    "check_sample_weight",
    "get_namespace",
    "get_namespace_and_device",
    "is_numpy_namespace",
    "move_to",
    "fit_context",
    "raise_for_params",
    "routing_enabled",
    "has_callbacks",
    "init_callback_context",
]


def has_callbacks(ctx):
    """Whether the callback context ``ctx`` (``sklearn.callback``) has callbacks."""
    return bool(ctx._callbacks)


def init_callback_context(estimator, task_name, max_subtasks):
    """The callback context of one ``fit`` / ``partial_fit`` call of ``estimator`` (a
    ``sklearn.callback.CallbackSupportMixin``)."""
    return estimator._init_callback_context(task_name=task_name, max_subtasks=max_subtasks)
