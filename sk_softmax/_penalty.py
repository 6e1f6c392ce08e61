"""Penalties as objects: the one place that computes a penalty.

A penalty object knows its strengths and gives, for the weights ``W`` (never the
intercepts, which are unpenalised):

* its value, split into the smooth part (L2) and the non-smooth part (L1);
* the gradient of its smooth part;
* its proximal operator (soft-thresholding) and the lazy form SGD applies (the
  cumulative L1 penalty);
* the least-norm subgradient of ``smooth loss + penalty``, whose max-norm is the stopping
  test of every full-batch solver (zero exactly at the optimum);
* the critical ``C`` at and below which all weights are zero;
* the scalars the numba kernels take (:class:`PenaltyScalars`).

The loss (:mod:`sk_softmax._loss`), the L1 solvers, SGD, CV and the dask backend read
penalties from here; the kernels receive :meth:`ElasticNet.scalars`.  Bounds, per-feature
factors and groups are further penalty objects with the same methods.

The scaling is ``LogisticRegression``'s: with ``S`` the total sample weight, ratio ``r``
and inverse strength ``C``::

    penalty(W) = (1 - r) / (2 C S) * ||W||_F^2  +  r / (C S) * ||W||_1

``C = inf`` is no penalty, whatever ``r``.
"""

from collections import namedtuple

import numpy as np

__all__ = ["ElasticNet", "PenaltyScalars", "min_norm_subgradient"]

#: What the kernels take of a penalty: ``l2`` (smooth gradient ``l2 * W``) and ``l1``.
PenaltyScalars = namedtuple("PenaltyScalars", ["l2", "l1"])


