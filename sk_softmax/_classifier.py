"""The estimator: parameter validation, label encoding, weights, wiring to loss and solver."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, _fit_context
from sklearn.linear_model._base import LinearClassifierMixin, SparseCoefMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._kernels import softmax_rows
from ._loss import SoftmaxLoss
from ._solvers import minimize_lbfgs
from ._threading import effective_n_threads, kernel_threads

__all__ = ["SoftmaxClassifier"]


class SoftmaxClassifier(LinearClassifierMixin, SparseCoefMixin, BaseEstimator):
    """Softmax regression (multinomial logistic regression) with an L2 penalty.

    Minimises the same objective as :class:`sklearn.linear_model.LogisticRegression`
    with the lbfgs solver, so coefficients can be compared one to one::

        (1 / S) * sum_i s_i * -log P[i, y_i]  +  ||W||_F^2 / (2 C S)

    where ``P = softmax(X @ W.T + b)`` row-wise, ``s_i`` are the sample weights (times
    the class weights) and ``S = sum_i s_i``.  The intercept is not penalised.  With two
    classes the model is the logistic (sigmoid) model with one weight vector, exactly as
    in ``LogisticRegression``.

    The loss and its gradient are computed by a fused, parallel numba kernel in one
    pass over ``X``; float32 input is kept in float32.

    Parameters
    ----------
    C : float, default=1.0
        Inverse of the regularisation strength, in ``(0, inf]``; ``np.inf`` means no
        penalty.
    fit_intercept : bool, default=True
        Whether to fit (unpenalised) intercepts.
    solver : {"lbfgs"}, default="lbfgs"
        Optimisation algorithm: scipy's L-BFGS-B with ``LogisticRegression``'s options.
    tol : float, default=1e-4
        Stop when the max-norm of the gradient of the objective is below ``tol``.
    max_iter : int, default=100
        Maximum number of L-BFGS iterations.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.  "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))`` (weighted counts when
        ``sample_weight`` is given), as scikit-learn does.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    verbose : int, default=0
        If positive, print the objective after every iteration.
    n_jobs : int or None, default=None
        Threads used by the numba kernels.  ``None`` or ``-1`` use all the threads numba
        was given (``NUMBA_NUM_THREADS``, which joblib lowers in its workers), ``-2``
        all but one.  The setting applies during the call only.  Results do not depend
        on it.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, sorted.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients; one row for binary problems (the positive class ``classes_[1]``).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros when ``fit_intercept=False``).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features seen during fit, when ``X`` has string column names.
    n_iter_ : ndarray of shape (1,)
        Number of solver iterations.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The same model, fitted by scikit-learn.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sk_softmax import SoftmaxClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxClassifier(C=1.0, max_iter=1000).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="right")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"lbfgs"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "n_jobs": [None, Integral],
    }

    def __init__(
        self,
        *,
        C=1.0,
        fit_intercept=True,
        solver="lbfgs",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        warm_start=False,
        verbose=0,
        n_jobs=None,
    ):
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.  float32 and float64 are kept (no copy when C-contiguous);
            other dtypes are converted to float64.
        y : array-like of shape (n_samples,)
            Class labels (integers, strings, booleans...); at least two classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, not all zero.  Multiplied by the class weights.

        Returns
        -------
        self : SoftmaxClassifier
            The fitted estimator.
        """
        n_threads = effective_n_threads(self.n_jobs)
        X, y = validate_data(
            self, X, y, accept_sparse=False, dtype=[np.float64, np.float32], order="C"
        )
        check_classification_targets(y)
        classes, y_enc = np.unique(y, return_inverse=True)
        if classes.shape[0] < 2:
            raise ValueError(
                "SoftmaxClassifier needs samples of at least 2 classes in the data, but "
                f"the data contains only one class: {classes[0]!r}."
            )
        y_enc = y_enc.astype(np.intp, copy=False).reshape(-1)
        sw = self._sample_weight(X, y, classes, sample_weight)

        coef0 = self._initial_coef(classes.shape[0], X.shape[1])
        loss = SoftmaxLoss(
            X, y_enc, classes.shape[0], sw, C=self.C,
            fit_intercept=self.fit_intercept, n_threads=n_threads,
        )
        coef0 = loss.pack(*coef0) if coef0 is not None else np.zeros(loss.n_params)
        # Hold the thread settings for the whole solve, not just inside each evaluation:
        # with BLAS back at full width between evaluations, OpenBLAS threads woken by
        # L-BFGS-B's vector updates keep spinning and steal the cores from the next
        # kernel call (measured: MNIST 10k-row fit 2.84 s -> 1.32 s, float64).
        with kernel_threads(n_threads):
            coef, n_iter, _ = minimize_lbfgs(
                loss, coef0, max_iter=self.max_iter, tol=self.tol, verbose=self.verbose
            )
        W, b = loss.weight_intercept(coef)
        self.classes_ = classes
        self.coef_ = np.array(W, dtype=X.dtype, order="C")
        self.intercept_ = np.array(b, dtype=X.dtype)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        return self

    def _sample_weight(self, X, y, classes, sample_weight):
        """Validated float64 sample weights with class weights folded in, or None."""
        if sample_weight is None and self.class_weight is None:
            return None
        sw = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        if isinstance(self.class_weight, str):  # "balanced"
            totals = np.bincount(np.searchsorted(classes, y), weights=sw,
                                 minlength=classes.shape[0])
            if np.any(totals <= 0):
                empty = classes[totals <= 0]
                raise ValueError(
                    "class_weight='balanced' needs a positive total sample weight in "
                    f"every class; the sample weights of class(es) {list(empty)!r} sum "
                    "to zero."
                )
        if self.class_weight is not None:
            cw = compute_class_weight(
                self.class_weight, classes=classes, y=y, sample_weight=sample_weight
            )
            sw = sw * cw[np.searchsorted(classes, y)]
        if not sw.sum() > 0:
            raise ValueError(
                "The sum of the sample weights (times the class weights) is zero: "
                "at least one sample must have a positive weight."
            )
        return sw

    def _initial_coef(self, n_classes, n_features):
        """``(W, b)`` of the previous fit for ``warm_start``, else None."""
        if not (self.warm_start and hasattr(self, "coef_")):
            return None
        K = n_classes - 1 if n_classes == 2 else n_classes
        if self.coef_.shape != (K, n_features):
            raise ValueError(
                f"warm_start: the previous fit's coef_ has shape {self.coef_.shape}, "
                f"but this data needs ({K}, {n_features}) (n_classes={n_classes}, "
                f"n_features={n_features}). Set warm_start=False to start afresh."
            )
        return self.coef_, self.intercept_

    def _softmax(self, scores, log):
        """(log-)softmax of decision scores; binary scores are the logit of class 1."""
        binary = scores.ndim == 1
        Z = np.ascontiguousarray(scores.reshape(-1, 1) if binary else scores)
        if Z.dtype not in (np.float32, np.float64):
            Z = Z.astype(np.float64)
        out = np.empty((Z.shape[0], Z.shape[1] + binary), dtype=Z.dtype)
        with kernel_threads(effective_n_threads(self.n_jobs)):
            softmax_rows(Z, binary, log, out)
        return out

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``; rows sum to 1.
        """
        check_is_fitted(self)
        return self._softmax(self.decision_function(X), log=False)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed as a log-softmax.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Finite everywhere (clipped at the dtype's most negative finite value).
        """
        check_is_fitted(self)
        return self._softmax(self.decision_function(X), log=True)
