"""The estimator: parameter validation, labels, weights, and the wiring of loss, solvers,
threads and callbacks."""

from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.callback import CallbackSupportMixin
from sklearn.utils import check_random_state
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _kernels
from ._callbacks import FitTasks
from ._classifier_inference import InferenceMixin
from ._compat import (
    Interval,
    InvalidParameterError,
    LinearClassifierMixin,
    SparseCoefMixin,
    StrOptions,
    check_same_namespace,
    fit_context,
)
from ._kernels import _small
from ._layout import fitted_attributes, n_weight_rows
from ._loss import SoftmaxLoss
from ._penalty import check_l1_groups, check_penalty_factor, make_box
from ._precision import precision_stages
from ._solvers import (
    SGDOptions,
    SGDState,
    minimize_full_batch,
    sgd_fit,
    sgd_partial_fit,
)
from ._threading import check_n_jobs, effective_n_threads, kernel_threads, use_parallel
from ._validation import (
    encode_known_labels,
    encode_labels,
    fit_sample_weight,
    partial_fit_classes,
)

__all__ = [
    "SoftmaxClassifier",
    "CONSTRAINT_PARAMETERS",
    "array_backend",
    "check_solver",
    "sgd_options",
    "start_sgd",
    "warm_start_coef",
]

#: What a LogisticRegression user's solver becomes here: every one of them minimises the
#: objective SoftmaxClassifier minimises with "lbfgs" (or "sgd", stochastically).
_OTHER_SOLVERS = ("liblinear", "newton-cg", "newton-cholesky", "sag", "saga")

# partial_fit after a fit starts from a model near its optimum, where SGD's noise, not
# its progress, dominates: it continues with this fraction of the step eta0 would give.
_CONTINUE_STEP_SCALE = 0.2
# Attributes that a fit (re)computes: removed when a new fit starts, so that no state of
# an earlier fit (of either solver) survives it.
_FIT_STATE = (
    "_sgd_state",
    "_fit_weight_sum",
    "loss_curve_",
    "t_",
    "validation_scores_",
    "best_validation_score_",
)


#: The constraint parameters' validation, shared by SoftmaxClassifier and
#: SoftmaxClassifierCV (their values are checked in depth by :func:`constraints`).
CONSTRAINT_PARAMETERS = {
    "lower_bounds": ["array-like", Real, None],
    "upper_bounds": ["array-like", Real, None],
    "penalty_factor": ["array-like", None],
    "l1_groups": ["array-like", StrOptions({"features"}), None],
}


def is_dask_collection(obj):
    """Whether ``obj`` is a dask collection (Array, DataFrame, Series...).

    Decided by the type's module, so that dask is never imported here: a user without
    dask passes no dask objects, and ``import sk_softmax`` must stay free of it.
    """
    return type(obj).__module__.partition(".")[0] in ("dask", "dask_expr")


def _dask_backend():
    from . import _dask  # only imported for dask input

    return _dask


def array_backend(X):
    """The array API backend (``sk_softmax._array_api``) when ``X`` calls for it, else
    None: only under ``array_api_dispatch=True`` and for arrays that are not NumPy's, so
    that the backend is never imported for NumPy input and dispatch off costs one look at
    scikit-learn's configuration."""
    if not get_config()["array_api_dispatch"]:
        return None
    from . import _array_api  # only imported under array API dispatch

    return _array_api if _array_api.is_array_api_input(X) else None


def check_solver(solver, owner, allowed=("lbfgs", "sgd")):
    """A clear error for ``LogisticRegression``'s solver names, which are not ours.

    Raises
    ------
    InvalidParameterError
        For "liblinear", "newton-cg", "newton-cholesky", "sag" and "saga", naming the
        solver of ours that minimises the same objective.
    """
    if isinstance(solver, str) and solver in _OTHER_SOLVERS:
        names = " or ".join(repr(a) for a in allowed)
        sgd = (
            ", and solver='sgd' minimises it stochastically (with partial_fit for streaming data)"
            if "sgd" in allowed
            else ""
        )
        raise InvalidParameterError(
            f"The 'solver' parameter of {owner} must be {names}. Got {solver!r}, a "
            "solver of LogisticRegression: here solver='lbfgs' minimises the same "
            "objective (L2, and with l1_ratio > 0 L1 or elastic-net, as 'saga' and "
            f"'liblinear' do){sgd}."
        )


def _solver_is_sgd(estimator):
    if estimator.solver != "sgd":
        raise AttributeError(
            f"partial_fit is only available with solver='sgd' (solver={estimator.solver!r})."
        )
    return True


