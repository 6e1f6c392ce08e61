"""The solver contract: what a solver may use of a loss object.

Three losses implement it, :class:`sk_softmax._loss.SoftmaxLoss` (data in memory),
:class:`sk_softmax._dask.DaskLoss` (data on a dask cluster) and
:class:`sk_softmax._array_api.ArrayApiLoss` (arrays of another array-API namespace, on
their device; full batch only), and every solver reads a
loss only through these names, so that a new loss (another array kind) or a new solver
(another penalty) needs nothing else.  No solver probes a loss with ``hasattr``: an
optional capability is declared.

Full-batch solvers (:func:`~sk_softmax._solvers.minimize_full_batch`, L-BFGS, the L1
solver) use :class:`FullBatchLoss`; SGD uses :class:`MinibatchLoss`, which adds the data
of the steps as one bundle (:class:`MinibatchData`) instead of reading them off the loss
object.
"""

from typing import NamedTuple, Protocol

import numpy as np

__all__ = ["FullBatchLoss", "MinibatchData", "MinibatchLoss"]


class MinibatchData(NamedTuple):
    """The data SGD's kernels step on.

    Attributes
    ----------
    X : ndarray or CSR of shape (n_samples, n_features), float32 or float64
    y : ndarray of shape (n_samples,), integer
        Encoded labels.
    sample_weight : ndarray of shape (n_samples,) or (0,), float64
        Empty: all ones.
    sparse : bool
        Whether ``X`` is CSR.
    """

    X: object
    y: np.ndarray
    sample_weight: np.ndarray
    sparse: bool


class FullBatchLoss(Protocol):
    """What a full-batch solver may use of a loss.

    Attributes
    ----------
    layout : sk_softmax._layout.CoefLayout
        ``n_params``, ``coef_shape``, ``weight_intercept``, ``pack``, ``penalty_mask``.
    penalty : sk_softmax._penalty.ElasticNet
        Its L1 term (``l1``, ``factor``, ``l1_value``, ``min_norm_subgradient``) and its
        box (``flat_bounds``, ``project``) are the solver's to handle; its smooth part
        is inside :meth:`loss_gradient`.
    supports_hessian_product : bool
        Whether :meth:`hessian_product` may be called (the L1 solver's Newton steps run
        only then).
    """

    layout: object
    penalty: object
    supports_hessian_product: bool

    def loss_gradient(self, coef):
        """``(value, gradient)`` of the smooth part at ``coef`` (shape (n_params,))."""

    def curvature_diagonal(self):
        """An estimate of the smooth part's Hessian diagonal (ndarray of shape
        (n_params,), non-negative), or None: L-BFGS scales ``coef`` by its inverse
        square root (a diagonal preconditioner) when given."""

    def curvature_kronecker(self):
        """A Kronecker-factored estimate of the smooth part's Hessian
        (:class:`sk_softmax._loss.KroneckerCurvature`), or None (not estimated for this
        data): without bounds L-BFGS then runs on coefficients transformed by the
        inverse square root of its factors, and falls back to
        :meth:`curvature_diagonal` on None."""

    def hessian_product(self, coef, free, max_rows=None):
        """``hessp(v)``: Hessian-vector products of the smooth part in the ``free``
        coordinates, on at most ``max_rows`` rows (only where declared)."""


class MinibatchLoss(FullBatchLoss, Protocol):
    """What SGD may use of a loss, besides :class:`FullBatchLoss`.

    Attributes
    ----------
    sw_sum : float
        The data's total sample weight.
    small : bool
        Whether the loss evaluates with NumPy, minibatches included (a problem too
        small for numba's start to pay off): SGD then steps in NumPy too.
    """

    sw_sum: float
    small: bool

    def minibatch_data(self):
        """The data as :class:`MinibatchData`."""

    def with_penalty(self, penalty):
        """The same data with another penalty (a validation split's ``S``)."""

    def loss_gradient(self, coef, rows=None):
        """``(value, gradient)`` of the smooth part at ``coef``, on the minibatch
        ``rows`` (its weighted mean plus the penalty's smooth part) or all rows: SGD's
        NumPy steps (small problems; penalty factors or bounds, which the SGD kernels do
        not take)."""
