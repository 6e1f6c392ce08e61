"""SoftmaxClassifierCV: C (and l1_ratio) chosen by cross-validation along warm-started
paths, folds in parallel threads with the kernels' threads divided among them."""

from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator
from sklearn.metrics import get_scorer
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping, process_routing
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import check_is_fitted, validate_data

from ._classifier import (
    CONSTRAINT_PARAMETERS,
    SoftmaxClassifier,
    array_backend,
    check_solver,
    constraints,
)
from ._compat import (
    Interval,
    LinearClassifierMixin,
    SparseCoefMixin,
    StrOptions,
    fit_context,
    raise_for_params,
    routing_enabled,
)
from ._layout import fitted_attributes
from ._loss import SoftmaxLoss
from ._precision import precision_stages
from ._solvers import minimize_full_batch
from ._threading import effective_n_threads, kernel_threads
from ._validation import encode_labels, fit_sample_weight

__all__ = ["SoftmaxClassifierCV"]


def _path(
    X,
    y_enc,
    n_classes,
    sample_weight,
    Cs,
    l1_ratio,
    *,
    fit_intercept,
    max_iter,
    tol,
    verbose,
    n_threads,
    coef0=None,
    constraints=None,
):
    """Fits at every C of ``Cs``, from the smallest C (the strongest penalty) up, each
    one started from the previous solution.

    Returns
    -------
    coefs : ndarray of shape (n_cs, K, n_features + fit_intercept), float64
        In the order of ``Cs`` (not the walking order).
    n_iter : ndarray of shape (n_cs,), int

    ``constraints``: the penalty factors and box of every fit
    (:func:`sk_softmax._classifier.constraints`), or None.
    """
    order = np.argsort(Cs, kind="stable")
    coefs, n_iters = [None] * len(Cs), np.zeros(len(Cs), dtype=np.int32)
    coef = coef0
    float32_X = None  # one float32 copy of the fold for the whole path
    base = None  # the fold's first loss: the others share its sums (with_penalty)
    with kernel_threads(n_threads):
        for i in order:
            if base is None:
                loss = base = SoftmaxLoss(
                    X,
                    y_enc,
                    n_classes,
                    sample_weight,
                    C=float(Cs[i]),
                    fit_intercept=fit_intercept,
                    l1_ratio=l1_ratio,
                    **(constraints or {}),
                )
            else:
                loss = base.with_penalty(base.penalty.with_C(float(Cs[i])))
            if coef is None:
                coef = loss.layout.start()
            stages = precision_stages(loss, float32_X)
            float32_X = stages.float32_X if stages.float32 is not None else float32_X
            coef, n_iters[i], _ = minimize_full_batch(
                stages, coef, max_iter=max_iter, tol=tol, verbose=verbose
            )
            coefs[i] = coef.reshape(loss.layout.coef_shape)
    return np.stack(coefs), n_iters


