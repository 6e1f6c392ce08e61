"""Solvers: each minimises a :class:`sk_softmax._loss.SoftmaxLoss` and owns its own state.

L-BFGS sees only ``loss_gradient`` and the layout helpers; OWL-QN (L1 / elastic-net)
also the L1 term's strength and mask; SGD also reads the loss
object's data, layout and penalty, and runs the fused SGD kernels itself.
"""

from ._lbfgs import minimize_lbfgs
from ._owlqn import minimize_owlqn
from ._sgd import (
    SGDOptions,
    SGDState,
    auto_eta0,
    guarded_epoch,
    sgd_epoch,
    sgd_fit,
    sgd_partial_fit,
)

__all__ = [
    "SGDOptions",
    "SGDState",
    "auto_eta0",
    "guarded_epoch",
    "minimize_lbfgs",
    "minimize_owlqn",
    "sgd_epoch",
    "sgd_fit",
    "sgd_partial_fit",
]
