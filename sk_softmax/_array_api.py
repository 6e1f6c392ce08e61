"""The array API backend: fits and predictions on arrays of any array-API namespace and
device (PyTorch, CuPy, array-api-strict...), as ``LogisticRegression(solver="lbfgs")``
takes them under ``sklearn.set_config(array_api_dispatch=True)``.

Imported only when dispatch is on and ``X`` is not a NumPy array (``array_backend`` in
:mod:`sk_softmax._classifier`); NumPy input, with dispatch on or off, takes the numba
kernels as before.  What runs where:

* in ``X``'s namespace, on ``X``'s device: the data term of the objective and its
  gradient, :func:`cross_entropy_gradient` (one function written against the array API:
  two products with ``X`` and elementwise work on an ``(n_samples, K)`` array), and the
  predictions (:func:`predict_proba`);
* on the host, in float64: labels, sample and class weights (``sk_softmax._validation``,
  as for NumPy input), the penalty (``sk_softmax._penalty``) and the solvers of
  ``sk_softmax._solvers`` (scipy's L-BFGS-B; with ``l1_ratio > 0`` the L1 solver without
  its Newton steps), which read the loss through the solver contract (a float64 fit
  has the float32 stage NumPy input has, on a float32 copy of ``X`` on the device):
  :class:`ArrayApiLoss` implements ``FullBatchLoss``, and each evaluation moves the
  coefficient vector to the device and the gradient back (``K * (n_features + 1)``
  numbers each way).

``coef_``, ``intercept_`` and ``n_iter_`` are arrays of ``X``'s namespace on ``X``'s
device, in ``X``'s floating dtype (float32 stays float32); ``classes_`` is a NumPy array
(labels may be strings), which scikit-learn's ``predict`` takes.  SGD (``fit`` with
``solver="sgd"``, ``partial_fit``) and ``SoftmaxClassifierCV`` raise :func:`unsupported`.
"""

import copy
from types import SimpleNamespace

import numpy as np
from sklearn import config_context
from sklearn.utils.validation import validate_data

from . import _precision
from ._compat import (
    check_same_namespace,
    get_namespace,
    get_namespace_and_device,
    is_numpy_namespace,
    move_to,
)
from ._kernels import _small
from ._layout import CoefLayout, fitted_attributes
from ._loss import curvature_diagonal, kronecker_curvature, kronecker_rows, second_moment
from ._penalty import ElasticNet, GroupElasticNet
from ._precision import PrecisionStages
from ._validation import encode_labels, fit_sample_weight

__all__ = [
    "ArrayApiLoss",
    "cross_entropy_gradient",
    "fitted_arrays",
    "is_array_api_input",
    "precision_stages",
    "prepare_fit",
    "predict_proba",
    "unsupported",
]


def is_array_api_input(X):
    """Whether ``X`` is an array of a namespace other than NumPy (dispatch being on).

    Lists, DataFrames, sparse matrices and NumPy arrays are NumPy's namespace here, as in
    scikit-learn, and keep the numba path.
    """
    xp, _ = get_namespace(X)
    return not is_numpy_namespace(xp)


def unsupported(what):
    """The error for what the array API backend does not run, naming what it runs."""
    return ValueError(
        f"{what} does not support array API inputs (array_api_dispatch=True with arrays "
        "that are not NumPy's). Array API inputs are supported by "
        "SoftmaxClassifier(solver='lbfgs') (fit, with any C and l1_ratio, and its "
        "prediction methods), as by LogisticRegression(solver='lbfgs'). Pass NumPy "
        "arrays (e.g. after sklearn.utils._array_api.move_to(X, xp=numpy, device='cpu')) "
        "to use the other solvers."
    )


def _host(array):
    """``array`` as a NumPy array on the host (None stays None)."""
    return None if array is None else move_to(array, xp=np, device="cpu")


def _numpy_dtype(xp, dtype):
    return np.dtype(np.float32) if dtype == xp.float32 else np.dtype(np.float64)