class SoftmaxClassifier(
    InferenceMixin, CallbackSupportMixin, LinearClassifierMixin, SparseCoefMixin, BaseEstimator
):
    """Softmax regression (multinomial logistic regression) with an L2, L1 or elastic-net
    penalty.

    Minimises the same objective as :class:`sklearn.linear_model.LogisticRegression`,
    so coefficients can be compared one to one::

        (1 / S) * sum_i s_i * -log P[i, y_i]
            + ((1 - l1_ratio) / 2 * ||W||_F^2  +  l1_ratio * ||W||_1) / (C S)

    where ``P = softmax(X @ W.T + b)`` row-wise, ``s_i`` are the sample weights (times
    the class weights) and ``S = sum_i s_i``.  The intercept is not penalised.  With two
    classes the model is the logistic (sigmoid) model with one weight vector, exactly as
    in ``LogisticRegression``.  With ``l1_ratio > 0`` many weights are exactly zero
    (:meth:`sparsify` then stores ``coef_`` as a sparse matrix).

    The loss and its gradient are computed by a fused, parallel numba kernel in one
    pass over ``X``; float32 input is kept in float32, and a float64 ``X`` is fitted
    by ``"lbfgs"`` (without an L1 term) on a float32 copy first, then in float64 until
    the float64 gradient meets ``tol`` (docs/design.md, "Two precisions").  Two solvers
    minimise it:
    ``"lbfgs"`` (L-BFGS with ``LogisticRegression``'s options on preconditioned
    coefficients: by the features' second moments for dense data, a diagonal scaling
    otherwise; with an L1 term, L-BFGS-B on split weights then OWL-QN with Newton steps,
    on the same kernel)
    and ``"sgd"``
    (minibatch stochastic gradient descent, which also offers :meth:`partial_fit` for
    streaming and out-of-core data).

    Parameters
    ----------
    C : float, default=1.0
        Inverse of the regularisation strength, in ``(0, inf]``; ``np.inf`` means no
        penalty (whatever ``l1_ratio``).
    l1_ratio : float, default=0.0
        Elastic-net mixing parameter in ``[0, 1]``: 0 is the L2 penalty, 1 the L1
        penalty (most weights exactly zero for small ``C``), in between elastic-net.
        All weights are zero once ``C`` is at most ``l1_ratio / (S * max|G|)``, with
        ``G`` the gradient of the mean cross-entropy at zero weights.
    fit_intercept : bool, default=True
        Whether to fit (unpenalised) intercepts.
    solver : {"lbfgs", "sgd"}, default="lbfgs"
        ``"lbfgs"``: L-BFGS on the whole data, or, when ``l1_ratio > 0`` (and ``C``
        is finite), L-BFGS-B on the weights split into positive and negative parts,
        handing very sparse models over to orthant-wise L-BFGS with Newton steps
        (``sk_softmax._solvers._l1``); both yield exact zeros.  ``"sgd"``:
        minibatch SGD; the L1 term by the cumulative penalty (exact zeros too, see
        ``sk_softmax._solvers._sgd``).
    tol : float or None, default=1e-4
        lbfgs: stop when the max-norm of the gradient is below ``tol`` (``None`` is not
        allowed); with an L1 term, of the least-norm subgradient (the gradient plus
        ``l1_ratio / (C S) * sign(w)`` for a non-zero weight, the soft-thresholded
        gradient for a zero one), which is zero exactly at the optimum, so that ``tol``
        means the same for every ``l1_ratio``; with bounds, of the projected gradient
        (the least-norm subgradient including the bounds' normal cone).  sgd: an epoch
        "improves" when the training loss drops by more than ``tol`` (or, with
        ``early_stopping``, the validation accuracy rises by more than ``tol``); ``None``
        disables stopping and step reductions.
    max_iter : int, default=100
        lbfgs: maximum number of iterations (of the float32 and float64 stages
        together, for float64 data).  sgd: maximum number of epochs.
    class_weight : dict, "balanced" or None, default=None
        Weights of the classes, multiplied into the sample weights.  "balanced" uses
        ``n_samples / (n_classes * np.bincount(y))`` (weighted counts when
        ``sample_weight`` is given), as scikit-learn does; not available in
        :meth:`partial_fit`.
    warm_start : bool, default=False
        Start from the previous solution when refitting.
    verbose : int, default=0
        If positive, print the objective after every iteration (lbfgs) or epoch (sgd).
    n_jobs : int or None, default=None
        Threads used by the numba kernels.  ``None`` or ``-1`` use all the threads numba
        was given (``NUMBA_NUM_THREADS``, which joblib lowers in its workers), ``-2``
        all but one.  The setting applies during the call only.  Results do not depend
        on it.
    batch_size : int, default=128
        sgd only: rows per minibatch.
    learning_rate : {"constant", "invscaling", "adaptive"}, default="adaptive"
        sgd only: step-size schedule.  "constant": ``eta0``; "invscaling":
        ``eta0 / (1 + t) ** power_t`` with ``t`` the number of minibatch updates;
        "adaptive": ``eta0`` while epochs improve, divided by 5 after
        ``n_iter_no_change`` epochs without improvement, stopping below 1e-6.
    eta0 : float or "auto", default="auto"
        sgd only: initial step.  "auto" derives it from a bound on the expected
        smoothness of minibatch gradients (the top eigenvalue of ``X^T X / n`` and the
        largest row norm): either one step ``2 / L`` for weights and intercepts, or, when
        the intercepts' curvature dominates (normalised text), separate steps ``1 / L``
        per block (see ``sk_softmax._solvers._sgd.auto_eta0``).  It works on standardised,
        [0, 1]-scaled or normalised sparse data without tuning; on unscaled data SGD
        stalls far from the optimum, so scale the input (e.g. ``StandardScaler``).  In
        :meth:`partial_fit` it is computed on the first chunk.  A number sets one step
        for both.  An epoch that overflows is undone and run again with the step divided
        by 4 (with a ``UserWarning``; ``ValueError`` after 8 tries).
    power_t : float, default=0.5
        sgd only: exponent of the "invscaling" schedule.
    shuffle : bool, default=True
        sgd only: visit the rows in a new random order every epoch (indices are
        shuffled; X is never copied or reordered).
    random_state : int, RandomState instance or None, default=None
        sgd only: seeds shuffling and the validation split.
    early_stopping : bool, default=False
        sgd only: hold out ``validation_fraction`` of the training data (stratified) and
        stop when its accuracy stops improving; the best coefficients are kept.
    validation_fraction : float, default=0.1
        sgd only: fraction held out when ``early_stopping``.
    n_iter_no_change : int, default=5
        sgd only: epochs without improvement before stopping (or, with "adaptive",
        before dividing the step by 5).
    average : bool or int, default=False
        sgd only: Polyak-Ruppert averaging of the iterates; the average is the model.
        An integer starts averaging once that many samples have been seen.
    total_sample_weight : float or None, default=None
        :meth:`partial_fit` only: the total sample weight ``S`` of the data set that
        the calls pass over (``n_samples`` when unweighted), used in the penalty
        ``||W||^2 / (2 C S)`` of every call, so that repeated passes over that data set
        minimise the same objective as ``fit(solver="sgd")`` at the same ``C``.
        A pass ends with the call that brings the weight seen since the previous pass
        to ``total_sample_weight``; at each pass end the "adaptive" schedule judges the
        pass as :meth:`fit` judges an epoch (``tol``, ``n_iter_no_change``).
        ``None``: ``S`` is the weight seen so far, which suits a stream of distinct
        samples (see :meth:`partial_fit`).  :meth:`fit` always uses the weight of its
        data.
    l1_groups : None, "features" or array-like of shape (n_features,), default=None
        Groups of the L1 term (``l1_ratio > 0``).  None: element-wise L1 (elastic-net).
        ``"features"``: the L1 term is ``l1_ratio * sum_j ||coef_[:, j]||_2 / (C S)``,
        each feature's weights for all classes one group, so a feature is used by every
        class or by none (glmnet's grouped multinomial).  An integer array: the group
        label of each feature; a group is its features' weights for all classes, with
        the weight ``sqrt(n_features in the group)`` (Yuan and Lin), e.g. the one-hot
        columns of a categorical dropped together.  The L2 part stays element-wise; a
        binary model groups its one row.  With ``penalty_factor`` the factor must be
        the same within a group (the group's weight is multiplied by it).  All groups
        are zero once ``C`` is at most ``l1_ratio / (S * max_g ||G_g|| / (f_g *
        sqrt(n_g))))``, ``G_g`` the gradient of the mean cross-entropy at zero weights on
        the group's weights.  lbfgs only
        (the solver is then proximal gradient with L-BFGS on the support); not with
        ``lower_bounds`` / ``upper_bounds``, SGD, ``partial_fit`` or dask input
        (``ValueError``).  With ``l1_ratio=0`` it has no effect.

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
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of the features seen during fit, when ``X`` has string column names.
    n_iter_ : ndarray of shape (1,)
        Number of solver iterations (lbfgs) or epochs (sgd; one per partial_fit call).
    loss_curve_ : list of float
        sgd only: training objective of every epoch.
    validation_scores_ : list of float
        sgd with early_stopping only: validation accuracy after every epoch.
    best_validation_score_ : float
        sgd with early_stopping only: the best of ``validation_scores_``.
    t_ : int
        sgd only: number of training samples seen.

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
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"lbfgs", "sgd"})],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "n_jobs": [None, Integral],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "learning_rate": [StrOptions({"constant", "invscaling", "adaptive"})],
        "eta0": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "power_t": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "random_state": ["random_state"],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "average": ["boolean", Interval(Integral, 1, None, closed="left")],
        "total_sample_weight": [Interval(Real, 0, None, closed="neither"), None],
        **CONSTRAINT_PARAMETERS,
    }

    def __init__(
        self,
        *,
        C=1.0,
        l1_ratio=0.0,
        fit_intercept=True,
        solver="lbfgs",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        warm_start=False,
        verbose=0,
        n_jobs=None,
        batch_size=128,
        learning_rate="adaptive",
        eta0="auto",
        power_t=0.5,
        shuffle=True,
        random_state=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=5,
        average=False,
        total_sample_weight=None,
        lower_bounds=None,
        upper_bounds=None,
        penalty_factor=None,
        l1_groups=None,
    ):
        self.C = C
        self.l1_ratio = l1_ratio
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.warm_start = warm_start
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.eta0 = eta0
        self.power_t = power_t
        self.shuffle = shuffle
        self.random_state = random_state
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.average = average
        self.total_sample_weight = total_sample_weight
        self.lower_bounds = lower_bounds
        self.upper_bounds = upper_bounds
        self.penalty_factor = penalty_factor
        self.l1_groups = l1_groups

    # -- fitting ---------------------------------------------------------------------
    def _validate_params(self):
        check_solver(self.solver, type(self).__name__)
        super()._validate_params()

    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Every fit starts afresh: only ``coef_`` and ``intercept_`` carry over, and only
        with ``warm_start=True``; attributes of an earlier fit with the other solver
        (``loss_curve_``, ``t_``, ...) are removed.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.  float32 and float64 are kept (no copy when C-contiguous, or
            CSR); other dtypes are converted to float64, CSC/COO to CSR (one copy).
            A dense float64 ``X`` fitted by lbfgs without an L1 term also gets a float32
            copy (half its size, at most 256 MiB) for the first stage of the solve,
            released when the fit returns.
            A dask Array (dense or scipy.sparse blocks) or dask DataFrame is fitted on
            its cluster, block by block (docs/dask.md); so is any call where ``y`` or
            ``sample_weight`` is a dask collection.
        y : array-like of shape (n_samples,)
            Class labels (integers, strings, booleans...); at least two classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights, not all zero.  Multiplied by the class weights.

        Returns
        -------
        self : SoftmaxClassifier
            The fitted estimator.
        """
        if self.solver == "lbfgs" and self.tol is None:
            raise ValueError("tol=None is only valid with solver='sgd'; lbfgs needs a tol.")
        check_n_jobs(self.n_jobs)
        on_dask = any(is_dask_collection(a) for a in (X, y, sample_weight))
        check_groups_supported(self, "fit", on_dask)
        if on_dask:
            return self._fit_dask(X, y, sample_weight)
        backend = array_backend(X)
        if backend is not None:
            return self._fit_array_api(backend, X, y, sample_weight)
        X, y = validate_data(
            self, X, y, accept_sparse="csr", dtype=[np.float64, np.float32], order="C"
        )
        classes, y_enc = encode_labels(y, "SoftmaxClassifier")
        sw = fit_sample_weight(X, y, classes, sample_weight, self.class_weight)
        init = warm_start_coef(self, classes.shape[0], X.shape[1])
        for attr in _FIT_STATE:
            self.__dict__.pop(attr, None)
        loss = SoftmaxLoss(
            X,
            y_enc,
            classes.shape[0],
            sw,
            C=self.C,
            fit_intercept=self.fit_intercept,
            l1_ratio=self.l1_ratio,
            **constraints(self, classes.shape[0], X.shape[1]),
        )
        if self.solver == "lbfgs":
            # one subtask per iteration (at least one), plus the empty last one
            max_subtasks, name = max(self.max_iter, 1) + 1, "lbfgs-iter"
        else:
            max_subtasks, name = self.max_iter, "sgd-epoch"
        tasks = self._tasks("fit", name, max_subtasks, X, y, sample_weight, classes)
        # the one owner of threads (numba's and BLAS's) for the whole call; a small
        # problem runs no numba kernel at all, with either solver
        n_threads = None if loss.small else effective_n_threads(self.n_jobs)
        with tasks, kernel_threads(n_threads):
            if self.solver == "lbfgs":
                W, b, n_iter = self._fit_lbfgs(loss, init, tasks)
            else:
                W, b, n_iter = self._fit_sgd(loss, init, tasks)
            self._set_fitted(classes, W, b, X.dtype, n_iter, loss.sw_sum)
        return self

    def _set_fitted(self, classes, W, b, dtype, n_iter, weight_sum):
        self.classes_ = classes
        box = make_box(self.lower_bounds, self.upper_bounds, classes.shape[0], W.shape[1])
        self.coef_, self.intercept_ = fitted_attributes(W, b, dtype, self.fit_intercept, box)
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        self._fit_weight_sum = weight_sum

    def _fit_dask(self, X, y, sample_weight):
        """``fit`` on dask input: the dask backend (``sk_softmax._dask``) runs it on the
        cluster; callbacks are not called."""
        result = _dask_backend().fit(self, X, y, sample_weight)
        for attr in _FIT_STATE:
            self.__dict__.pop(attr, None)
        self._set_fitted(
            result.classes, result.W, result.b, result.dtype, result.n_iter, result.weight_sum
        )
        self._dask_stats = result.stats
        if result.sgd_state is not None:
            self._keep_sgd_state(result.sgd_state)
        return self

    def _fit_array_api(self, backend, X, y, sample_weight):
        """``fit`` on array API input (``sk_softmax._array_api``): the loss is evaluated in
        X's namespace on X's device, the solver runs on the host; ``coef_``,
        ``intercept_`` and ``n_iter_`` are arrays of X's namespace and device."""
        data = backend.prepare_fit(self, X, y, sample_weight)
        for attr in _FIT_STATE:
            self.__dict__.pop(attr, None)
        tasks = FitTasks(
            self, "fit", "lbfgs-iter", max(self.max_iter, 1) + 1, data.X, data.y,
            sample_weight, data.classes, data.loss.dtype, self.fit_intercept,
        )  # fmt: skip
        with tasks:
            W, b, n_iter = self._fit_lbfgs(data.loss, data.init, tasks, data.stages)
            self.classes_ = data.classes
            self.coef_, self.intercept_, self.n_iter_ = backend.fitted_arrays(data, W, b, n_iter)
            self._fit_weight_sum = data.loss.sw_sum
        return self

    def _keep_sgd_state(self, state):
        self._sgd_state = state
        self.loss_curve_ = list(state.loss_curve)
        self.t_ = state.samples_seen

    def _fit_lbfgs(self, loss, init, tasks, stages=None):
        layout = loss.layout
        coef0 = layout.start(init)
        tasks.begin(*layout.weight_intercept(coef0.copy()))

        def on_iteration(coef, value):
            W, b = layout.weight_intercept(coef.copy())
            stop = tasks.end(W, b)
            tasks.begin(W, b)
            if stop:
                raise StopIteration  # scipy >= 1.11 ends the solve there

        coef, n_iter, _ = minimize_full_batch(
            precision_stages(loss) if stages is None else stages,
            coef0,
            max_iter=self.max_iter,
            tol=self.tol,
            verbose=self.verbose,
            callback=on_iteration if tasks.active else None,
        )
        tasks.end_empty()
        W, b = layout.weight_intercept(coef)
        return W, b, n_iter

    def _fit_sgd(self, loss, init, tasks):
        state, split_seed, _ = start_sgd(self, init, loss.layout.K, loss.layout.n_features)
        result = sgd_fit(
            loss,
            state,
            sgd_options(self),
            max_iter=self.max_iter,
            tol=self.tol,
            n_iter_no_change=self.n_iter_no_change,
            early_stopping=self.early_stopping,
            validation_fraction=self.validation_fraction,
            seed=split_seed,
            tasks=tasks,
        )
        if result.validation_scores is not None:
            self.validation_scores_ = result.validation_scores
            if result.best_validation_score is not None:
                self.best_validation_score_ = result.best_validation_score
        # partial_fit after this fit counts the fit's data once in its penalty
        state.weight_seen = loss.sw_sum
        self._keep_sgd_state(state)
        W, b = state.model()
        return W, b, state.epochs

    @available_if(_solver_is_sgd)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """One epoch of minibatch SGD over a chunk of data (``solver="sgd"`` only).

        The first call (on an estimator that was never fitted) starts from zero
        coefficients and needs ``classes``; later calls, and calls after :meth:`fit`
        with either solver, continue from ``coef_`` / ``intercept_``.  The learning-rate
        schedule, averaging and shuffling state continue across calls.  After a ``fit``
        the step is 0.2 times what ``eta0`` gives (the model is near its optimum, where
        a full step would add more noise than progress), or the step where
        ``fit(solver="sgd")`` left it.

        Each call takes steps on the objective
        ``(1/S_B) sum_{i in batch} s_i CE_i + ||W||^2 / (2 C S)`` for its minibatches,
        where ``S`` is ``total_sample_weight`` when set, else the total weight seen so
        far (the data of an earlier ``fit`` counted once, plus every chunk of every
        call).  With the default, a stream of distinct samples minimises the objective
        of all the data seen; but ``p`` passes over the same data set make ``S`` grow
        ``p``-fold, as if ``C`` were ``p`` times larger.  To make repeated passes over a
        data set of total weight ``S`` minimise the same objective as
        ``fit(solver="sgd")`` at the same ``C``, set ``total_sample_weight=S``
        (``n_samples`` without weights).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            A chunk of training data (dense or CSR, see :meth:`fit`), with the number of
            features of the first call.
        y : array-like of shape (n_samples,)
            Its labels; all must belong to ``classes``.  A chunk may miss some classes.
        classes : array-like of shape (n_classes,), default=None
            All the classes of the stream; required on the first call, optional (and
            then checked against ``classes_``) afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights.

        Returns
        -------
        self : SoftmaxClassifier

        Raises
        ------
        ValueError
            On a changed set of classes or number of features, labels outside
            ``classes``, or ``class_weight="balanced"``.
        """
        backend = array_backend(X)
        if backend is not None:
            raise backend.unsupported("SoftmaxClassifier.partial_fit")
        check_groups_supported(self, "partial_fit", False)
        first = not hasattr(self, "classes_")
        all_classes = self._stream_classes(first, X, y, classes, sample_weight)
        X, y = validate_data(
            self, X, y, reset=first, accept_sparse="csr", dtype=[np.float64, np.float32], order="C"
        )
        y_enc = encode_known_labels(y, all_classes)
        sw = fit_sample_weight(
            X, y, all_classes, sample_weight, self.class_weight, allow_zero_sum=True
        )
        loss = self._stream_loss(X, y_enc, all_classes.shape[0], sw)
        tasks = self._tasks("partial_fit", "sgd-epoch", 1, X, y, sample_weight, all_classes)
        check_n_jobs(self.n_jobs)
        # a small chunk steps in NumPy: no numba (sk_softmax._solvers._sgd._numpy_steps)
        n_threads = None if loss.small else effective_n_threads(self.n_jobs)
        with tasks, kernel_threads(n_threads):
            state = self._stream_state(first, loss.layout.K, loss.layout.n_features)
            tasks.begin(*state.model())
            sgd_partial_fit(
                loss,
                state,
                sgd_options(self),
                total_weight=self.total_sample_weight,
                tol=self.tol,
                n_iter_no_change=self.n_iter_no_change,
            )
            tasks.end(*state.model())
            self.classes_ = all_classes
            self.coef_, self.intercept_ = fitted_attributes(
                *state.model(), X.dtype, self.fit_intercept, loss.penalty.box
            )
            self.n_iter_ = np.array([state.epochs], dtype=np.int32)
            self._keep_sgd_state(state)
        return self

    def _tasks(self, name, subtask_name, max_subtasks, X, y, sample_weight, classes):
        return FitTasks(
            self,
            name,
            subtask_name,
            max_subtasks,
            X,
            y,
            sample_weight,
            classes,
            X.dtype,
            self.fit_intercept,
        )

    def _stream_classes(self, first, X, y, classes, sample_weight):
        """The classes of a ``partial_fit`` call, after the checks of its arguments that
        come before the data's validation."""
        if any(is_dask_collection(a) for a in (X, y, sample_weight)):
            raise TypeError(
                "partial_fit does not take dask collections; fit(X, y) with "
                "solver='sgd' runs SGD over the blocks of a dask array."
            )
        all_classes = partial_fit_classes(classes, None if first else self.classes_)
        if self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' is not supported by partial_fit: the class "
                "frequencies of the whole stream are unknown. Pass a dict of class weights, "
                "or compute them with sklearn.utils.class_weight.compute_class_weight."
            )
        return all_classes

    def _stream_loss(self, X, y_enc, n_classes, sw):
        """The loss of a ``partial_fit`` chunk, with the stream's penalty: ``S`` is
        ``total_sample_weight``, else the weight seen so far, this chunk included."""
        state = getattr(self, "_sgd_state", None)
        weight = float(X.shape[0] if sw is None else sw.sum())
        if state is not None:
            seen = state.weight_seen + weight
        else:
            seen = getattr(self, "_fit_weight_sum", 0.0) + weight
        S = self.total_sample_weight if self.total_sample_weight is not None else seen
        return SoftmaxLoss(
            X,
            y_enc,
            n_classes,
            sw,
            C=self.C,
            fit_intercept=self.fit_intercept,
            l1_ratio=self.l1_ratio,
            # no weight seen yet: no step is taken, and any finite
            # penalty scale keeps the (zero) penalty term finite
            penalty_weight_sum=S if S > 0 else 1.0,
            **constraints(self, n_classes, X.shape[1]),
        )

    def _stream_state(self, first, K, n_features):
        """The SGD state a ``partial_fit`` call continues: the stream's, or a new one
        (from zeros on the first call, else from ``coef_`` after a ``fit``)."""
        state = getattr(self, "_sgd_state", None)
        if state is None:
            rng = np.random.default_rng(
                check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
            )
            if first:
                return SGDState.start(
                    np.zeros((K, n_features)), np.zeros(K), rng, self.fit_intercept
                )
            state = SGDState.start(_dense(self.coef_), self.intercept_, rng, self.fit_intercept)
            state.step_scale = _CONTINUE_STEP_SCALE
            state.weight_seen = getattr(self, "_fit_weight_sum", 0.0)
        elif state.n_avg == 0:
            # coef_ / intercept_ are the model: continue from them (a user may have
            # edited or sparsified them); with averaging the raw iterate lives in
            # the state.
            state.W = _dense(self.coef_)
            state.b = np.array(self.intercept_, dtype=np.float64)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        # array API input (sk_softmax._array_api): lbfgs, as LogisticRegression
        tags.array_api_support = self.solver == "lbfgs"
        return tags

    # -- prediction ------------------------------------------------------------------
    def _softmax(self, scores, log):
        """(log-)softmax of decision scores; binary scores are the logit of class 1."""
        binary = scores.ndim == 1
        Z = np.ascontiguousarray(scores.reshape(-1, 1) if binary else scores)
        if Z.dtype not in (np.float32, np.float64):
            Z = Z.astype(np.float64)
        out = np.empty((Z.shape[0], Z.shape[1] + binary), dtype=Z.dtype)
        # a probability costs about as much as 8 multiply-adds (an exp and a divide)
        work = out.size * 8
        if work < _small.SMALL_MAX_WORK:
            _small.small_softmax_rows(Z, binary, log, out)  # NumPy: no numba start for a few rows
            return out
        with kernel_threads(effective_n_threads(self.n_jobs)):
            _kernels.softmax_rows(Z, binary, log, out, use_parallel(work))
        return out

    def decision_function(self, X):
        """Decision scores (logits) of the samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Or a dask Array / DataFrame: the scores are then a lazy dask array.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes the logit of ``classes_[1]``, else one column per class.
        """
        if is_dask_collection(X):
            check_is_fitted(self)
            return _dask_backend().predict(self, X, "decision_function")
        return super().decision_function(X)

    def predict(self, X):
        """Class labels of the samples.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Or a dask Array / DataFrame: the labels are then a lazy dask array.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Elements of ``classes_``.
        """
        if is_dask_collection(X):
            check_is_fitted(self)
            return _dask_backend().predict(self, X, "predict")
        return super().predict(X)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Or a dask Array / DataFrame: the probabilities are then a lazy dask array.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns ordered as ``classes_``; rows sum to 1.
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return _dask_backend().predict(self, X, "predict_proba")
        backend = array_backend(X)
        if backend is not None:
            return backend.predict_proba(self, X, log=False)
        check_same_namespace(X, self, attribute="coef_", method="predict_proba")
        return self._softmax(self.decision_function(X), log=False)

    def predict_log_proba(self, X):
        """Logarithm of the class probabilities, computed as a log-softmax.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Or a dask Array / DataFrame: the result is then a lazy dask array.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Finite everywhere (clipped at the dtype's most negative finite value).
        """
        check_is_fitted(self)
        if is_dask_collection(X):
            return _dask_backend().predict(self, X, "predict_log_proba")
        backend = array_backend(X)
        if backend is not None:
            return backend.predict_proba(self, X, log=True)
        check_same_namespace(X, self, attribute="coef_", method="predict_log_proba")
        return self._softmax(self.decision_function(X), log=True)


