"""The precision stages of a full-batch solve: which evaluation runs in which precision.

A float64 dense fit by L-BFGS without an L1 term runs in two stages (docs/design.md,
"Two precisions"):

1. the **float32 stage**: L-BFGS on the same objective evaluated on a float32 copy of
   ``X`` (float32 products and exponentials, float64 row sums, accumulation, penalty and
   gradient), until the gradient's max-norm is below
   ``max(tol, FLOAT32_STAGE_TOL_FLOOR)``;
2. the **float64 stage** from there, whose first evaluation is the stopping test, so the
   result meets ``tol`` in float64 exactly as a float64-only solve does.

Every other fit has the float64 (or, for float32 data, its own dtype's) stage only:
float32 or CSR data, problems small enough for NumPy, copies larger than
``FLOAT32_STAGE_MAX_COPY_BYTES``, data beyond float32's range, and L1 / elastic-net
models, whose solver (L-BFGS-B on split weights, then OWL-QN) runs in float64 only.
This module makes the decision and the copy; the estimator and CV call
:func:`precision_stages`, the solvers receive :class:`PrecisionStages`.
"""

from typing import NamedTuple

import numpy as np

__all__ = [
    "FLOAT32_STAGE_MAX_COPY_BYTES",
    "FLOAT32_STAGE_TOL_FLOOR",
    "PrecisionStages",
    "precision_stages",
]

#: Largest float32 copy of a float64 ``X`` made for the float32 stage (half of X's
#: bytes): MNIST's 60000 x 784 float64 training set (188 MB of copy) is below it;
#: larger data is evaluated in float64 only, so that its memory stays X plus the
#: (n_samples, K) buffer.
FLOAT32_STAGE_MAX_COPY_BYTES = 256 * 2**20

#: The float32 stage stops at ``max(tol, FLOAT32_STAGE_TOL_FLOOR)``: float32 products
#: carry relative errors of ~1e-7 into the objective, and the floor keeps the stage well
#: above where that rounding could stall its line searches (docs/design.md has the
#: measurements).
FLOAT32_STAGE_TOL_FLOOR = 1e-6


class PrecisionStages(NamedTuple):
    """The losses of a full-batch solve, stage by stage.

    Attributes
    ----------
    final : SoftmaxLoss (or any :class:`~sk_softmax._solvers._contract.FullBatchLoss`)
        The objective as solved, in the data's precision: its evaluations make the
        stopping test.
    float32 : SoftmaxLoss or None
        The same objective on a float32 copy of ``X`` (first stage), or None.
    """

    final: object
    float32: object = None

    @property
    def float32_X(self):
        """The float32 copy of ``X`` (for reuse along a path of C), or None."""
        return None if self.float32 is None else self.float32.X


def precision_stages(loss, float32_X=None):
    """The stages that solve ``loss``: a float32 stage where it pays and is safe.

    Parameters
    ----------
    loss : SoftmaxLoss
    float32_X : ndarray of shape (n_samples, n_features), float32, or None
        A float32 copy of ``loss.X`` made earlier (a path over values of C reuses the
        one of :attr:`PrecisionStages.float32_X`); None: make it here when needed.

    Returns
    -------
    stages : PrecisionStages
    """
    X = loss.X
    if (
        loss.sparse
        or X.dtype != np.float64
        or loss.small
        or loss.penalty.has_l1
        or X.size * 4 > FLOAT32_STAGE_MAX_COPY_BYTES
    ):
        return PrecisionStages(loss)
    if float32_X is None:
        with np.errstate(over="ignore"):
            float32_X = np.asarray(X, dtype=np.float32, order="C")
        # |x| > 3.4e38 became inf: such data is evaluated in float64 only (max and min
        # rather than isfinite(X32).all(), which would allocate n * d bools)
        if not (np.isfinite(float32_X.max()) and np.isfinite(float32_X.min())):
            return PrecisionStages(loss)
    return PrecisionStages(loss, loss.with_data(float32_X, loss.y, loss.sample_weight))
