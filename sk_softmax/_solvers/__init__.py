"""Solvers: each minimises a :class:`sk_softmax._loss.SoftmaxLoss` through its public
methods only."""

from ._lbfgs import minimize_lbfgs

__all__ = ["minimize_lbfgs"]