def constraints(estimator, n_classes, n_features):
    """The penalty's per-feature factors and box from ``estimator``'s
    ``penalty_factor``, ``lower_bounds`` and ``upper_bounds`` (validated here), as the
    keywords ``penalty_factor`` and ``box`` of :class:`~sk_softmax._loss.SoftmaxLoss`
    and :class:`~sk_softmax._penalty.ElasticNet`; shared with CV and the dask backend."""
    factor = check_penalty_factor(estimator.penalty_factor, n_features)
    box = make_box(estimator.lower_bounds, estimator.upper_bounds, n_classes, n_features)
    parts = {"penalty_factor": factor, "box": box}
    # the groups of the L1 term (issue 28): only when given, so that the keywords of a
    # model without groups are unchanged
    groups = check_l1_groups(estimator.l1_groups, n_features, factor, box)
    if groups is not None:
        parts["l1_groups"] = groups
    return parts


def check_groups_supported(estimator, method, on_dask):
    """A ValueError where ``l1_groups`` has no solver: SGD (``solver="sgd"``,
    ``partial_fit``) and the dask backend.

    SGD would need the group prox after every step, and for CSR input a lazy form of it
    (a group's shrinkage depends on its whole norm, so it cannot be deferred weight by
    weight as the cumulative L1 penalty is); not built (issue 28)."""
    if estimator.l1_groups is None:
        return
    if method == "partial_fit" or estimator.solver == "sgd":
        raise ValueError(
            "l1_groups is only supported by solver='lbfgs' (fit); SGD and partial_fit "
            "have no group penalty. Use solver='lbfgs', or l1_groups=None."
        )
    if on_dask:
        raise ValueError(
            "l1_groups is not supported on dask input; fit in memory, or use l1_groups=None."
        )