# -- the loss --------------------------------------------------------------------------
def cross_entropy_gradient(xp, X, T, weights, W, b, binary):
    """Weighted mean cross-entropy of the softmax (or sigmoid) model and its gradient,
    computed in ``X``'s namespace and on its device, in ``X``'s dtype.

    Parameters
    ----------
    xp : array namespace
    X : array of shape (n_samples, n_features)
    T : array of shape (n_samples, K)
        One-hot targets of the stored rows (binary: ``K = 1``, the indicator of class 1).
    weights : array of shape (n_samples, 1), or float
        Sample weights divided by their sum (a float ``1 / n_samples`` without weights).
    W : array of shape (K, n_features)
    b : array of shape (K,) or None
    binary : bool
        The sigmoid model: the logit of class 0 is fixed at 0 (``K = 1``).

    Returns
    -------
    value : array of shape ()
        ``sum_i weights_i * -log P[i, y_i]``.
    grad_W : array of shape (K, n_features)
    grad_b : array of shape (K,)
    """
    # Z and R are this call's own arrays: the augmented assignments may work in place
    # (namespaces with immutable arrays rebind the name instead); each saves an
    # (n_samples, K) pass and allocation, what the elementwise part costs
    Z = X @ W.T
    if b is not None:
        Z += b
    if binary:
        # log(1 + exp(z)) and the sigmoid without overflow
        lse = (Z + xp.abs(Z)) / 2 + xp.log1p(xp.exp(-xp.abs(Z)))
        R = xp.exp(Z - lse)
    else:
        m = xp.max(Z, axis=1, keepdims=True)
        Z -= m  # the shifted logits: the cross-entropy is the same
        R = xp.exp(Z)
        s = xp.sum(R, axis=1, keepdims=True)
        lse = xp.log(s)
        R /= s
    ce = lse - xp.sum(Z * T, axis=1, keepdims=True)
    R -= T
    if isinstance(weights, float):  # the same weight for every row: scale the sums
        return xp.sum(ce) * weights, (R.T @ X) * weights, xp.sum(R, axis=0) * weights
    R *= weights
    return xp.sum(ce * weights), R.T @ X, xp.sum(R, axis=0)