class ElasticNet:
    """The L2, L1 or elastic-net penalty, scaled as ``LogisticRegression`` scales it.

    Parameters
    ----------
    C : float
        Inverse regularisation strength in ``(0, inf]``.
    l1_ratio : float in [0, 1]
        Share ``r`` of the L1 term (0: L2 only).
    weight_sum : float
        ``S`` in ``1 / (C S)``: the total sample weight of the data (or the weight a
        stream or a validation split calls for).

    Attributes
    ----------
    l2 : float
        ``(1 - r) / (C S)``, 0 for ``C = inf``: the smooth part is ``l2 / 2 ||W||^2``.
    l1 : float
        ``r / (C S)``, 0 for ``C = inf``: the L1 term is ``l1 ||W||_1``.
    """

    def __init__(self, C, l1_ratio, weight_sum):
        self.C = C
        self.l1_ratio = float(l1_ratio)
        self.weight_sum = S = float(weight_sum)
        r = self.l1_ratio
        if np.isinf(C):
            self.l2 = self.l1 = 0.0
        elif r == 0.0:
            # exactly the expression of the L2-only model (bit for bit)
            self.l2, self.l1 = 1.0 / (C * S), 0.0
        else:
            self.l2 = (1.0 - r) / (C * S)
            self.l1 = r / (C * S)

    def __repr__(self):
        return (
            f"ElasticNet(C={self.C!r}, l1_ratio={self.l1_ratio!r}, weight_sum={self.weight_sum!r})"
        )

    def with_weight_sum(self, weight_sum):
        """The same penalty for another ``S``."""
        return ElasticNet(self.C, self.l1_ratio, weight_sum)

    @property
    def has_l1(self):
        """Whether there is a non-smooth (L1) term: the solvers for it differ."""
        return self.l1 > 0.0

    def scalars(self):
        """The kernels' view: :class:`PenaltyScalars` ``(l2, l1)``."""
        return PenaltyScalars(self.l2, self.l1)

    # -- value and smooth gradient --------------------------------------------------
    def add_smooth(self, value, W):
        """``value + l2 / 2 ||W||^2`` (``value`` itself when there is no L2 term).

        Parameters
        ----------
        value : float
        W : ndarray of shape (K, n_features), float64
        """
        if self.l2 > 0.0:
            value += 0.5 * self.l2 * float(np.vdot(W, W))
        return value

    def add_smooth_gradient(self, grad_W, W):
        """``grad_W += l2 * W`` in place (nothing without an L2 term).

        Parameters
        ----------
        grad_W : ndarray of shape (K, n_features), float64
        W : ndarray of shape (K, n_features)
        """
        if self.l2 > 0.0:
            grad_W += self.l2 * W

    def l1_value(self, W):
        """``l1 * ||W||_1`` (0 without an L1 term)."""
        if self.l1 == 0.0:
            return 0.0
        return self.l1 * float(np.abs(W).sum())

    def value(self, W):
        """The whole penalty at ``W``: ``l2 / 2 ||W||^2 + l1 ||W||_1``."""
        value = 0.5 * self.l2 * float(np.vdot(W, W))
        if self.l1 > 0:
            value += self.l1 * float(np.abs(W).sum())
        return value

    # -- the non-smooth part ----------------------------------------------------------
    def prox(self, W, step):
        """The proximal operator of ``step * penalty`` at ``W``: soft-thresholding by
        ``step * l1``, then the L2 shrinkage ``1 / (1 + step * l2)``.

        Parameters
        ----------
        W : ndarray
        step : float

        Returns
        -------
        W_new : ndarray, float64, of the shape of ``W``
        """
        W = np.asarray(W, dtype=np.float64)
        shrunk = np.sign(W) * np.maximum(np.abs(W) - step * self.l1, 0.0)
        return shrunk / (1.0 + step * self.l2)

    def min_norm_subgradient(self, coef, grad, mask):
        """The element of least norm of ``∂(smooth + l1 ||coef[mask]||_1)`` at ``coef``.

        For a weight ``w`` with smooth gradient ``g`` it is ``g + l1 * sign(w)`` when
        ``w != 0`` and ``sign(g) * max(|g| - l1, 0)`` when ``w == 0``; for an intercept it
        is ``g``.  It is zero exactly at the optimum, and its max-norm is the stopping
        test of every full-batch solver (for ``l1 = 0`` it is the gradient, the test of
        L-BFGS).

        Parameters
        ----------
        coef, grad : ndarray of shape (n_params,)
            The point and the smooth part's gradient there.
        mask : ndarray of shape (n_params,), bool
            The penalised entries (:attr:`sk_softmax._layout.CoefLayout.penalty_mask`).

        Returns
        -------
        subgrad : ndarray of shape (n_params,), float64
        """
        return min_norm_subgradient(coef, grad, self.l1, mask)

    def flush_cumulative_l1(self, W, received, total):
        """Give every weight what it is owed under SGD's cumulative L1 penalty.

        ``total`` is the penalty a weight could have received so far (the sum of
        ``eta * l1`` over the steps), ``received`` (same shape as ``W``) what each did;
        a positive weight becomes ``max(0, w - (total + received))``, a negative one
        ``min(0, w + (total - received))``, and ``received`` records the change.  The
        kernels apply the same rule weight by weight
        (:func:`sk_softmax._kernels.cumulative_l1`).  In place.
        """
        before = W.copy()
        pos, neg = W > 0, W < 0
        W[pos] = np.maximum(0.0, W[pos] - (total + received[pos]))
        W[neg] = np.minimum(0.0, W[neg] + (total - received[neg]))
        received += W - before

    def critical_C(self, grad_at_zero):
        """The largest ``C`` at which every weight of the solution is zero.

        At zero weights (intercepts at their optimum) the optimality condition is
        ``max |G| <= l1 = r / (C S)``, with ``G`` the gradient of the mean cross-entropy
        with respect to the weights there; so all weights vanish for
        ``C <= r / (S max |G|)``.

        Parameters
        ----------
        grad_at_zero : ndarray of shape (K, n_features)
            ``G`` (:meth:`sk_softmax._loss.SoftmaxLoss.gradient_at_zero_weights`).

        Returns
        -------
        C : float
            0 without an L1 term (no finite C zeroes every weight), ``inf`` when ``G``
            is zero.
        """
        top = float(np.max(np.abs(grad_at_zero), initial=0.0))
        if self.l1_ratio == 0.0:
            return 0.0
        if top == 0.0:
            return np.inf
        return self.l1_ratio / (self.weight_sum * top)


def min_norm_subgradient(coef, grad, l1, mask):
    """Least-norm subgradient of ``smooth + l1 * ||coef[mask]||_1``; see
    :meth:`ElasticNet.min_norm_subgradient`.  All arrays of shape (n_params,)."""
    coef = np.asarray(coef, dtype=np.float64)
    out = np.array(grad, dtype=np.float64)
    if l1 == 0.0:
        return out
    g = out[mask]
    w = coef[mask]
    shrunk = np.sign(g) * np.maximum(np.abs(g) - l1, 0.0)
    out[mask] = np.where(w != 0.0, g + l1 * np.sign(w), shrunk)
    return out