def sgd_options(estimator):
    """The estimator's SGD parameters as :class:`~sk_softmax._solvers.SGDOptions`."""
    return SGDOptions(
        batch_size=estimator.batch_size,
        learning_rate=estimator.learning_rate,
        eta0=estimator.eta0,
        power_t=estimator.power_t,
        shuffle=estimator.shuffle,
        average=estimator.average,
        verbose=estimator.verbose,
    )


def start_sgd(estimator, init, K, n_features):
    """A fresh SGD state for ``fit`` (in memory or on dask).

    Draws from ``random_state``, in this order: the validation split's seed (only with
    ``early_stopping``), the seed of the state's shuffling generator.

    Parameters
    ----------
    estimator : SoftmaxClassifier
    init : tuple ``(W, b)`` or None
        The warm start (:func:`warm_start_coef`), else zeros.
    K, n_features : int

    Returns
    -------
    state : SGDState
    split_seed : int or None
    rng : numpy.random.RandomState
        For further draws (the dask backend's block order).
    """
    rng = check_random_state(estimator.random_state)
    split_seed = rng.randint(np.iinfo(np.int32).max) if estimator.early_stopping else None
    if init is None:
        init = (np.zeros((K, n_features)), np.zeros(K))
    state = SGDState.start(
        *init,
        np.random.default_rng(rng.randint(np.iinfo(np.int32).max)),
        fit_intercept=estimator.fit_intercept,
    )
    return state, split_seed, rng


def warm_start_coef(estimator, n_classes, n_features):
    """``(W, b)`` of the estimator's previous fit for ``warm_start``, else None."""
    if not (estimator.warm_start and hasattr(estimator, "coef_")):
        return None
    K = n_weight_rows(n_classes)
    if tuple(estimator.coef_.shape) != (K, n_features):
        raise ValueError(
            f"warm_start: the previous fit's coef_ has shape {estimator.coef_.shape}, "
            f"but this data needs ({K}, {n_features}) (n_classes={n_classes}, "
            f"n_features={n_features}). Set warm_start=False to start afresh."
        )
    return _dense(estimator.coef_), np.array(estimator.intercept_, dtype=np.float64)


def _dense(coef):
    """``coef_`` as a float64 ndarray (it may have been sparsified by the user)."""
    return np.array(coef.toarray() if sp.issparse(coef) else coef, dtype=np.float64)
