"""The estimator's inference methods: validation and wiring of :mod:`sk_softmax._inference`.

``SoftmaxClassifier`` inherits :class:`InferenceMixin`; the computation (Newton polish,
Hessian, sandwich, contrasts) lives in ``_inference``, the user's view in
docs/user_guide/inference.rst.
"""

import warnings

import numpy as np
import scipy.stats
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from . import _inference
from ._loss import SoftmaxLoss
from ._penalty import check_penalty_factor, make_box
from ._precision import PrecisionStages
from ._solvers import minimize_full_batch
from ._threading import blas_threads, effective_n_threads, kernel_threads
from ._validation import encode_known_labels, fit_sample_weight

__all__ = ["InferenceMixin"]

#: The fit's optimum is first tightened by L-BFGS to this max-norm of the (mean-scaled)
#: gradient: passes over X cost far less than a Hessian, so the Newton steps that follow
#: usually need one Hessian, the one the covariance uses (docs/design.md).
TIGHT_TOL = 1e-10
TIGHT_MAX_ITER = 1000

_COMMON_PARAMS = """
        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            The data the covariance is estimated on, normally the training data.  NumPy,
            pandas or SciPy sparse input; dask collections are not supported (compute
            them first).
        y : array-like of shape (n_samples,)
            Labels, each one of ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights: a weight of 2 counts a sample twice (``n`` in HC1 and the
            cluster correction is their sum).  Multiplied by the class weights, as in
            :meth:`fit`.
        cov_type : {"nonrobust", "HC0", "HC1", "cluster"}, default="nonrobust"
            "nonrobust": the inverse of the (penalised) Hessian; "HC0": the sandwich
            ``H^-1 B H^-1`` with ``B`` the sum of the samples' score products; "HC1":
            HC0 times ``n / (n - k)``; "cluster": the sandwich over ``groups``' score
            sums times ``G / (G - 1) * (n - 1) / (n - k)``.  These equal statsmodels'
            ``cov_type`` of the same name; statsmodels' MNLogit and Logit return HC0
            for "HC1" (the correction is ours).
        groups : array-like of shape (n_samples,), default=None
            Cluster labels, required with (and only with) ``cov_type="cluster"``.
        reference_class : label, default=None
            Report each other class's coefficients minus this class's (its logit fixed
            at zero, MNLogit's parameters).  ``None``: the first class for an unpenalised
            (``C=inf``) multinomial or any binary model; for a penalised multinomial
            model, every class's own coefficients (intercepts centred to sum zero).
"""


def _doc(text):
    return text.replace("%(params)s", _COMMON_PARAMS.strip("\n"))