class SoftmaxClassifierCV(LinearClassifierMixin, SparseCoefMixin, BaseEstimator):
    """Softmax regression with ``C`` (and ``l1_ratio``) chosen by cross-validation.

    The counterpart of :class:`sklearn.linear_model.LogisticRegressionCV` (with its
    scikit-learn 1.9 non-legacy attributes) on the kernels of
    :class:`SoftmaxClassifier`: for every fold and every ``l1_ratio``, the values of
    ``Cs`` are fitted from the smallest (strongest penalty) to the largest, each fit
    started from the previous solution, and scored on the held-out fold.  Folds run in
    parallel threads (``n_jobs``); the kernels' threads are divided among them, so that
    folds times threads never exceed the threads available.

    Parameters
    ----------
    Cs : int or array-like of shape (n_cs,), default=10
        Values of ``C`` to try; an int ``n`` means ``np.logspace(-4, 4, n)``, as in
        LogisticRegressionCV.
    l1_ratios : array-like of shape (n_l1_ratios,), default=(0.0,)
        Values of the elastic-net mixing parameter to try, each in ``[0, 1]`` (see
        :class:`SoftmaxClassifier`).
    cv : int, cross-validation generator or iterable, default=None
        As in scikit-learn: ``None`` is 5-fold stratified, an int ``k`` is ``k``-fold
        stratified.
    scoring : str, callable or None, default=None
        Scorer of the held-out folds; ``None`` is accuracy, LogisticRegressionCV's
        default up to scikit-learn 1.10 (it moves to ``"neg_log_loss"`` in 1.11).
    solver : {"lbfgs"}, default="lbfgs"
        L-BFGS (the L1 solver of :class:`SoftmaxClassifier` when ``l1_ratio > 0``),
        the solver that warm starts help.
    tol : float, default=1e-4
        As in :class:`SoftmaxClassifier` (max-norm of the (sub)gradient).
    max_iter : int, default=100
        Maximum iterations per fit.
    class_weight : dict, "balanced" or None, default=None
        As in :class:`SoftmaxClassifier`; "balanced" is computed on the whole ``y``.
    n_jobs : int or None, default=None
        Folds (times ``l1_ratios``) fitted in parallel threads; ``None`` means 1 (one
        fold at a time, with all the kernels' threads), ``-1`` all.
    verbose : int, default=0
        Passed to the solver.
    refit : bool, default=True
        Refit on all the data at the best ``C`` and ``l1_ratio`` (mean score over the
        folds), starting from the folds' mean solution there.  ``False``: the model is
        the mean of the folds' coefficients at each fold's best values, and ``C_`` /
        ``l1_ratio_`` the means of those values, as in LogisticRegressionCV.
    fit_intercept : bool, default=True
    random_state : int, RandomState instance or None, default=None
        Not used by the lbfgs solver (kept for LogisticRegressionCV's signature); the
        folds are set by ``cv``.
    lower_bounds, upper_bounds : float, array-like or None, default=None
        Bounds on ``coef_`` of every fit of the search and of the refit, as in
        :class:`SoftmaxClassifier` (intercepts free).
    penalty_factor : array-like of shape (n_features,) or None, default=None
        Per-feature penalty factors of every fit, as in :class:`SoftmaxClassifier`.
    l1_groups : None, "features" or array-like of shape (n_features,), default=None
        Groups of the L1 term of every fit with ``l1_ratio > 0``, as in
        :class:`SoftmaxClassifier` (the path is warm-started from the smallest C, where
        most groups are zero).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    Cs_ : ndarray of shape (n_cs,)
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
    C_ : float
        The chosen ``C``.
    l1_ratio_ : float
        The chosen ``l1_ratio``.
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Held-out scores.
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_cs, K, n_features + 1)
        Coefficients of every fit, intercept last (``K``: ``n_classes``, or 1 for binary
        problems; the last axis is ``n_features`` long without an intercept).
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Solver iterations of every fit.
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        When ``X`` has string column names.

    See Also
    --------
    SoftmaxClassifier : The model at one value of ``C``.
    sklearn.linear_model.LogisticRegressionCV : The same search, fitted by scikit-learn.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sk_softmax import SoftmaxClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = SoftmaxClassifierCV(Cs=5, max_iter=1000).fit(X, y)
    >>> clf.scores_.shape
    (5, 1, 5)
    """

    _parameter_constraints: dict = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like"],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "solver": [StrOptions({"lbfgs"})],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "n_jobs": [None, Integral],
        "verbose": ["verbose"],
        "refit": ["boolean"],
        "fit_intercept": ["boolean"],
        "random_state": ["random_state"],
        **CONSTRAINT_PARAMETERS,
    }

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios=(0.0,),
        cv=None,
        scoring=None,
        solver="lbfgs",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        fit_intercept=True,
        random_state=None,
        lower_bounds=None,
        upper_bounds=None,
        penalty_factor=None,
        l1_groups=None,
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.cv = cv
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.fit_intercept = fit_intercept
        self.random_state = random_state
        self.lower_bounds = lower_bounds
        self.upper_bounds = upper_bounds
        self.penalty_factor = penalty_factor
        self.l1_groups = l1_groups

    def _get_scorer(self):
        return get_scorer(self.scoring if self.scoring is not None else "accuracy")

    def _validate_params(self):
        check_solver(self.solver, type(self).__name__, allowed=("lbfgs",))
        super()._validate_params()

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **params):
        """Cross-validate every ``(l1_ratio, C)`` and fit the chosen model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            float32 and float64 are kept, CSR accepted (see :class:`SoftmaxClassifier`).
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the fits; also passed to the scorer (without metadata routing).
        **params : dict
            With metadata routing enabled: ``groups`` for the splitter, and what the
            scorer requested (e.g. ``sample_weight``).

        Returns
        -------
        self : SoftmaxClassifierCV
        """
        raise_for_params(params, self, "fit")
        backend = array_backend(X)
        if backend is not None:
            raise backend.unsupported("SoftmaxClassifierCV")
        Cs, l1_ratios = self._grid()
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32], order="C"
        )
        classes, y_enc = encode_labels(y, "SoftmaxClassifierCV")
        routed = self._route(sample_weight, params)
        # class weights ('balanced' included) from the whole y, as LogisticRegressionCV
        sw = fit_sample_weight(X, y, classes, sample_weight, self.class_weight)
        cv = check_cv(self.cv, y, classifier=True)
        folds = list(cv.split(X, y, **routed.splitter.split))
        data = Bunch(
            X=X,
            y=y,
            y_enc=y_enc,
            sw=sw,
            classes=classes,
            constraints=constraints(self, classes.shape[0], X.shape[1]),
        )
        self._cross_validate(data, folds, Cs, l1_ratios, routed.scorer.score)
        self.Cs_ = Cs
        self.l1_ratios_ = l1_ratios
        self.classes_ = classes
        w = self._refit(data) if self.refit else self._fold_average()
        self.coef_, self.intercept_ = fitted_attributes(
            w[:, : X.shape[1]],
            w[:, -1] if self.fit_intercept else None,
            X.dtype,
            self.fit_intercept,
            data.constraints["box"],
        )
        return self

    def _grid(self):
        """``Cs`` and ``l1_ratios`` as float64 arrays, checked."""
        Cs = (
            np.logspace(-4, 4, self.Cs)
            if isinstance(self.Cs, Integral)
            else np.asarray(self.Cs, dtype=np.float64).ravel()
        )
        if Cs.size == 0 or not np.all(Cs > 0) or np.any(np.isnan(Cs)):
            raise ValueError(f"Cs must be positive numbers (np.inf allowed); got {self.Cs!r}.")
        l1_ratios = np.asarray(self.l1_ratios, dtype=np.float64).ravel()
        if l1_ratios.size == 0 or not np.all((l1_ratios >= 0) & (l1_ratios <= 1)):
            raise ValueError(
                f"l1_ratios must be numbers in [0, 1] (at least one); got {self.l1_ratios!r}."
            )
        return Cs, l1_ratios

    def _route(self, sample_weight, params):
        """The splitter's and the scorer's parameters (metadata routing, or
        ``sample_weight`` to the scorer without it)."""
        if routing_enabled():
            return process_routing(self, "fit", sample_weight=sample_weight, **params)
        score = dict(params)
        if sample_weight is not None:
            score["sample_weight"] = sample_weight
        return Bunch(splitter=Bunch(split={}), scorer=Bunch(score=score))

    def _path_options(self, n_threads, data):
        return dict(
            fit_intercept=self.fit_intercept,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            n_threads=n_threads,
            constraints=data.constraints,
        )

    def _cross_validate(self, data, folds, Cs, l1_ratios, score_params):
        """Every fold's path for every ``l1_ratio``, in parallel threads: sets
        ``coefs_paths_``, ``n_iter_`` and ``scores_``."""
        X, y, n_samples = data.X, data.y, data.X.shape[0]
        tasks = [(f, j) for f in range(len(folds)) for j in range(l1_ratios.size)]
        n_workers = max(1, min(len(tasks), effective_n_jobs(self.n_jobs)))
        threads = max(1, effective_n_threads(None) // n_workers)
        scorer = self._get_scorer()

        def run(f, j):
            train, test = folds[f]
            coefs, n_iter = _path(
                X[train],
                data.y_enc[train],
                data.classes.shape[0],
                None if data.sw is None else data.sw[train],
                Cs,
                l1_ratios[j],
                **self._path_options(threads, data),
            )
            params = {k: _subset(v, test, n_samples) for k, v in score_params.items()}
            scores = np.empty(Cs.size)
            for i in range(Cs.size):
                model = self._model(data.classes, coefs[i], X.dtype, X.shape[1], threads)
                scores[i] = scorer(model, X[test], y[test], **params)
            return coefs, n_iter, scores

        results = Parallel(n_jobs=n_workers, prefer="threads")(delayed(run)(f, j) for f, j in tasks)
        n_folds, n_l1 = len(folds), l1_ratios.size
        K = results[0][0].shape[1]
        self.coefs_paths_ = np.stack([r[0] for r in results]).reshape(n_folds, n_l1, Cs.size, K, -1)
        self.n_iter_ = np.stack([r[1] for r in results]).reshape(n_folds, n_l1, Cs.size)
        self.scores_ = np.stack([r[2] for r in results]).reshape(n_folds, n_l1, Cs.size)

    def _refit(self, data):
        """The chosen ``(C, l1_ratio)`` (the first maximum of the mean score in C-major
        order, as LogisticRegressionCV breaks ties) fitted on all the data, from the
        folds' mean solution; returns its coefficients (K, n_features + fit_intercept)."""
        mean = self.scores_.sum(axis=0).T  # (n_cs, n_l1)
        i, j = np.unravel_index(np.argmax(mean), mean.shape)
        self.C_, self.l1_ratio_ = float(self.Cs_[i]), float(self.l1_ratios_[j])
        init = self.coefs_paths_[:, j, i].mean(axis=0)
        coefs, _ = _path(
            data.X,
            data.y_enc,
            data.classes.shape[0],
            data.sw,
            np.array([self.C_]),
            self.l1_ratio_,
            **self._path_options(effective_n_threads(None), data),
            coef0=init.ravel(),
        )
        return coefs[0]

    def _fold_average(self):
        """Without refit: the mean of every fold's best coefficients (and of their C
        and l1_ratio)."""
        n_folds, n_l1, n_cs = self.scores_.shape
        flat = self.scores_.transpose(0, 2, 1).reshape(n_folds, -1)  # C-major
        best = np.argmax(flat, axis=1)
        bi, bj = np.unravel_index(best, (n_cs, n_l1))
        w = np.mean([self.coefs_paths_[f, bj[f], bi[f]] for f in range(n_folds)], axis=0)
        self.C_ = float(np.mean(self.Cs_[bi]))
        self.l1_ratio_ = float(np.mean(self.l1_ratios_[bj]))
        return w

    def _model(self, classes, coef2, dtype, n_features, n_threads):
        """A fitted SoftmaxClassifier holding ``coef2`` (K, n_features + fit_intercept),
        for the scorer."""
        model = SoftmaxClassifier(fit_intercept=self.fit_intercept, n_jobs=n_threads)
        model.classes_ = classes
        model.coef_, model.intercept_ = fitted_attributes(
            coef2[:, :n_features],
            coef2[:, n_features] if self.fit_intercept else None,
            dtype,
            self.fit_intercept,
        )
        model.n_features_in_ = n_features
        return model

    def score(self, X, y, sample_weight=None, **score_params):
        """Score with the ``scoring`` option (accuracy by default) on ``X``, ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        **score_params : dict
            Passed to the scorer (with metadata routing enabled).

        Returns
        -------
        score : float
        """
        raise_for_params(score_params, self, "score")
        if sample_weight is not None:
            score_params["sample_weight"] = sample_weight
        if routing_enabled():
            params = process_routing(self, "score", **score_params).scorer.score
        else:
            params = {"sample_weight": sample_weight} if sample_weight is not None else {}
        return self._get_scorer()(self, X, y, **params)

    def predict_proba(self, X):
        """Class probabilities of the chosen model, shape (n_samples, n_classes)."""
        check_is_fitted(self)
        return self._as_classifier().predict_proba(X)

    def predict_log_proba(self, X):
        """Log-probabilities (a log-softmax) of the chosen model."""
        check_is_fitted(self)
        return self._as_classifier().predict_log_proba(X)

    def _as_classifier(self):
        model = SoftmaxClassifier(fit_intercept=self.fit_intercept)
        for attr in ("classes_", "coef_", "intercept_", "n_features_in_", "feature_names_in_"):
            if hasattr(self, attr):
                setattr(model, attr, getattr(self, attr))
        return model

    def get_metadata_routing(self):
        """Metadata routing: ``groups`` (and the like) to the splitter's ``split``, the
        scorer's requests (``sample_weight``...) from ``fit`` and ``score``.

        Returns
        -------
        routing : MetadataRouter
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                splitter=check_cv(self.cv),
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
            .add(
                scorer=self._get_scorer(),
                method_mapping=MethodMapping()
                .add(caller="score", callee="score")
                .add(caller="fit", callee="score"),
            )
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _subset(value, rows, n_samples):
    """``value[rows]`` for per-sample metadata (array-like of length ``n_samples``),
    else ``value`` unchanged."""
    if value is None or isinstance(value, (str, dict)):
        return value
    arr = np.asarray(value)
    if arr.ndim >= 1 and arr.shape[0] == n_samples:
        return arr[rows]
    return value
