"""Solvers: each minimises a :class:`sk_softmax._loss.SoftmaxLoss` through its public
methods only."""

from ._lbfgs import minimize_lbfgs
from ._sgd import SGDState, auto_eta0, sgd_epoch

__all__ = ["SGDState", "auto_eta0", "minimize_lbfgs", "sgd_epoch"]
