"""Solvers: each minimises a loss object through the solver contract
(:mod:`._contract`) and owns its own state.

L-BFGS uses ``loss_gradient`` only; the L1 solver (L-BFGS-B on split weights, then OWL-QN
with Newton steps) also the layout's penalty mask, the penalty's L1 term and, where the
loss declares it, Hessian products; SGD also the data of its steps
(``minibatch_data()``), and runs the fused SGD kernels itself.
"""

from ._contract import FullBatchLoss, MinibatchData, MinibatchLoss
from ._full_batch import minimize_full_batch
from ._l1 import minimize_l1
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
    "FullBatchLoss",
    "MinibatchData",
    "MinibatchLoss",
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