class ArrayApiLoss:
    """The objective on data of an array-API namespace: :class:`FullBatchLoss` of the
    solver contract (``sk_softmax._solvers._contract``).

    The data term is evaluated by :func:`cross_entropy_gradient` on ``X``'s device; the
    penalty (its smooth part here, its L1 term by the solver) on the host in float64,
    as :class:`sk_softmax._loss.SoftmaxLoss` adds it.

    Parameters
    ----------
    X : array of shape (n_samples, n_features), float32 or float64
        Referenced, never copied.
    y : ndarray of shape (n_samples,), integer
        Encoded labels in ``[0, n_classes)`` (NumPy, on the host).
    n_classes : int
    sample_weight : ndarray of shape (n_samples,), float64, or None
    C, fit_intercept, l1_ratio
        As for :class:`~sk_softmax._loss.SoftmaxLoss`.

    Attributes
    ----------
    layout : CoefLayout
    penalty : ElasticNet
    sw_sum : float
    supports_hessian_product : bool
        False: the L1 solver takes quasi-Newton steps only.
    small : bool
        Whether the problem is below ``SMALL_MAX_WORK`` multiply-adds, where NumPy input
        has no float32 stage (:func:`precision_stages` follows the same rule).
    """

    supports_hessian_product = False

    def __init__(self, X, y, n_classes, sample_weight=None, *, C=1.0, fit_intercept=True,
                 l1_ratio=0.0, penalty_factor=None, box=None, l1_groups=None):  # fmt: skip
        xp, _, device = get_namespace_and_device(X)
        self.xp, self.device, self.X = xp, device, X
        n_samples, n_features = X.shape
        self.layout = layout = CoefLayout(n_features, n_classes, fit_intercept)
        self.small = n_samples * n_features * layout.K < _small.SMALL_MAX_WORK
        self.dtype = dtype = _numpy_dtype(xp, X.dtype)
        self.sw_sum = float(n_samples if sample_weight is None else np.sum(sample_weight))
        if l1_groups is None:
            self.penalty = ElasticNet(C, l1_ratio, self.sw_sum, penalty_factor, box)
        else:
            self.penalty = GroupElasticNet(C, l1_ratio, self.sw_sum, l1_groups, penalty_factor)
        y = np.asarray(y)
        # the class weights of curvature_diagonal (its column sums come on first use)
        self._class_sums = np.bincount(y, weights=sample_weight, minlength=n_classes).astype(
            np.float64
        )
        self._curvature_sums = None
        # curvature_kronecker's: the host's weights of its rows, and its second moment
        self._sample_weight_host = (
            None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        )
        self._second_moment = None
        T = np.zeros((n_samples, layout.K), dtype=dtype)
        if layout.binary:
            T[:, 0] = y == 1
        else:
            T[np.arange(n_samples), y] = 1
        self.T = move_to(T, xp=xp, device=device)
        if sample_weight is None:
            self.weights = 1.0 / n_samples
        else:
            w = (np.asarray(sample_weight, dtype=np.float64) / self.sw_sum).astype(dtype)
            self.weights = move_to(w.reshape(-1, 1), xp=xp, device=device)

    def float32(self, X32):
        """The same objective on ``X32``, a float32 copy of ``X`` on the same device."""
        xp, new = self.xp, copy.copy(self)
        new.X, new.T, new.dtype = X32, xp.astype(self.T, xp.float32), np.dtype(np.float32)
        if not isinstance(self.weights, float):
            new.weights = xp.astype(self.weights, xp.float32)
        return new

    def loss_gradient(self, coef):
        """``(value, gradient)`` of the smooth part of the objective at ``coef``.

        Parameters
        ----------
        coef : ndarray of shape (n_params,)
            On the host; moved to the device in ``X``'s dtype.

        Returns
        -------
        value : float
        gradient : ndarray of shape (n_params,), float64
        """
        layout, xp = self.layout, self.xp
        coef = np.asarray(coef, dtype=np.float64)
        C2 = move_to(coef.astype(self.dtype).reshape(layout.coef_shape), xp=xp, device=self.device)
        d = layout.n_features
        b = C2[:, d] if layout.fit_intercept else None
        value, gW, gb = cross_entropy_gradient(
            xp, self.X, self.T, self.weights, C2[:, :d], b, layout.binary
        )
        if layout.fit_intercept:
            G = xp.concat([gW, xp.reshape(gb, (-1, 1))], axis=1)
        else:
            G = gW
        grad = np.asarray(_host(G), dtype=np.float64).reshape(-1)
        value = float(_host(value))
        W_host = layout.weight_intercept(coef)[0]
        grad_W = layout.weight_intercept(grad)[0]
        self.penalty.add_smooth_gradient(grad_W, W_host)
        return self.penalty.add_smooth(value, W_host), grad

    def curvature_diagonal(self, rows_per_chunk=4096):
        """:meth:`SoftmaxLoss.curvature_diagonal`: the weighted column sums of ``x^2``
        on the device (row chunks, in ``X``'s dtype; one pass on first use), the class
        weights from the host.

        Returns
        -------
        h : ndarray of shape (n_params,), float64, or None
        """
        return curvature_diagonal(self._sums(rows_per_chunk), self.layout, self.penalty)

    def _sums(self, rows_per_chunk=4096):
        """:func:`~sk_softmax._loss.curvature_sums` of ``X`` (on the device, on first use)."""
        if self._curvature_sums is None:
            xp, X, w = self.xp, self.X, self.weights
            n = X.shape[0]
            m2 = np.zeros(X.shape[1])
            for lo in range(0, n, rows_per_chunk):
                hi = min(n, lo + rows_per_chunk)
                sq = X[lo:hi, :] * X[lo:hi, :]
                part = xp.sum(sq if isinstance(w, float) else sq * w[lo:hi, :], axis=0)
                m2 += np.asarray(_host(part), dtype=np.float64)
            if not isinstance(w, float):  # weights s_i / S: curvature_sums sums s_i x_ij^2
                m2 *= self.sw_sum
            self._curvature_sums = np.concatenate([self._class_sums, m2])
        return self._curvature_sums

    def curvature_kronecker(self):
        """:meth:`SoftmaxLoss.curvature_kronecker`: the evenly spaced rows are copied to
        the host (at most ``max(KRONECKER_MIN_ROWS, 4 m)`` of them) and their second
        moment made there, as for NumPy input, rescaled by the column sums of
        :meth:`curvature_diagonal` (on the device).

        Returns
        -------
        curvature : KroneckerCurvature or None
        """
        lay = self.layout
        rows = kronecker_rows(self.X.shape[0], lay)
        if rows is None:
            return None
        if self._second_moment is None:
            xp = self.xp
            Xs = np.asarray(
                _host(xp.take(self.X, move_to(rows, xp=xp, device=self.device), axis=0))
            )
            sw = self._sample_weight_host
            sws = np.empty(0) if sw is None else sw[rows]
            self._second_moment = second_moment(Xs, sws, lay.fit_intercept)
        return kronecker_curvature(self._sums(), self._second_moment, lay, self.penalty)

    def hessian_product(self, coef, free, max_rows=None):
        """Not available (``supports_hessian_product`` is False)."""
        raise NotImplementedError("ArrayApiLoss has no Hessian-vector products.")


# -- fit ---------------------------------------------------------------------------------
def precision_stages(loss):
    """The precision stages of an array API fit, by the rule of NumPy input
    (:func:`sk_softmax._precision.precision_stages`): float64 data, not small, no L1 term,
    a float32 copy within ``FLOAT32_STAGE_MAX_COPY_BYTES`` and within float32's range
    gets a float32 stage, on a float32 copy of ``X`` made on its device."""
    X, xp = loss.X, loss.xp
    if (
        X.dtype != xp.float64
        or loss.small
        or loss.penalty.has_l1
        or X.shape[0] * X.shape[1] * 4 > _precision.FLOAT32_STAGE_MAX_COPY_BYTES
    ):
        return PrecisionStages(loss)
    # checked before the cast, which then cannot overflow (nor warn)
    limit = float(np.finfo(np.float32).max)
    if not (float(xp.max(X)) <= limit and float(xp.min(X)) >= -limit):
        return PrecisionStages(loss)
    return PrecisionStages(loss, loss.float32(xp.astype(X, xp.float32)))


