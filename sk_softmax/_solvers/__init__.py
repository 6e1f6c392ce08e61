"""Solvers: each minimises a :class:`sk_softmax._loss.SoftmaxLoss` and owns its own state.

L-BFGS sees only ``loss_gradient`` and the layout helpers; the L1 solver (L-BFGS-B on
split weights, then OWL-QN with Newton steps) also the L1 term's strength, mask and
Hessian products; SGD also reads the loss
object's data, layout and penalty, and runs the fused SGD kernels itself.
"""

from ._l1 import minimize_full_batch, minimize_l1
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
    "minimize_full_batch",
    "minimize_l1",
    "minimize_lbfgs",
    "minimize_owlqn",
    "sgd_epoch",
    "sgd_fit",
    "sgd_partial_fit",
]