class InferenceMixin:
    """Standard errors, covariances and coefficient tables of a fitted softmax model."""

    def _inference_data(self, X, y, sample_weight):
        check_is_fitted(self)
        if any(type(a).__module__.partition(".")[0] in ("dask", "dask_expr") for a in (X, y)):
            raise TypeError(
                "Inference is computed on NumPy or SciPy data: call .compute() on the dask "
                "collections (the Hessian has n_params^2 entries, which fit in memory "
                "whenever inference makes sense)."
            )
        if not isinstance(self.coef_, np.ndarray):
            raise TypeError(
                "Inference is computed with NumPy: this model was fitted on array API input "
                f"and its coef_ is a {type(self.coef_).__module__} array. Move it to NumPy "
                "(sklearn.utils._array_api.move_estimator_to) and pass NumPy data."
            )
        if np.isfinite(self.C) and self.l1_ratio > 0:
            raise ValueError(
                f"Inference is not available for L1 or elastic-net models (l1_ratio="
                f"{self.l1_ratio}): standard errors computed as for a fixed model ignore "
                "the selection of the non-zero coefficients and are not valid. Refit the "
                "selected features with l1_ratio=0 on fresh data."
            )
        if make_box(self.lower_bounds, self.upper_bounds, 2, self.n_features_in_) is not None:
            raise ValueError(
                "Inference is not available for models with lower_bounds or upper_bounds: "
                "at a bound the estimates are not normally distributed around the truth and "
                "the covariance of the unconstrained model does not describe them. Refit "
                "without bounds."
            )
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse="csr",
            dtype=[np.float64, np.float32],
            order="C",
            reset=False,
        )
        y_enc = encode_known_labels(y, self.classes_)
        sw = fit_sample_weight(X, y, self.classes_, sample_weight, self.class_weight)
        return X, y_enc, sw

    def _reference_index(self, reference_class):
        if reference_class is None:
            return None
        hits = np.flatnonzero(self.classes_ == reference_class)
        if hits.size != 1:
            raise ValueError(
                f"reference_class={reference_class!r} is not one of the classes "
                f"{list(self.classes_)!r}."
            )
        return int(hits[0])

    def _inference(self, X, y, sample_weight, cov_type, groups, reference_class):
        """``(Inference, reference index or None)`` after validating every argument."""
        if cov_type not in _inference.COV_TYPES:
            raise ValueError(
                f"cov_type must be one of {list(_inference.COV_TYPES)}, got {cov_type!r}."
            )
        X, y_enc, sw = self._inference_data(X, y, sample_weight)
        groups = _check_groups(groups, cov_type, X.shape[0])
        ref = self._reference_index(reference_class)
        n_classes = self.classes_.shape[0]
        if n_classes == 2 or np.isinf(self.C):
            model_ref = 0 if ref is None else ref
        else:
            model_ref = None  # symmetric; contrasted below if asked
        factor = check_penalty_factor(self.penalty_factor, X.shape[1])
        model = _inference.InferenceModel(
            n_classes,
            X.shape[1],
            self.fit_intercept,
            model_ref,
            0.0 if np.isinf(self.C) else 1.0 / self.C,
            factor,
        )
        _inference.check_hessian_size(model.n_params)
        if self.n_iter_[0] >= self.max_iter:
            warnings.warn(
                f"The fit stopped at max_iter={self.max_iter} before converging: the "
                "estimates are finished by Newton steps from it, but a fit this far from "
                "its optimum may mean a problem with the data or C (refit with a larger "
                "max_iter to be sure).",
                ConvergenceWarning,
                stacklevel=3,
            )
        coef, intercept = self._tight_estimates(X, y_enc, sw)
        with blas_threads(self.n_jobs):
            result = _inference.infer(
                X, y_enc, sw, model, coef, intercept, cov_type=cov_type, groups=groups
            )
        if model_ref is None and ref is not None:
            result = _inference.contrast(result, n_classes, model.q, ref)
        return result

    def _tight_estimates(self, X, y_enc, sw):
        """The fit's objective on ``X, y`` minimised by L-BFGS from ``coef_`` to
        ``TIGHT_TOL``, in float64 (no float32 stage): ``(W, b)``."""
        n_classes = self.classes_.shape[0]
        loss = SoftmaxLoss(
            X,
            y_enc,
            n_classes,
            sw,
            C=self.C,
            fit_intercept=self.fit_intercept,
            l1_ratio=0.0,
            penalty_factor=check_penalty_factor(self.penalty_factor, X.shape[1]),
        )
        coef0 = loss.layout.start(
            (np.array(self.coef_, dtype=np.float64), np.array(self.intercept_, np.float64))
        )
        n_threads = None if loss.small else effective_n_threads(self.n_jobs)
        with kernel_threads(n_threads), warnings.catch_warnings():
            # the Newton steps finish what L-BFGS leaves, and say when they cannot
            warnings.simplefilter("ignore", ConvergenceWarning)
            coef, _, _ = minimize_full_batch(
                PrecisionStages(loss), coef0, max_iter=TIGHT_MAX_ITER, tol=TIGHT_TOL, verbose=0
            )
        return loss.layout.weight_intercept(coef)

    def covariance_matrix(
        self,
        X,
        y,
        sample_weight=None,
        *,
        cov_type="nonrobust",
        groups=None,
        reference_class=None,
    ):
        return self._inference(X, y, sample_weight, cov_type, groups, reference_class).cov

    covariance_matrix.__doc__ = _doc(
        """Covariance matrix of the estimated coefficients.

        The estimates are the fitted coefficients polished by Newton steps to far below
        the fit's ``tol`` (the optimum of the same objective on ``X, y``), reported as
        one row per class: ``[intercept, w_1, ..., w_p]`` (without the intercept when
        ``fit_intercept=False``); see :meth:`coef_table` for the rows' classes.

        With ``C=np.inf`` these are maximum-likelihood estimates and their covariance
        equals statsmodels' MNLogit (or Logit, for two classes).  With a finite ``C``
        the covariance is that of the penalised estimates (the inverse of the penalised
        Hessian, or its sandwich), as glum computes it for penalised fits: the estimates
        are biased toward zero and the standard errors describe their variability around
        that biased value, so neither the intervals nor the p-values are those of the
        maximum-likelihood estimates.

%(params)s

        Returns
        -------
        cov : ndarray of shape (n_rows * n_coef, n_rows * n_coef)
            In the row-major order of :meth:`std_errors` (class by class, intercept
            first); ``n_rows`` is ``n_classes - 1`` with a reference class, else
            ``n_classes``; ``n_coef`` is ``n_features + fit_intercept``.

        Raises
        ------
        ValueError
            For an L1 / elastic-net model, perfectly or quasi-separated data at
            ``C=inf``, collinear features at ``C=inf``, a Hessian above
            ``sk_softmax._inference.MAX_HESSIAN_BYTES`` (1 GiB), or bad arguments.
        TypeError
            For dask input.
        """
    )

    def std_errors(
        self,
        X,
        y,
        sample_weight=None,
        *,
        cov_type="nonrobust",
        groups=None,
        reference_class=None,
    ):
        result = self._inference(X, y, sample_weight, cov_type, groups, reference_class)
        return np.sqrt(np.diag(result.cov)).reshape(result.params.shape)

    std_errors.__doc__ = _doc(
        """Standard errors of the estimated coefficients (see :meth:`covariance_matrix`).

%(params)s

        Returns
        -------
        std_errors : ndarray of shape (n_rows, n_features + fit_intercept)
            One row per reported class (the rows of :meth:`coef_table`), the intercept's
            standard error first.
        """
    )

    def coef_table(
        self,
        X,
        y,
        sample_weight=None,
        *,
        cov_type="nonrobust",
        groups=None,
        reference_class=None,
        alpha=0.05,
    ):
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - pandas is in the test extra
            raise ImportError(
                "coef_table returns a pandas DataFrame: install pandas, e.g. "
                "pip install 'sk_softmax[pandas]'."
            ) from exc
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
        result = self._inference(X, y, sample_weight, cov_type, groups, reference_class)
        coef = result.params.ravel()
        se = np.sqrt(np.diag(result.cov))
        z = coef / se
        half = scipy.stats.norm.ppf(1 - alpha / 2) * se
        names = (
            [str(f) for f in self.feature_names_in_]
            if hasattr(self, "feature_names_in_")
            else [f"x{j}" for j in range(self.n_features_in_)]
        )
        features = ["intercept", *names] if self.fit_intercept else names
        index = pd.MultiIndex.from_product(
            [list(self.classes_[result.rows]), features], names=["class", "feature"]
        )
        return pd.DataFrame(
            {
                "coef": coef,
                "std_err": se,
                "z": z,
                "p_value": 2 * scipy.stats.norm.sf(np.abs(z)),
                "ci_lower": coef - half,
                "ci_upper": coef + half,
            },
            index=index,
        )

    coef_table.__doc__ = _doc(
        """Coefficient table: estimates, standard errors, z-statistics, p-values, intervals.

        See :meth:`covariance_matrix` for what the estimates and their covariance are
        (and what they mean for a penalised fit).  pandas is imported here only.

%(params)s
        alpha : float, default=0.05
            The intervals' level is ``1 - alpha`` (normal quantiles, as statsmodels'
            discrete models).

        Returns
        -------
        table : pandas.DataFrame
            Indexed by (class, feature): the classes of the reported rows (all but the
            reference class, or all), the features ``feature_names_in_`` (else ``x0``,
            ``x1``...), with ``"intercept"`` first.  Columns ``coef``, ``std_err``,
            ``z``, ``p_value`` (two-sided), ``ci_lower``, ``ci_upper``; ``exp(coef)``
            is the odds ratio against the reference class.
        """
    )

    def _log_likelihoods(self, X, y, sample_weight):
        log_proba = self.predict_log_proba(X)  # validates X as prediction does
        X, y_enc, sw = self._inference_data(X, y, sample_weight)
        llf = _inference.log_likelihood(log_proba, y_enc, sw)
        n = float(y_enc.shape[0] if sw is None else sw.sum())
        return llf, n, y_enc, sw

    def _n_free_params(self):
        q = self.n_features_in_ + self.fit_intercept
        return (self.classes_.shape[0] - 1) * q

    def log_likelihood(self, X, y, sample_weight=None):
        """Log-likelihood of the fitted model on ``X, y``: ``sum_i w_i log p_i[y_i]``
        (statsmodels' ``llf``), at ``coef_`` and ``intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Frequency weights (times the class weights).

        Returns
        -------
        llf : float
        """
        return self._log_likelihoods(X, y, sample_weight)[0]

    def aic(self, X, y, sample_weight=None):
        """Akaike's information criterion ``-2 llf + 2 k`` (statsmodels' ``aic``).

        ``k = (n_classes - 1) * (n_features + fit_intercept)``, the free parameters of
        the unpenalised model (a penalised fit has fewer effective degrees of freedom;
        the criterion does not account for that).  Arguments as :meth:`log_likelihood`.

        Returns
        -------
        aic : float
        """
        llf = self._log_likelihoods(X, y, sample_weight)[0]
        return -2.0 * llf + 2.0 * self._n_free_params()

    def bic(self, X, y, sample_weight=None):
        """Bayesian information criterion ``-2 llf + log(n) k`` (statsmodels' ``bic``).

        ``n`` is the total sample weight, ``k`` as in :meth:`aic`.  Arguments as
        :meth:`log_likelihood`.

        Returns
        -------
        bic : float
        """
        llf, n, _, _ = self._log_likelihoods(X, y, sample_weight)
        return -2.0 * llf + np.log(n) * self._n_free_params()

    def pseudo_r2(self, X, y, sample_weight=None):
        """McFadden's pseudo R-squared ``1 - llf / llnull`` (statsmodels' ``prsquared``).

        ``llnull`` is the log-likelihood of the intercept-only model (each class's
        weighted share).  Arguments as :meth:`log_likelihood`.

        Returns
        -------
        pseudo_r2 : float
        """
        llf, _, y_enc, sw = self._log_likelihoods(X, y, sample_weight)
        return 1.0 - llf / _inference.null_log_likelihood(y_enc, sw, self.classes_.shape[0])


def _check_groups(groups, cov_type, n_samples):
    if cov_type != "cluster":
        if groups is not None:
            raise ValueError(f"groups is only used with cov_type='cluster', not {cov_type!r}.")
        return None
    if groups is None:
        raise ValueError("cov_type='cluster' needs groups (one cluster label per sample).")
    groups = column_or_1d(groups, warn=True)
    if groups.shape[0] != n_samples:
        raise ValueError(
            f"groups has {groups.shape[0]} labels for {n_samples} samples; give one per sample."
        )
    if groups.dtype.kind == "f" and not np.isfinite(groups).all():
        raise ValueError("groups contains NaN or infinity.")
    codes = np.unique(groups, return_inverse=True)[1].reshape(-1)
    if codes.max(initial=0) < 1:
        raise ValueError("cov_type='cluster' needs at least two groups.")
    return codes