def prepare_fit(estimator, X, y, sample_weight):
    """Validate a fit's inputs and make its loss.

    ``X`` keeps its namespace and device (float32 or float64); ``y`` and
    ``sample_weight`` (of any namespace and device) are read on the host, where labels
    and weights go through the validation NumPy input goes through.

    Returns
    -------
    data : SimpleNamespace
        ``X``, ``y`` (validated), ``classes`` (NumPy), ``loss`` (:class:`ArrayApiLoss`),
        ``stages`` (:class:`~sk_softmax._precision.PrecisionStages`, from
        :func:`precision_stages`)
        and ``init`` (the warm start ``(W, b)`` as float64 NumPy arrays, or None).
    """
    if estimator.solver != "lbfgs":
        raise unsupported(f"SoftmaxClassifier(solver={estimator.solver!r})")
    xp, _, _ = get_namespace_and_device(X)
    X, y = validate_data(estimator, X, y, dtype=[xp.float64, xp.float32], order="C")
    y_host = _host(y)
    classes, y_enc = encode_labels(y_host, "SoftmaxClassifier")
    # the weights are checked and folded with the class weights on the host, as NumPy
    # input's are (with dispatch off: y_host stands for X, of which only the length is read)
    with config_context(array_api_dispatch=False):
        sw = fit_sample_weight(
            y_host, y_host, classes, _host(sample_weight), estimator.class_weight
        )
    from ._classifier import constraints  # the estimator's module imports this one

    loss = ArrayApiLoss(
        X,
        y_enc,
        classes.shape[0],
        sw,
        C=estimator.C,
        fit_intercept=estimator.fit_intercept,
        l1_ratio=estimator.l1_ratio,
        **constraints(estimator, classes.shape[0], X.shape[1]),
    )
    return SimpleNamespace(
        X=X,
        y=y,
        classes=classes,
        loss=loss,
        stages=precision_stages(loss),
        init=_warm_start(estimator, loss.layout),
    )


def _warm_start(estimator, layout):
    """The previous fit's ``(W, b)`` on the host for ``warm_start``, else None."""
    from ._classifier import warm_start_coef  # the estimator's module imports this one

    if not (estimator.warm_start and hasattr(estimator, "coef_")):
        return None
    previous = SimpleNamespace(
        warm_start=True, coef_=_host(estimator.coef_), intercept_=_host(estimator.intercept_)
    )
    return warm_start_coef(previous, layout.n_classes, layout.n_features)


def fitted_arrays(data, W, b, n_iter):
    """``coef_``, ``intercept_`` and ``n_iter_`` in ``X``'s namespace, device and dtype.

    Parameters
    ----------
    data : the result of :func:`prepare_fit`
    W : ndarray of shape (K, n_features), b : ndarray of shape (K,)
    n_iter : int
    """
    loss = data.loss
    xp, device = loss.xp, loss.device
    # the NumPy path's attributes (a float32 coef_ rounded into the box), then moved
    W, b = fitted_attributes(W, b, loss.dtype, loss.layout.fit_intercept, loss.penalty.box)
    return (
        move_to(W, xp=xp, device=device),
        move_to(np.ascontiguousarray(b), xp=xp, device=device),
        move_to(np.array([n_iter], dtype=np.int32), xp=xp, device=device),
    )


# -- predictions ---------------------------------------------------------------------------
def predict_proba(estimator, X, log):
    """``predict_proba`` (``log=False``) or ``predict_log_proba`` in ``X``'s namespace,
    on its device: a (log-)softmax of the decision scores (binary: of ``[0, z]``).

    Raises
    ------
    ValueError
        When ``X``'s namespace or device is not that of ``coef_`` (scikit-learn's
        message, with ``move_estimator_to`` as the way out).
    """
    method = "predict_log_proba" if log else "predict_proba"
    check_same_namespace(X, estimator, attribute="coef_", method=method)
    xp, _ = get_namespace(X)
    Z = estimator.decision_function(X)
    if Z.ndim == 1:
        Z = xp.stack([xp.zeros_like(Z), Z], axis=1)
    Z = Z - xp.max(Z, axis=1, keepdims=True)
    E = xp.exp(Z)
    s = xp.sum(E, axis=1, keepdims=True)
    if not log:
        return E / s
    # finite everywhere, as the NumPy path's log-probabilities
    return xp.clip(Z - xp.log(s), min=float(xp.finfo(Z.dtype).min))
