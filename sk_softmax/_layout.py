"""The flat coefficient vector of the solvers, and the fitted attributes made from it.

The solvers work on one flat float64 vector ``coef``:

* multinomial (``n_classes >= 3``): ``coef.reshape(n_classes, n_features + fit_intercept)``
  in C order, row ``k`` being ``[W_k, b_k]`` (``b_k`` present only with an intercept);
* binary (``n_classes == 2``): ``coef`` of shape ``(n_features + fit_intercept,)`` is
  ``[w, b]``, the logit of class 1 is ``x @ w + b`` and that of class 0 is fixed at 0.
  This is the sigmoid model of ``LogisticRegression`` with the same objective, and it is
  what ``softmax([0, z])`` computes, so the kernels treat it as a softmax with an
  implicit zero logit (``ref_zero``) and ``K = 1`` stored row.

In both cases the kernels see ``W`` of shape ``(K, n_features)`` and ``b`` of shape
``(K,)`` with ``K = n_classes - (n_classes == 2)``.  This module is the one place that
knows the layout: the loss, the solvers, the estimators, the callbacks, CV and the dask
backend all go through :class:`CoefLayout` and :func:`fitted_attributes`.
"""

import numpy as np

__all__ = ["CoefLayout", "fitted_attributes", "n_weight_rows"]


def n_weight_rows(n_classes):
    """``K``, the stored rows of ``W``: ``n_classes``, or 1 for the binary model."""
    return n_classes - 1 if n_classes == 2 else n_classes


class CoefLayout:
    """Where the weights and intercepts sit in the flat ``coef``.

    Parameters
    ----------
    n_features : int
    n_classes : int
        At least 2.
    fit_intercept : bool

    Attributes
    ----------
    K : int
        Stored rows of ``W``.
    binary : bool
        Whether the model is the binary (sigmoid) one.
    n_params : int
        Length of ``coef``: ``K * (n_features + fit_intercept)``.
    """

    def __init__(self, n_features, n_classes, fit_intercept):
        if n_classes < 2:
            raise ValueError(f"n_classes must be at least 2, got {n_classes}.")
        self.n_features = n_features
        self.n_classes = n_classes
        self.fit_intercept = fit_intercept
        self.binary = n_classes == 2
        self.K = n_weight_rows(n_classes)
        self.n_params = self.K * (n_features + fit_intercept)

    @property
    def coef_shape(self):
        """Shape of the 2-D view of ``coef``: ``(K, n_features + fit_intercept)``."""
        return (self.K, self.n_features + self.fit_intercept)

    def weight_intercept(self, coef):
        """Split a flat ``coef`` into views ``W`` (K, n_features) and ``b`` (K,).

        ``b`` is a zero array when there is no intercept.
        """
        coef2 = np.asarray(coef).reshape(self.coef_shape)
        W = coef2[:, : self.n_features]
        if self.fit_intercept:
            b = coef2[:, -1]
        else:
            b = np.zeros(self.K, dtype=coef2.dtype)
        return W, b

    def pack(self, W, b=None):
        """Flat float64 ``coef`` from ``W`` (K, n_features) and ``b`` (K,); inverse of
        :meth:`weight_intercept`."""
        coef2 = np.zeros(self.coef_shape, dtype=np.float64)
        coef2[:, : self.n_features] = W
        if self.fit_intercept and b is not None:
            coef2[:, -1] = b
        return coef2.ravel()

    def start(self, init=None):
        """The solvers' starting ``coef``: ``init = (W, b)`` packed, or zeros."""
        return self.pack(*init) if init is not None else np.zeros(self.n_params)

    @property
    def penalty_mask(self):
        """Which entries of the flat ``coef`` are penalised (the weights, not the
        intercepts): bool ndarray of shape (n_params,)."""
        mask = np.ones(self.coef_shape, dtype=bool)
        if self.fit_intercept:
            mask[:, -1] = False
        return mask.ravel()


def fitted_attributes(W, b, dtype, fit_intercept, box=None):
    """``coef_`` and ``intercept_`` of a fitted estimator, in the data's dtype.

    Parameters
    ----------
    W : array-like of shape (K, n_features)
    b : array-like of shape (K,) or None
        Ignored (zeros) without an intercept.
    dtype : numpy dtype
    fit_intercept : bool
    box : Box or None
        The bounds ``W`` satisfies: a weight that rounding to ``dtype`` (float32) put
        outside is moved to the neighbouring value inside, so that ``coef_`` keeps the
        bounds exactly.

    Returns
    -------
    coef : ndarray of shape (K, n_features), C-contiguous
    intercept : ndarray of shape (K,)
    """
    coef = np.array(W, dtype=dtype, order="C")
    if box is not None and coef.dtype != np.float64:
        below, above = coef < box.lower, coef > box.upper
        coef[below] = np.nextafter(coef[below], np.inf, dtype=coef.dtype)
        coef[above] = np.nextafter(coef[above], -np.inf, dtype=coef.dtype)
    intercept = np.array(b, dtype=dtype) if fit_intercept else np.zeros(coef.shape[0], dtype=dtype)
    return coef, intercept
