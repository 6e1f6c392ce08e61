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
penalties from here; the kernels receive :meth:`ElasticNet.scalars`.

The scaling is ``LogisticRegression``'s: with ``S`` the total sample weight, ratio ``r``
and inverse strength ``C``::

    penalty(W) = (1 - r) / (2 C S) * sum_kj f_j W_kj^2  +  r / (C S) * sum_kj f_j |W_kj|

with the per-feature penalty factors ``f`` (``penalty_factor``; all ones by default, 0:
the feature is not penalised).  ``C = inf`` is no penalty, whatever ``r``.

Constraints are part of the penalty object too (a box is the indicator penalty that is 0
inside and ``inf`` outside): :class:`Box` holds ``lower <= W <= upper`` (intercepts free),
and the penalty's :meth:`ElasticNet.flat_bounds`, :meth:`ElasticNet.project` and its
least-norm subgradient (the projected one at an active bound) are what the solvers use.
"""

from collections import namedtuple
from numbers import Real

import numpy as np

__all__ = [
    "Box",
    "ElasticNet",
    "GroupElasticNet",
    "PenaltyScalars",
    "check_l1_groups",
    "check_penalty_factor",
    "make_box",
    "min_norm_subgradient",
]

#: What the kernels take of a penalty: ``l2`` (smooth gradient ``l2 * W``) and ``l1``.
PenaltyScalars = namedtuple("PenaltyScalars", ["l2", "l1"])


class Box:
    """Bounds ``lower <= W <= upper`` on the weights (never the intercepts).

    Parameters
    ----------
    lower, upper : ndarray of shape (K, n_features), float64
        ``-inf`` / ``inf`` entries allowed; ``lower <= upper`` everywhere (checked by
        :func:`make_box`).
    """

    def __init__(self, lower, upper):
        self.lower = np.ascontiguousarray(lower, dtype=np.float64)
        self.upper = np.ascontiguousarray(upper, dtype=np.float64)

    def __repr__(self):
        return f"Box(lower={self.lower!r}, upper={self.upper!r})"

    def project(self, W):
        """Clip ``W`` (K, n_features) into the box, in place; returns ``W``."""
        np.clip(W, self.lower, self.upper, out=W)
        return W

    @property
    def contains_zero(self):
        """Whether ``W = 0`` lies in the box."""
        return bool(np.all(self.lower <= 0.0) and np.all(self.upper >= 0.0))


def _bound_array(value, name, n_classes, n_features):
    """One bound as an array of shape (K, n_features), or a ValueError naming the entry."""
    K = n_classes - 1 if n_classes == 2 else n_classes
    arr = np.asarray(value, dtype=np.float64) if value is not None else None
    if arr is None:
        arr = np.full((K, n_features), -np.inf if name == "lower_bounds" else np.inf)
    elif arr.ndim == 0:
        arr = np.full((K, n_features), float(arr))
    elif arr.shape == (n_features,):
        arr = np.tile(arr, (K, 1))
    elif arr.shape != (K, n_features):
        shapes = f"(n_features,) = ({n_features},) or (n_classes, n_features) = ({K}, {n_features})"
        if n_classes == 2:
            shapes = f"(n_features,) = ({n_features},) or (1, n_features) = (1, {n_features})"
        raise ValueError(
            f"{name} must be a scalar or an array of shape {shapes}; got shape {arr.shape}."
        )
    bad = np.argwhere(np.isnan(arr))
    if bad.size:
        k, j = bad[0]
        raise ValueError(f"{name} must not contain NaN; {name}[{k}, {j}] is NaN.")
    return arr


def make_box(lower_bounds, upper_bounds, n_classes, n_features):
    """The :class:`Box` of the estimators' ``lower_bounds`` / ``upper_bounds``, or None.

    Parameters
    ----------
    lower_bounds, upper_bounds : None, float or array-like
        A scalar, shape ``(n_features,)`` (the same bound for every class) or
        ``(K, n_features)`` with ``K = n_classes`` (``1`` for the binary model).
    n_classes, n_features : int

    Returns
    -------
    box : Box or None
        None when no entry is finite (no constraint).

    Raises
    ------
    ValueError
        A wrong shape, a NaN entry, or ``lower > upper`` somewhere (the first such entry
        is named).
    """
    if lower_bounds is None and upper_bounds is None:
        return None
    lower = _bound_array(lower_bounds, "lower_bounds", n_classes, n_features)
    upper = _bound_array(upper_bounds, "upper_bounds", n_classes, n_features)
    bad = np.argwhere(lower > upper)
    if bad.size:
        k, j = bad[0]
        raise ValueError(
            f"lower_bounds must not exceed upper_bounds; at class row {k}, feature {j}: "
            f"lower_bounds = {float(lower[k, j])!r} > upper_bounds = {float(upper[k, j])!r}."
        )
    if np.all(np.isinf(lower) & (lower < 0)) and np.all(np.isinf(upper) & (upper > 0)):
        return None
    return Box(lower, upper)


def check_penalty_factor(penalty_factor, n_features):
    """The estimators' ``penalty_factor`` as a float64 array of shape (n_features,), or
    None (all ones: the plain penalty).

    Raises
    ------
    ValueError
        A wrong shape, or an entry that is negative, NaN or infinite (the first is named).
    """
    if penalty_factor is None:
        return None
    if isinstance(penalty_factor, Real):
        raise ValueError(
            f"penalty_factor must be an array of shape (n_features,) = ({n_features},), "
            f"got the scalar {penalty_factor!r} (scale C instead)."
        )
    factor = np.asarray(penalty_factor, dtype=np.float64)
    if factor.shape != (n_features,):
        raise ValueError(
            f"penalty_factor must have shape (n_features,) = ({n_features},), "
            f"got shape {factor.shape}."
        )
    bad = np.flatnonzero(~(np.isfinite(factor) & (factor >= 0.0)))
    if bad.size:
        j = bad[0]
        raise ValueError(
            "penalty_factor must be finite and non-negative; "
            f"penalty_factor[{j}] = {float(factor[j])!r}."
        )
    if np.all(factor == 1.0):
        return None
    return factor


class ElasticNet:
    """The L2, L1 or elastic-net penalty, scaled as ``LogisticRegression`` scales it,
    with optional per-feature factors and bounds on the weights.

    Parameters
    ----------
    C : float
        Inverse regularisation strength in ``(0, inf]``.
    l1_ratio : float in [0, 1]
        Share ``r`` of the L1 term (0: L2 only).
    weight_sum : float
        ``S`` in ``1 / (C S)``: the total sample weight of the data (or the weight a
        stream or a validation split calls for).
    factor : ndarray of shape (n_features,) or None
        Per-feature factors ``f_j >= 0`` multiplying both terms of feature ``j``
        (:func:`check_penalty_factor`); None: all ones.
    box : Box or None
        Bounds on the weights (:func:`make_box`); None: unconstrained.

    Attributes
    ----------
    l2 : float
        ``(1 - r) / (C S)``, 0 for ``C = inf``: the smooth part is
        ``l2 / 2 sum f_j W_kj^2``.
    l1 : float
        ``r / (C S)``, 0 for ``C = inf``: the L1 term is ``l1 sum f_j |W_kj|``.
    """

    def __init__(self, C, l1_ratio, weight_sum, factor=None, box=None):
        self.C = C
        self.l1_ratio = float(l1_ratio)
        self.weight_sum = S = float(weight_sum)
        self.factor = factor
        self.box = box
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
        extra = ""
        if self.factor is not None:
            extra += f", factor={self.factor!r}"
        if self.box is not None:
            extra += f", box={self.box!r}"
        return (
            f"ElasticNet(C={self.C!r}, l1_ratio={self.l1_ratio!r}, "
            f"weight_sum={self.weight_sum!r}{extra})"
        )

    def with_weight_sum(self, weight_sum):
        """The same penalty (factors and bounds included) for another ``S``."""
        return ElasticNet(self.C, self.l1_ratio, weight_sum, self.factor, self.box)

    def with_C(self, C):
        """The same penalty (factors and bounds included) at another ``C``."""
        return ElasticNet(C, self.l1_ratio, self.weight_sum, self.factor, self.box)

    @property
    def has_l1(self):
        """Whether there is a non-smooth (L1) term: the solvers for it differ."""
        return self.l1 > 0.0

    @property
    def uniform(self):
        """Whether the penalty is the plain one: no per-feature factors and no bounds.

        Only then do the SGD kernels apply it themselves (:meth:`scalars`); the CSR
        gradient kernel adds ``l2 * W`` itself only without factors (:attr:`kernel_l2`).
        """
        return self.factor is None and self.box is None

    @property
    def kernel_l2(self):
        """The L2 strength a gradient kernel may add as ``l2 * W`` itself: ``l2``, or 0
        with per-feature factors (then :meth:`add_smooth_gradient` adds it)."""
        return self.l2 if self.factor is None else 0.0

    @property
    def max_l2(self):
        """The largest L2 strength of any weight, ``l2 * max f`` (SGD's step bound)."""
        if self.factor is None:
            return self.l2
        return self.l2 * float(np.max(self.factor, initial=0.0))

    def smooth_curvature(self, n_features):
        """The smooth part's second derivative in each weight, ``l2 * f_j``.

        Parameters
        ----------
        n_features : int

        Returns
        -------
        curvature : ndarray of shape (n_features,), float64
        """
        if self.factor is None:
            return np.full(n_features, self.l2)
        return self.l2 * np.asarray(self.factor, dtype=np.float64)

    def scalars(self):
        """The kernels' view: :class:`PenaltyScalars` ``(l2, l1)`` (the uniform penalty;
        SGD runs its own steps for the others, see :attr:`uniform`)."""
        return PenaltyScalars(self.l2, self.l1)

    def _per_weight(self, strength, W):
        """``strength * f`` broadcast over ``W`` (the 2-D weights or their flat view in
        the layout's C order), or the scalar ``strength`` without factors."""
        if self.factor is None:
            return strength
        W = np.asarray(W)
        return strength * (
            self.factor if W.ndim == 2 else np.tile(self.factor, W.size // self.factor.size)
        )

    # -- value and smooth gradient --------------------------------------------------
    def add_smooth(self, value, W):
        """``value + l2 / 2 sum f_j W_kj^2`` (``value`` itself when there is no L2 term).

        Parameters
        ----------
        value : float
        W : ndarray of shape (K, n_features), float64
        """
        if self.l2 > 0.0:
            if self.factor is None:
                # einsum reads a strided view of coef as it is (vdot would copy it: 8 %
                # of a fit on a million weights)
                idx = "ij" if np.ndim(W) == 2 else "i"
                value += 0.5 * self.l2 * float(np.einsum(f"{idx},{idx}->", W, W))
            else:
                value += 0.5 * self.l2 * float(np.sum(self.factor * (W * W)))
        return value

    def add_smooth_gradient(self, grad_W, W):
        """``grad_W += l2 * f * W`` in place (nothing without an L2 term).

        Parameters
        ----------
        grad_W : ndarray of shape (K, n_features), float64
        W : ndarray of shape (K, n_features)
        """
        if self.l2 > 0.0:
            if self.factor is None:
                grad_W += self.l2 * W
            else:
                grad_W += (self.l2 * self.factor) * W

    def l1_value(self, W):
        """``l1 * sum f_j |W_kj|`` (0 without an L1 term); ``W`` 2-D or the flat
        penalised entries."""
        if self.l1 == 0.0:
            return 0.0
        if self.factor is None:
            return self.l1 * float(np.abs(W).sum())
        return float(np.sum(self._per_weight(self.l1, W) * np.abs(W)))

    def value(self, W):
        """The whole penalty at ``W``: ``l2 / 2 sum f W^2 + l1 sum f |W|``."""
        if self.factor is None:
            value = 0.5 * self.l2 * float(np.vdot(W, W))
        else:
            value = 0.5 * self.l2 * float(np.sum(self.factor * (W * W)))
        return value + self.l1_value(W)

    # -- bounds -----------------------------------------------------------------------
    def flat_bounds(self, mask):
        """``(lower, upper)`` of the flat ``coef``: the box on the penalised entries
        (the weights, in the layout's C order), ``-inf`` / ``inf`` on the intercepts; None
        without a box.

        Parameters
        ----------
        mask : ndarray of shape (n_params,), bool
            :attr:`sk_softmax._layout.CoefLayout.penalty_mask`.
        """
        if self.box is None:
            return None
        lower = np.full(mask.shape[0], -np.inf)
        upper = np.full(mask.shape[0], np.inf)
        lower[mask] = self.box.lower.ravel()
        upper[mask] = self.box.upper.ravel()
        return lower, upper

    def project(self, coef, mask):
        """``coef`` (flat) with its weights clipped into the box (a new float64 array)."""
        coef = np.array(coef, dtype=np.float64)
        bounds = self.flat_bounds(mask)
        if bounds is not None:
            np.clip(coef, bounds[0], bounds[1], out=coef)
        return coef

    def project_weights(self, W):
        """Clip ``W`` (K, n_features) into the box in place (nothing without a box)."""
        if self.box is not None:
            self.box.project(W)

    # -- the non-smooth part ----------------------------------------------------------
    def prox(self, W, step):
        """The proximal operator of ``step * penalty`` at ``W``: soft-thresholding by
        ``step * l1 * f``, the L2 shrinkage ``1 / (1 + step * l2 * f)``, then the clip
        into the box (exact: the penalty is separable, and a one-dimensional convex
        function's prox under an interval constraint is its prox clipped).

        Parameters
        ----------
        W : ndarray of shape (K, n_features)
        step : float

        Returns
        -------
        W_new : ndarray, float64, of the shape of ``W``
        """
        W = np.asarray(W, dtype=np.float64)
        l1 = self._per_weight(step * self.l1, W)
        shrunk = np.sign(W) * np.maximum(np.abs(W) - l1, 0.0)
        out = shrunk / (1.0 + self._per_weight(step * self.l2, W))
        self.project_weights(out)
        return out

    def min_norm_subgradient(self, coef, grad, mask):
        """The element of least norm of ``∂(smooth + l1 sum f |coef[mask]| + box)`` at
        ``coef``.

        For a weight ``w`` with smooth gradient ``g`` the subdifferential is the interval
        ``[g + l1 f sign(w)]`` when ``w != 0`` and ``[g - l1 f, g + l1 f]`` when
        ``w == 0``; at an active lower bound it extends to ``-inf``, at an active upper
        bound to ``inf`` (the box's normal cone), and the result is the interval's point
        nearest 0.  For an intercept it is ``g``.  It is zero exactly at the optimum, and
        its max-norm is the stopping test of every full-batch solver (without L1 term and
        bounds it is the gradient, the test of L-BFGS).

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
        l1 = self.l1
        if self.factor is not None and l1 > 0.0:
            l1 = self._per_weight(l1, coef[mask])
        box = None if self.box is None else (self.box.lower.ravel(), self.box.upper.ravel())
        return min_norm_subgradient(coef, grad, l1, mask, box)

    def flush_cumulative_l1(self, W, received, total):
        """Give every weight what it is owed under SGD's cumulative L1 penalty.

        ``total`` is the penalty a weight of factor 1 could have received so far (the sum
        of ``eta * l1`` over the steps; weight ``(k, j)`` could have received
        ``total * f_j``), ``received`` (same shape as ``W``) what each did; a positive
        weight becomes ``max(0, w - (total + received))``, a negative one
        ``min(0, w + (total - received))``, and ``received`` records the change.  The
        kernels apply the same rule weight by weight
        (:func:`sk_softmax._kernels.cumulative_l1`).  In place.
        """
        total = self._per_weight(total, W)
        before = W.copy()
        pos, neg = W > 0, W < 0
        if np.ndim(total):
            total = np.broadcast_to(total, W.shape)
            W[pos] = np.maximum(0.0, W[pos] - (total[pos] + received[pos]))
            W[neg] = np.minimum(0.0, W[neg] + (total[neg] - received[neg]))
        else:
            W[pos] = np.maximum(0.0, W[pos] - (total + received[pos]))
            W[neg] = np.minimum(0.0, W[neg] + (total - received[neg]))
        received += W - before

    def critical_C(self, grad_at_zero):
        """The largest ``C`` at which every weight of the solution is zero.

        At zero weights (intercepts at their optimum) the optimality condition is
        ``|G_kj| <= l1 f_j = r f_j / (C S)`` for every weight, with ``G`` the gradient of
        the mean cross-entropy with respect to the weights there; a bound at zero drops
        one side (``lower = 0``: only ``-G_kj`` counts, ``upper = 0``: only ``G_kj``;
        both: the weight is fixed).  So all weights vanish for
        ``C <= r / (S max_kj (v_kj / f_j))``, ``v`` the violation that counts.

        Parameters
        ----------
        grad_at_zero : ndarray of shape (K, n_features)
            ``G`` (:meth:`sk_softmax._loss.SoftmaxLoss.gradient_at_zero_weights`).

        Returns
        -------
        C : float
            0 without an L1 term or when no ``C`` zeroes every weight (a box that
            excludes zero, a feature of factor 0 whose ``G`` is not zero); ``inf`` when
            nothing is violated at zero.
        """
        G = np.asarray(grad_at_zero, dtype=np.float64)
        if self.l1_ratio == 0.0:
            return 0.0
        violation = np.abs(G)
        if self.box is not None:
            if not self.box.contains_zero:
                return 0.0
            violation = np.where(self.box.lower == 0.0, np.maximum(-G, 0.0), violation)
            violation = np.where(self.box.upper == 0.0, np.maximum(G, 0.0), violation)
            violation = np.where((self.box.lower == 0.0) & (self.box.upper == 0.0), 0.0, violation)
        if self.factor is not None:
            if np.any((violation > 0.0) & (self.factor == 0.0)):
                return 0.0
            with np.errstate(divide="ignore", invalid="ignore"):
                violation = np.where(violation > 0.0, violation / self.factor, 0.0)
        top = float(np.max(violation, initial=0.0))
        if top == 0.0:
            return np.inf
        return self.l1_ratio / (self.weight_sum * top)


def min_norm_subgradient(coef, grad, l1, mask, box=None):
    """Least-norm subgradient of ``smooth + sum l1 * |coef[mask]|`` (``l1`` a scalar or
    one strength per penalised entry) within ``box = (lower, upper)`` of the penalised
    entries (or None); see :meth:`ElasticNet.min_norm_subgradient`.  Arrays of shape
    (n_params,) except ``l1`` and ``box``'s, of shape (n_penalised,)."""
    coef = np.asarray(coef, dtype=np.float64)
    out = np.array(grad, dtype=np.float64)
    scalar = np.ndim(l1) == 0
    if scalar and l1 == 0.0 and box is None:
        return out
    g = out[mask]
    w = coef[mask]
    if box is None:
        shrunk = np.sign(g) * np.maximum(np.abs(g) - l1, 0.0)
        out[mask] = np.where(w != 0.0, g + l1 * np.sign(w), shrunk)
        return out
    # the subdifferential [lo, hi] of each penalised entry, widened by the normal cone
    # of an active bound, and its point nearest 0
    lo = np.where(w != 0.0, g + l1 * np.sign(w), g - l1)
    hi = np.where(w != 0.0, lo, g + l1)
    lo = np.where(w <= box[0], -np.inf, lo)
    hi = np.where(w >= box[1], np.inf, hi)
    out[mask] = np.where(lo > 0.0, lo, np.where(hi < 0.0, hi, 0.0))
    return out


def check_l1_groups(l1_groups, n_features, penalty_factor=None, box=None):
    """The estimators' ``l1_groups`` as one integer group per feature, or None.

    Parameters
    ----------
    l1_groups : None, "features" or array-like of shape (n_features,)
        None: element-wise L1; ``"features"``: each feature's ``K`` weights one group;
        an array: any non-negative integer labels, one per feature (the labels' values
        do not matter, only which features share one).
    n_features : int
    penalty_factor : ndarray of shape (n_features,) or None
        Checked by :func:`check_penalty_factor`: it must be constant within each group.
    box : Box or None
        Bounds (:func:`make_box`): not supported with groups.

    Returns
    -------
    groups : ndarray of shape (n_features,), int64, or None
        Groups numbered ``0 .. n_groups - 1`` in order of first appearance of their label
        in sorted label order.

    Raises
    ------
    ValueError
        A wrong shape, a label that is negative, not an integer, NaN or infinite; a
        ``penalty_factor`` that differs within a group; bounds.
    """
    if l1_groups is None:
        return None
    if isinstance(l1_groups, str):
        if l1_groups != "features":
            raise ValueError(
                f"l1_groups must be None, 'features' or an array of shape (n_features,) "
                f"of non-negative integers; got the string {l1_groups!r}."
            )
        groups = np.arange(n_features, dtype=np.int64)
    else:
        labels = np.asarray(l1_groups)
        if labels.shape != (n_features,):
            raise ValueError(
                f"l1_groups must have shape (n_features,) = ({n_features},), "
                f"got shape {labels.shape}."
            )
        if labels.dtype.kind not in "iub":
            values = np.asarray(labels, dtype=np.float64)  # ValueError for strings
            bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
            if bad.size:
                j = bad[0]
                raise ValueError(
                    f"l1_groups must hold integer group labels; l1_groups[{j}] = {labels[j]!r}."
                )
            labels = values.astype(np.int64)
        bad = np.flatnonzero(labels < 0)
        if bad.size:
            j = bad[0]
            raise ValueError(
                f"l1_groups must hold non-negative group labels; l1_groups[{j}] = {int(labels[j])}."
            )
        groups = np.unique(labels, return_inverse=True)[1].astype(np.int64).ravel()
    if box is not None:
        raise ValueError(
            "l1_groups cannot be combined with lower_bounds or upper_bounds (the block "
            "soft-thresholding of a group does not commute with a box): use one or the "
            "other."
        )
    if penalty_factor is not None:
        first = np.zeros(int(groups.max(initial=-1)) + 1)
        first[groups] = penalty_factor
        bad = np.flatnonzero(first[groups] != penalty_factor)
        if bad.size:
            j = bad[0]
            raise ValueError(
                "with l1_groups, penalty_factor must be the same for every feature of a "
                f"group; feature {j} of group {int(groups[j])} has penalty_factor "
                f"{float(penalty_factor[j])!r}, another feature of the group "
                f"{float(first[groups[j]])!r}."
            )
    return groups


class GroupElasticNet(ElasticNet):
    """The grouped penalty: element-wise L2, L1 over groups of weights (group lasso).

    ``l1_groups`` assigns each feature to a group ``g``; a group's weights are its
    features' columns of ``W`` for every class (all ``K`` rows), and its weight in the
    L1 term is ``w_g = f_g sqrt(n_g)`` (``n_g`` features in the group, ``f_g`` their
    common penalty factor; Yuan and Lin's scaling)::

        penalty(W) = l2 / 2 sum_kj f_j W_kj^2  +  l1 sum_g w_g ||W[:, G_g]||_F

    with ``l2 = (1 - r) / (C S)`` and ``l1 = r / (C S)`` as in :class:`ElasticNet`.  With
    one feature per group (``l1_groups="features"``) it is glmnet's grouped multinomial
    penalty ``sum_j ||W[:, j]||_2``; for the binary model (``K = 1``) one group per
    feature is the element-wise L1 penalty.

    Parameters
    ----------
    C, l1_ratio, weight_sum, factor
        As for :class:`ElasticNet`.
    groups : ndarray of shape (n_features,), integer
        Group of each feature, ``0 .. n_groups - 1`` (:func:`check_l1_groups`).

    Attributes
    ----------
    groups : ndarray of shape (n_features,)
    n_groups : int
    group_weight : ndarray of shape (n_groups,)
        ``w_g``.
    """

    def __init__(self, C, l1_ratio, weight_sum, groups, factor=None):
        super().__init__(C, l1_ratio, weight_sum, factor, None)
        self.groups = np.asarray(groups, dtype=np.int64)
        self.n_groups = int(self.groups.max(initial=-1)) + 1
        sizes = np.bincount(self.groups, minlength=self.n_groups).astype(np.float64)
        weight = np.sqrt(sizes)
        if factor is not None:
            f = np.zeros(self.n_groups)
            f[self.groups] = factor
            weight = weight * f
        self.group_weight = weight

    def __repr__(self):
        return f"Group{super().__repr__()[:-1]}, groups={self.groups!r})"

    def with_weight_sum(self, weight_sum):
        """The same penalty for another ``S``."""
        return GroupElasticNet(self.C, self.l1_ratio, weight_sum, self.groups, self.factor)

    def with_C(self, C):
        """The same penalty at another ``C``."""
        return GroupElasticNet(C, self.l1_ratio, self.weight_sum, self.groups, self.factor)

    @property
    def uniform(self):
        """Never: SGD's kernels do not apply a group penalty."""
        return False

    def group_norms(self, W):
        """``||W[:, G_g]||_F`` for every group: ndarray of shape (n_groups,)."""
        W = np.asarray(W, dtype=np.float64)
        sq = np.bincount(self.groups, weights=np.einsum("kj,kj->j", W, W), minlength=self.n_groups)
        return np.sqrt(sq)

    def l1_value(self, W):
        """``l1 sum_g w_g ||W[:, G_g]||_F`` (0 without an L1 term); ``W`` of shape
        (K, n_features)."""
        if self.l1 == 0.0:
            return 0.0
        return self.l1 * float(np.dot(self.group_weight, self.group_norms(W)))

    def prox(self, W, step):
        """The proximal operator of ``step * penalty`` at ``W`` (K, n_features): block
        soft-thresholding of each group by ``step * l1 * w_g``, then the L2 shrinkage
        ``1 / (1 + step * l2 * f_g)`` (exact: ``f`` is constant within a group, so the
        L2 term of a group is a multiple of its squared norm and the composition is the
        prox of the sum).

        Returns
        -------
        W_new : ndarray of shape (K, n_features), float64
        """
        W = np.asarray(W, dtype=np.float64)
        norms = self.group_norms(W)
        thresh = step * self.l1 * self.group_weight
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(norms > thresh, 1.0 - thresh / norms, 0.0)
        out = W * scale[self.groups]
        if self.l2 > 0.0:
            out /= 1.0 + self._per_weight(step * self.l2, out)
        return out

    def min_norm_subgradient(self, coef, grad, mask):
        """The element of least norm of ``∂(smooth + group L1)`` at ``coef``.

        For a group with weights ``W_g != 0`` and smooth gradient ``G_g`` it is
        ``G_g + l1 w_g W_g / ||W_g||``; at ``W_g = 0`` the subdifferential is the ball of
        radius ``l1 w_g`` around ``G_g`` and its point nearest 0 is
        ``G_g max(0, 1 - l1 w_g / ||G_g||)``; for an intercept it is ``g``.  Zero exactly
        at the optimum; its max-norm is the solver's stopping test.

        Parameters
        ----------
        coef, grad : ndarray of shape (n_params,)
        mask : ndarray of shape (n_params,), bool
            The penalised entries (the weights).

        Returns
        -------
        subgrad : ndarray of shape (n_params,), float64
        """
        out = np.array(grad, dtype=np.float64)
        if self.l1 == 0.0:
            return out
        n_features = self.groups.shape[0]
        W = np.asarray(coef, dtype=np.float64)[mask].reshape(-1, n_features)
        G = out[mask].reshape(-1, n_features)
        wnorm, gnorm = self.group_norms(W), self.group_norms(G)
        radius = self.l1 * self.group_weight
        with np.errstate(divide="ignore", invalid="ignore"):
            at_zero = np.where(gnorm > radius, 1.0 - radius / gnorm, 0.0)
            pull = np.where(wnorm > 0.0, radius / wnorm, 0.0)
        nonzero = (wnorm > 0.0)[self.groups]
        sub = np.where(nonzero, G + pull[self.groups] * W, G * at_zero[self.groups])
        out[mask] = sub.ravel()
        return out

    def critical_C(self, grad_at_zero):
        """The largest ``C`` at which every group of the solution is zero.

        At zero weights the optimality condition is ``||G_g||_F <= l1 w_g`` for every
        group, so all groups vanish for ``C <= r / (S max_g ||G_g||_F / w_g)``.

        Parameters
        ----------
        grad_at_zero : ndarray of shape (K, n_features)

        Returns
        -------
        C : float
            0 without an L1 term or when a group of weight 0 has ``G_g != 0``; ``inf``
            when ``G = 0``.
        """
        if self.l1_ratio == 0.0:
            return 0.0
        gnorm = self.group_norms(grad_at_zero)
        if np.any((gnorm > 0.0) & (self.group_weight == 0.0)):
            return 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(gnorm > 0.0, gnorm / self.group_weight, 0.0)
        top = float(np.max(ratio, initial=0.0))
        if top == 0.0:
            return np.inf
        return self.l1_ratio / (self.weight_sum * top)
