"""Minibatch stochastic gradient descent on the softmax objective.

The solver owns everything that makes SGD stateful: the iterate (float64; on sparse
data, during an epoch, as scaled weights ``scale * V`` so that the L2 shrinkage is one
multiplication and a step touches only the batch's non-zeros), Polyak averaging
(lazy on sparse data), the step-size schedule (computed for all of an epoch's batches
up front), shuffling, ``t`` and the epoch driver (early-stopping split, adaptive
schedule, best-model restore, divergence guard).  It calls the fused SGD kernels
directly, one kernel call per epoch on dense data; a problem small enough for the loss
to evaluate with NumPy (``loss.small``) takes its steps in NumPy instead
(:func:`_numpy_steps`), so that it never starts numba.  It asks the loss object only for
what the solver contract (:class:`sk_softmax._solvers._contract.MinibatchLoss`) names:
its data (``minibatch_data()``), size class (``small``), layout and penalty.  Its
state lives in :class:`SGDState` so that ``partial_fit`` calls continue where the
previous one stopped.

Schedules (``t`` counts minibatch updates since the schedule started):

* ``"constant"``: ``eta = eta0``;
* ``"invscaling"``: ``eta = eta0 / (1 + t) ** power_t``;
* ``"adaptive"``: ``eta = eta0`` while the epoch loss (or the validation score) keeps
  improving by ``tol``; after ``n_iter_no_change`` epochs without improvement
  ``eta /= 5``; training stops once ``eta < 1e-6`` (scikit-learn's rule).
"""

import time
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from .. import _kernels
from .._kernels import csr_step_buffers, dense_batch_buffers
from .._threading import use_parallel

__all__ = [
    "SGDOptions",
    "SGDState",
    "auto_eta0",
    "end_pass",
    "guarded_epoch",
    "judge_epoch",
    "row_sq_norms",
    "sgd_epoch",
    "sgd_fit",
    "sgd_partial_fit",
]

# scikit-learn's rule for the "adaptive" schedule: stop once the step is this small.
_MIN_ADAPTIVE_ETA = 1e-6
# Divergence guard: a diverged epoch is undone and retried with the step divided by
# this, at most _MAX_RETRIES times in a row.
_RETRY_FACTOR = 4.0
_MAX_RETRIES = 8


# Rows used to estimate the top eigenvalue of the second-moment matrix (a strided,
# deterministic subsample; power iteration costs 2 * _POWER_ITERATIONS passes over it).
_EIG_ROWS = 2048
_POWER_ITERATIONS = 15


def row_sq_norms(X, block=1024):
    """Squared row norms of ``X`` (dense or CSR), accumulated in float64.

    float32 rows of large values would overflow in their own dtype; a CSR row's repeated
    indices add up before squaring.  Dense ``X`` is read in row blocks, so at most one
    block is ever converted to float64 (small ones: this is most of what the first
    ``partial_fit`` call allocates beyond its chunk).  CSR ``X`` of fewer than
    ``SMALL_MAX_WORK`` stored entries (every CSR problem small enough for the NumPy
    evaluations) is summed by NumPy on a float64 copy, so that a small fit starts no
    numba; larger ones by a kernel, without a copy.

    Returns
    -------
    sq : ndarray of shape (n_samples,), float64
    """
    out = np.empty(X.shape[0], dtype=np.float64)
    if sp.issparse(X):
        if X.nnz < _kernels.SMALL_MAX_WORK:
            return _kernels.small_csr_row_sq_norms(X)
        _kernels.csr_row_sq_norms(X.data, X.indices, X.indptr, np.zeros(X.shape[1]), out)
        return out
    for lo in range(0, X.shape[0], block):
        blk = np.asarray(X[lo : lo + block], dtype=np.float64)
        out[lo : lo + block] = np.einsum("ij,ij->i", blk, blk)
    return out


def _top_eigenvalue(Xs, ws, with_ones):
    """Largest eigenvalue of ``sum_i ws_i x~_i x~_i^T`` by power iteration (``x~ = [x, 1]``
    when ``with_ones``)."""
    v = np.ones(Xs.shape[1])
    v0 = 1.0 if with_ones else 0.0
    lam = 0.0
    for _ in range(_POWER_ITERATIONS):
        u = ws * (np.asarray(Xs @ v, dtype=np.float64) + v0)
        v = np.asarray(Xs.T @ u, dtype=np.float64)
        v0 = float(u.sum()) if with_ones else 0.0
        previous, lam = lam, float(np.sqrt(v @ v + v0 * v0))
        if lam == 0.0:
            break
        v /= lam
        v0 /= lam
        if abs(lam - previous) <= 1e-3 * lam:  # a step-size estimate needs no more
            break
    return lam


def auto_eta0(X, sample_weight, fit_intercept, binary, l2, batch_size):
    """Step sizes from the "expected smoothness" of minibatch gradients.

    The Hessian of the cross-entropy w.r.t. the logits, ``diag(p) - p p^T``, has norm at
    most ``c = 1/2`` (1/4 for the binary, one-logit model).  For rows ``x`` the loss of
    all the data then has curvature at most ``c * lambda_max(sum_i w_i x_i x_i^T / n)``
    and one row at most ``c * ||x_i||^2``; a minibatch of ``b`` rows drawn without
    replacement has expected smoothness (Gower et al., "SGD: general analysis and
    improved rates", 2019)::

        L_b = c * (n (b - 1) / (b (n - 1)) * lambda_max + (n - b) / (b (n - 1)) * max_i ||x_i||^2)

    Two steps are safe in the sense of gradient descent's ``2 / L`` bound, and the one
    that moves the weights faster is used:

    * one step ``2 / L_b`` for weights and intercept, ``L_b`` taken on ``[x, 1]``;
    * separate steps ``1 / L_W`` for the weights (``L_b`` on ``x``) and ``1 / c`` for the
      intercept: each block scaled to curvature 1, so the whole to at most 2.

    The second wins when the intercept's curvature dominates, as on L2-normalised text
    (where one shared step would be set by the intercept and starve the weights); the
    first on dense, non-centred data such as MNIST.  ``n`` is the total weight and rows
    count by their weight (zero removes a row, an integer repeats it), so weighted and
    repeated data get the same steps.

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n_samples, n_features)
        Read, never copied whole (row norms come from the stored values).
    sample_weight : ndarray of shape (n_samples,) or (0,)
    fit_intercept, binary : bool
    l2 : float
        The penalty's L2 strength (``ElasticNet.l2``).
    batch_size : int

    Returns
    -------
    eta0 : float
        Step for the weights.
    intercept_ratio : float
        The intercept's step divided by the weights' step.
    """
    w = sample_weight if sample_weight.shape[0] else np.ones(X.shape[0])
    keep = np.flatnonzero(w > 0)
    n = float(w[keep].sum())
    # row norms of X itself (indexing X[keep] first would copy all of X)
    sq = row_sq_norms(X)[keep]
    max_sq = float(sq.max()) if sq.size else 0.0
    if not np.isfinite(max_sq):
        raise ValueError(
            "eta0='auto' cannot be computed: the squared norm of a row of X overflows "
            "float64. Scale the data (e.g. with sklearn.preprocessing.StandardScaler) or "
            "pass a numeric eta0."
        )
    sub = keep[:: max(1, keep.shape[0] // _EIG_ROWS)]
    Xs = X[sub]  # a strided subsample in X's dtype: an estimate needs no float64 copy
    ws = w[sub] / w[sub].sum() if sub.size else w[sub]
    b = float(batch_size)
    if n <= b or n <= 1:
        f_mean, f_max = 1.0, 0.0
    else:
        f_mean, f_max = n * (b - 1) / (b * (n - 1)), (n - b) / (b * (n - 1))
    c = 0.25 if binary else 0.5
    lam_w = _top_eigenvalue(Xs, ws, with_ones=False)
    L_w = c * (f_mean * lam_w + f_max * max_sq) + l2
    if not fit_intercept:
        return (2.0 / L_w if L_w > 0 else 1.0), 1.0
    lam_joint = _top_eigenvalue(Xs, ws, with_ones=True)
    L_joint = c * (f_mean * lam_joint + f_max * (max_sq + 1.0)) + l2
    shared = 2.0 / L_joint
    separate = 1.0 / L_w if L_w > 0 else np.inf
    if shared >= separate:
        return shared, 1.0
    return separate, (1.0 / c) / separate


@dataclass(frozen=True)
class SGDOptions:
    """The estimator's SGD parameters, as one call sees them.

    Attributes
    ----------
    batch_size : int
    learning_rate : {"constant", "invscaling", "adaptive"}
    eta0 : float or "auto"
    power_t : float
    shuffle : bool
    average : bool or int
        Polyak averaging: True from the first update, an int ``a`` once ``a`` samples
        have been seen, False never.
    verbose : int
    """

    batch_size: int
    learning_rate: str
    eta0: object
    power_t: float
    shuffle: bool
    average: object
    verbose: int = 0

    @property
    def average_from(self):
        """Samples seen before averaging starts, or None (no averaging)."""
        if isinstance(self.average, (bool, np.bool_)):  # numpy's bools too
            return 0 if self.average else None
        return int(self.average)


@dataclass
class SGDState:
    """Everything that carries over between epochs and between ``partial_fit`` calls.

    ``W`` (K, n_features) and ``b`` (K,) are the raw SGD iterates (float64); with
    averaging, ``W_avg``/``b_avg`` hold the running mean of the iterates since averaging
    started (``n_avg`` of them) and are the model that predicts.
    """

    W: np.ndarray
    b: np.ndarray
    rng: np.random.Generator
    eta0: float = 0.0  # the schedule's initial step; 0 until set from data with weight
    eta: float = 0.0  # the current step of "constant"/"adaptive" (reduced by "adaptive")
    intercept_ratio: float = 1.0  # the intercept's step / the weights' step
    step_scale: float = 1.0  # multiplies the step eta0 gives (below 1 near an optimum)
    t: int = 0  # minibatch updates
    samples_seen: int = 0  # rows visited (what averaging and ``t_`` count)
    weight_seen: float = 0.0  # their total weight (the penalty's S in partial_fit)
    W_avg: np.ndarray = None
    b_avg: np.ndarray = None
    n_avg: int = 0
    loss_curve: list = field(default_factory=list)
    best_loss: float = np.inf
    best_score: float = -np.inf
    no_improvement: int = 0
    epochs: int = 0
    pass_loss: float = 0.0  # partial_fit: weighted loss sum of the current pass so far
    pass_weight: float = 0.0  # ... and its weight
    l1_u: float = 0.0  # cumulative L1 penalty: what each weight could have received
    l1_Q: np.ndarray = None  # (K, n_features): what each weight did receive

    @classmethod
    def start(cls, W, b, rng, fit_intercept=True):
        """A fresh state at ``(W, b)`` (copied to float64; ``b`` zeroed without intercept).

        Parameters
        ----------
        W : array-like of shape (K, n_features)
        b : array-like of shape (K,)
        rng : numpy.random.Generator
        fit_intercept : bool
        """
        W = np.array(W, dtype=np.float64)
        b = np.array(b, dtype=np.float64)
        if not fit_intercept:
            b[:] = 0.0  # a warm start from a fit with intercepts must not keep them
        return cls(W=W, b=b, rng=rng)

    def __getstate__(self):
        # the random generator as its plain state dict (strings and ints), so that the
        # state persists with safe formats (skops) without trusting numpy's Generator
        state = dict(self.__dict__)
        state["rng"] = self.rng.bit_generator.state
        return state

    def __setstate__(self, state):
        state = dict(state)
        rng_state = state.pop("rng")
        bit_generator = getattr(np.random, rng_state["bit_generator"])()
        bit_generator.state = rng_state
        self.__dict__.update(state)
        self.rng = np.random.Generator(bit_generator)

    def model(self):
        """``(W, b)`` that predicts: the average when averaging is on, else the iterate."""
        if self.n_avg > 0:
            return self.W_avg, self.b_avg
        return self.W, self.b

    def set_step(self, loss, options):
        """Set ``eta0`` (and the current ``eta``) from ``options.eta0`` and the data,
        times ``step_scale``.

        Parameters
        ----------
        loss : MinibatchLoss
            Data with a positive total weight.
        options : SGDOptions
        """
        if options.eta0 == "auto":
            data, lay = loss.minibatch_data(), loss.layout
            eta0, ratio = auto_eta0(
                data.X,
                data.sample_weight,
                lay.fit_intercept,
                lay.binary,
                loss.penalty.max_l2,
                options.batch_size,
            )
        else:
            eta0, ratio = float(options.eta0), 1.0
        self.eta0 = self.eta = eta0 * self.step_scale
        self.intercept_ratio = ratio


def sgd_epoch(loss, state, options, rows=None):
    """One pass of minibatch SGD over the loss object's rows; updates ``state`` in place.

    Parameters
    ----------
    loss : MinibatchLoss
        Holds the data (or the current ``partial_fit`` chunk) and the penalty.
    state : SGDState
    options : SGDOptions
    rows : ndarray of shape (m,) or None
        The rows to train on (e.g. without a validation split); default all.

    Returns
    -------
    epoch_loss : float
        Mean weighted cross-entropy over the epoch's minibatches (each evaluated at the
        iterate before its update) plus the penalty at the end of the epoch; not finite
        when the iterate diverged.
    """
    t0 = time.perf_counter()
    data = loss.minibatch_data()
    batch_size = options.batch_size
    pool = np.arange(data.X.shape[0], dtype=np.intp) if rows is None else rows
    order = pool[state.rng.permutation(pool.shape[0])] if options.shuffle else pool
    order = np.ascontiguousarray(order, dtype=np.intp)
    n = order.shape[0]
    starts = np.arange(0, n, batch_size)
    if data.sample_weight.shape[0] == 0:
        weights = np.minimum(batch_size, n - starts).astype(np.float64)
    else:
        weights = np.add.reduceat(data.sample_weight[order], starts) if n else np.empty(0)
    stepped = weights > 0  # a batch of weight 0 takes no step and does not count in t
    if options.learning_rate == "invscaling":
        t_before = state.t + np.cumsum(stepped) - stepped
        etas = state.eta0 / (1.0 + t_before) ** options.power_t
    else:  # "constant" keeps eta0, "adaptive" its current, reduced step
        etas = np.full(weights.shape[0], state.eta)
    etas_b = etas * state.intercept_ratio
    seen_after = state.samples_seen + np.minimum(starts + batch_size, n)
    average_from = options.average_from
    if average_from is None:
        avg_flags = np.zeros(weights.shape[0], dtype=np.bool_)
    else:
        avg_flags = stepped & (seen_after >= average_from)
    if avg_flags.any() and state.W_avg is None:
        state.W_avg = np.zeros_like(state.W)
        state.b_avg = np.zeros_like(state.b)
    with np.errstate(over="ignore", invalid="ignore"):
        schedule = _Schedule(order, batch_size, weights, etas, etas_b, avg_flags)
        if loss.small:  # NumPy steps and gradients: numba is not started
            loss_sums = _numpy_steps(loss, state, schedule)
        elif data.sparse and _lazy_ok(loss.penalty):
            loss_sums = _sparse_steps(loss, state, schedule)
        elif data.sparse or loss.penalty.factor is not None:
            loss_sums = _numpy_steps(loss, state, schedule)
        else:  # the box, if any, is clipped inside the kernel
            loss_sums = _dense_steps(loss, state, schedule)
        state.samples_seen += n
        state.t += int(stepped.sum())
        # sequential sums, in batch order, as the steps were taken
        loss_total = float(np.cumsum(loss_sums)[-1]) if loss_sums.size else 0.0
        weight_total = float(np.cumsum(weights)[-1]) if weights.size else 0.0
        state.weight_seen += weight_total
        state.pass_loss += loss_total
        state.pass_weight += weight_total
        Wm, _ = state.model()
        penalty = loss.penalty.value(Wm)
        epoch_loss = (loss_total / weight_total if weight_total > 0 else 0.0) + penalty
    if not np.all(np.isfinite(state.W)):
        epoch_loss = np.inf
    state.loss_curve.append(epoch_loss)
    state.epochs += 1
    if options.verbose:
        print(
            f"SGD epoch {state.epochs:4d}  loss {epoch_loss:.8f}  eta {state.eta:.3e}  "
            f"{time.perf_counter() - t0:.3f} s",
            flush=True,
        )
    return epoch_loss


class _Schedule(NamedTuple):
    """An epoch's minibatches and steps, computed up front by :func:`sgd_epoch`.

    Batch ``q`` is ``order[q * batch_size:(q + 1) * batch_size]`` with weight
    ``weights[q]``, weight step ``etas[q]``, intercept step ``etas_b[q]``; its iterate
    enters the average when ``avg_flags[q]``.
    """

    order: np.ndarray
    batch_size: int
    weights: np.ndarray
    etas: np.ndarray
    etas_b: np.ndarray
    avg_flags: np.ndarray


def _dense_steps(loss, state, schedule):
    """All of an epoch's steps on dense data in one kernel call."""
    data, lay = loss.minibatch_data(), loss.layout
    n_batches = schedule.weights.shape[0]
    loss_sums = np.empty(n_batches)
    if n_batches == 0:
        return loss_sums
    m = min(schedule.batch_size, schedule.order.shape[0])
    buf = dense_batch_buffers(m, lay.K, lay.n_features, data.X.dtype)
    # (sgd_epoch allocated the average when any step is averaged)
    W_avg = state.W_avg if state.W_avg is not None else np.empty((0, 0))
    b_avg = state.b_avg if state.b_avg is not None else np.empty(0)
    penalty = loss.penalty.scalars()
    Q = _l1_received(state) if penalty.l1 > 0 else np.empty((0, 0))
    l1_u = np.array([state.l1_u])
    kernel_schedule = _kernels.SGDSchedule(*schedule)
    box = loss.penalty.box
    if box is None:
        lower = upper = np.empty((0, 0))
    else:
        lower, upper = box.lower, box.upper
        loss.penalty.project_weights(state.W)  # a start outside the box
    model = _kernels.SGDModel(state.W, state.b, W_avg, b_avg, Q, l1_u, lower, upper)
    state.n_avg = _kernels.dense_sgd_steps(
        data.X,
        data.y,
        data.sample_weight,
        kernel_schedule,
        model,
        penalty,
        lay.fit_intercept,
        lay.binary,
        buf,
        state.n_avg,
        loss_sums,
        use_parallel(m * lay.n_features * lay.K),
    )
    state.l1_u = float(l1_u[0])
    return loss_sums


def _lazy_ok(penalty):
    """Whether the lazy CSR steps can keep the penalty: no per-feature factors (the L2
    decay is one scale for all weights) and a box, if any, that contains zero (the decay
    and the cumulative L1 penalty move an untouched weight toward zero, so it stays in
    the box, and only the batch's features need projecting)."""
    return penalty.factor is None and (penalty.box is None or penalty.box.contains_zero)


def _numpy_steps(loss, state, schedule):
    """An epoch's steps in NumPy, dense or CSR, each minibatch's gradient from
    ``loss.loss_gradient(coef, rows)``.

    The same step as the kernels' (gradient step with the smooth penalty, then the
    cumulative L1 penalty, each weight's share scaled by its factor), followed by the
    projection of the weights into the box, then the running mean.  Every step touches
    all ``K * n_features`` weights (eager, not the CSR path's lazy scaled weights): the
    projection and the per-feature decay do not factor into one scale.  Used

    * for small problems (``loss.small``), whose minibatch gradients the loss then
      evaluates with NumPy too: no numba is started (a step costs microseconds there,
      numba's start seconds);
    * for penalty factors, and for CSR data with a box that excludes zero, with the
      kernels' minibatch gradients.

    Otherwise dense data takes the kernel's steps (which clip into the box) and CSR data
    the lazy steps (:func:`_lazy_ok`).  Results agree with the kernels' steps to
    rounding; on CSR data with an L1 term, with the lazy steps where every batch touches
    every feature (lazily, an untouched weight gets its L1 penalty later).
    """
    lay, penalty = loss.layout, loss.penalty
    order, batch_size, weights = schedule.order, schedule.batch_size, schedule.weights
    loss_sums = np.zeros(weights.shape[0])
    Q = _l1_received(state) if penalty.l1 > 0 else None
    W, b = state.W, state.b
    penalty.project_weights(W)  # a start outside the box (a warm start, zeros)
    for q in range(weights.shape[0]):
        if weights[q] <= 0:
            continue
        rows = order[q * batch_size : (q + 1) * batch_size]
        value, grad = loss.loss_gradient(lay.pack(W, b), rows)
        loss_sums[q] = (value - penalty.add_smooth(0.0, W)) * weights[q]
        gW, gb = lay.weight_intercept(grad)
        eta = schedule.etas[q]
        W -= eta * gW
        if lay.fit_intercept:
            b -= schedule.etas_b[q] * gb
        if Q is not None:
            state.l1_u += eta * penalty.l1
            penalty.flush_cumulative_l1(W, Q, state.l1_u)
        penalty.project_weights(W)
        if schedule.avg_flags[q]:
            state.n_avg += 1
            if state.n_avg == 1:
                state.W_avg[...] = W
                state.b_avg[...] = b
            else:
                state.W_avg += (W - state.W_avg) / state.n_avg
                state.b_avg += (b - state.b_avg) / state.n_avg
    return loss_sums


def _l1_received(state):
    """The state's ``l1_Q`` (zeros on first use)."""
    if state.l1_Q is None or state.l1_Q.shape != state.W.shape:
        state.l1_Q = np.zeros_like(state.W)
    return state.l1_Q


class _LazyWeights:
    """An epoch's weights on CSR data: ``W = scale * V`` (``V`` transposed, ``VT``, one
    row per feature) and, with averaging, the sum of the averaged iterates kept lazily as
    ``U + alpha * V`` (``UT``), so that a step touches only the batch's non-zeros."""

    def __init__(self, state, averaging, K):
        self.VT = np.ascontiguousarray(state.W.T)
        self.b = state.b  # the intercepts, updated in place by the kernel
        self.scale = 1.0
        self.averaging = averaging
        self.UT = (
            np.ascontiguousarray(state.W_avg.T) * float(state.n_avg)
            if averaging
            else np.empty((0, K))
        )
        self.alpha = 0.0

    def fold_average(self):
        """``U += alpha * V``, ``alpha = 0`` (before ``V`` changes outside the kernel)."""
        if self.averaging:
            self.UT += self.alpha * self.VT
            self.alpha = 0.0

    def weights(self):
        return np.ascontiguousarray((self.scale * self.VT).T)

    def average(self, n_avg):
        return np.ascontiguousarray(((self.UT + self.alpha * self.VT) / n_avg).T)


def _sparse_steps(loss, state, schedule):
    """An epoch's steps on CSR data, one kernel call per minibatch (:class:`_LazyWeights`)."""
    data, lay, penalty = loss.minibatch_data(), loss.layout, loss.penalty
    X = data.X
    order, batch_size, weights = schedule.order, schedule.batch_size, schedule.weights
    loss_sums = np.zeros(weights.shape[0])
    lazy = _LazyWeights(state, bool(schedule.avg_flags.any()), lay.K)
    buf = csr_step_buffers(max(1, min(batch_size, order.shape[0])), lay.K)
    QT = np.ascontiguousarray(_l1_received(state).T) if penalty.l1 > 0 else np.empty((0, 0))
    # a batch's work: its stored entries times the classes
    parallel = use_parallel(X.nnz / max(1, X.shape[0]) * min(batch_size, order.shape[0]) * lay.K)
    # the arrays change in place only: one CsrModel for the epoch; the step's scalars
    # (CSR_STEP_FIELDS) are rewritten for every minibatch
    box = penalty.box  # (contains zero: _lazy_ok); the kernel clips the batch's weights
    if box is None:
        LT = HT = np.empty((0, lay.K))
    elif np.all(box.lower == box.lower[:, :1]) and np.all(box.upper == box.upper[:, :1]):
        LT, HT = box.lower[:, :1].T.copy(), box.upper[:, :1].T.copy()  # one row: less traffic
    else:
        LT, HT = np.ascontiguousarray(box.lower.T), np.ascontiguousarray(box.upper.T)
    model = _kernels.CsrModel(lazy.VT, lazy.b, lazy.UT, QT, LT, HT)
    step = np.empty(len(_kernels.CSR_STEP_FIELDS))
    for q in range(weights.shape[0]):
        if weights[q] <= 0:
            continue
        rows = order[q * batch_size : (q + 1) * batch_size]
        eta = schedule.etas[q]
        if penalty.l1 > 0:
            state.l1_u += eta * penalty.l1
        step[2] = eta / weights[q]
        step[3] = schedule.etas_b[q] / weights[q]
        step[5] = state.l1_u if penalty.l1 > 0 else 0.0
        loss_sums[q] = _csr_step(
            data, lay, lazy, model, step, 1.0 - eta * penalty.l2, rows, buf, parallel
        )
        if schedule.avg_flags[q]:
            lazy.alpha += lazy.scale  # the sum of averaged iterates gains scale * V
            state.n_avg += 1
            if state.n_avg == 1:
                state.b_avg[:] = state.b
            else:
                state.b_avg += (state.b - state.b_avg) / state.n_avg
    state.W = lazy.weights()
    if lazy.averaging:
        state.W_avg = lazy.average(state.n_avg)
    if penalty.l1 > 0:
        # the weights of features that no batch touched since their last penalty get
        # what they are owed, so that the epoch's model has all its zeros
        state.l1_Q = np.ascontiguousarray(QT.T)
        penalty.flush_cumulative_l1(state.W, state.l1_Q, state.l1_u)
    if box is not None:
        # last: scale * (bound / scale), and the flush's u - Q, may round one ulp past
        # a bound
        penalty.project_weights(state.W)
        if lazy.averaging:
            penalty.project_weights(state.W_avg)
    return loss_sums


def _csr_step(data, lay, lazy, model, step, shrink, rows, buf, parallel):
    """One minibatch step on the lazy weights (``model`` holds their arrays, ``step`` the
    batch's steps and L1 total, completed here); the L2 shrinkage ``shrink`` is folded
    into the scale (or, when it halves the weights or more, applied to them directly)."""
    X = data.X
    args = (X.data, X.indices, X.indptr, data.y, data.sample_weight, rows, model, step)
    if shrink > 0.5:
        new_scale = lazy.scale * shrink
        step[0], step[1], step[4] = lazy.scale, new_scale, lazy.alpha
        loss_sum = _kernels.csr_sgd_step(*args, lay.binary, lay.fit_intercept, buf, parallel)
    else:
        # A step so large that the penalty shrinks W by half or more (or flips it):
        # apply it on materialised weights, O(n_features * K), never in ordinary use.
        lazy.fold_average()
        lazy.VT *= lazy.scale
        W_old = lazy.VT.copy()
        new_scale = 1.0
        step[0], step[1], step[4] = 1.0, 1.0, 0.0
        loss_sum = _kernels.csr_sgd_step(*args, lay.binary, lay.fit_intercept, buf, parallel)
        lazy.VT -= (1.0 - shrink) * W_old
    if abs(new_scale) < 1e-9:  # keep V in range: fold the scale in (rarely)
        lazy.fold_average()
        lazy.VT *= new_scale
        new_scale = 1.0
    lazy.scale = new_scale
    return loss_sum


def _accuracy(X, y_enc, sample_weight, W, b, binary):
    """(Weighted) accuracy of the linear model ``(W, b)`` on encoded labels."""
    scores = X @ W.T.astype(X.dtype) + b.astype(X.dtype)
    pred = (scores[:, 0] > 0).astype(np.intp) if binary else np.argmax(scores, axis=1)
    return float(np.average(pred == y_enc, weights=sample_weight))


def _validation_split(loss, validation_fraction, seed):
    """Stratified ``(train, val, train_weight)``, or None (with a warning) when the data
    cannot be split so that both sides have every class and a positive weight."""
    data = loss.minibatch_data()
    n, n_classes = data.X.shape[0], loss.layout.n_classes
    n_val = int(np.ceil(validation_fraction * n))
    counts = np.bincount(data.y, minlength=n_classes)
    if n_val < n_classes or n - n_val < n_classes or counts.min() < 2:
        warnings.warn(
            f"early_stopping is ignored: {n} samples of {n_classes} classes (smallest "
            f"class: {counts.min()}) cannot be split into stratified training and "
            f"validation sets with validation_fraction={validation_fraction}.",
            UserWarning,
            stacklevel=4,
        )
        return None
    train, val = train_test_split(
        np.arange(n), test_size=validation_fraction, stratify=data.y, random_state=seed
    )
    train.sort()
    sw = data.sample_weight
    train_weight = float(train.shape[0])
    if sw.shape[0]:
        train_weight = float(sw[train].sum())
        empty = "training" if train_weight <= 0 else "validation" if sw[val].sum() <= 0 else None
        if empty is not None:
            # a zero-weight side can be neither fitted nor scored
            warnings.warn(
                f"early_stopping is ignored: the sample weights of the {empty} split sum to zero.",
                UserWarning,
                stacklevel=4,
            )
            return None
    return train, val, train_weight


class _Validation:
    """Early stopping's held-out rows: their accuracy per epoch, and the best model."""

    def __init__(self, loss, val):
        data = loss.minibatch_data()
        self.X, self.y = data.X[val], data.y[val]
        self.sw = data.sample_weight[val] if data.sample_weight.shape[0] else None
        self.binary = loss.layout.binary
        self.scores = []
        self.best = None

    def improved(self, state, tol):
        """Score the model; keep it when best.  Whether it improved by more than tol."""
        W, b = state.model()
        score = _accuracy(self.X, self.y, self.sw, W, b, self.binary)
        self.scores.append(score)
        improved = score > state.best_score + tol
        if score > state.best_score:
            state.best_score = score
            self.best = (W.copy(), b.copy())
        return improved


@dataclass
class SGDResult:
    """What :func:`sgd_fit` reports besides the state.

    Attributes
    ----------
    converged : bool
        Whether the stopping rule (or a callback) ended the fit before ``max_iter``.
    validation_scores : list of float or None
        Validation accuracy per epoch with early stopping, else None.
    best_validation_score : float or None
    """

    converged: bool = False
    validation_scores: list = None
    best_validation_score: float = None


def sgd_fit(
    loss,
    state,
    options,
    *,
    max_iter,
    tol,
    n_iter_no_change,
    early_stopping,
    validation_fraction,
    seed,
    tasks,
):
    """The epoch driver of ``fit(solver="sgd")``: epochs until the stopping rule.

    Parameters
    ----------
    loss : MinibatchLoss
        All the training data, with the penalty of all of it.
    state : SGDState
        Fresh (or warm-started) state; its step is set here when not set yet.
    options : SGDOptions
    max_iter : int
        Maximum number of epochs.
    tol : float or None
        An epoch improves when the training loss drops by more than ``tol`` (with early
        stopping: the validation accuracy rises by more than ``tol``); None: no stopping
        and no step reductions.
    n_iter_no_change : int
        Epochs without improvement before stopping (or dividing "adaptive"'s step by 5).
    early_stopping : bool
        Hold out a stratified ``validation_fraction`` of the rows, stop on its accuracy
        and restore the best epoch's model.
    validation_fraction : float
    seed : int or None
        Seeds the validation split (unused without early stopping).
    tasks : object with ``begin(W, b)`` and ``end(W, b) -> bool``
        Callback subtasks, one per epoch; ``end`` returning True stops the fit.

    Returns
    -------
    result : SGDResult

    Warns
    -----
    ConvergenceWarning
        When ``max_iter`` epochs ran before the stopping rule was met.
    UserWarning
        When early stopping cannot split the data, or a diverged epoch was retried with
        a smaller step.
    """
    result = SGDResult()
    train = validation = None
    split = _validation_split(loss, validation_fraction, seed) if early_stopping else None
    if split is not None:
        train, val, train_weight = split
        validation = _Validation(loss, val)
        loss = loss.with_penalty(loss.penalty.with_weight_sum(train_weight))
    if state.eta0 == 0.0:
        state.set_step(loss, options)
    for _ in range(max_iter):
        tasks.begin(*state.model())
        epoch_loss = guarded_epoch(loss, state, options, rows=train)
        if tasks.end(*state.model()):
            result.converged = True  # a callback asked to stop
            break
        if tol is None:
            continue
        if validation is not None:
            stop = judge_epoch(state, options, validation.improved(state, tol), n_iter_no_change)
        else:
            stop = judge_epoch(
                state, options, _loss_improved(state, epoch_loss, tol), n_iter_no_change
            )
        if stop:
            result.converged = True
            break
    if tol is not None and not result.converged:
        warn_max_epochs(max_iter, stacklevel=3)
    # a later partial_fit's passes start counting afresh
    state.pass_loss = state.pass_weight = 0.0
    if validation is not None:
        result.validation_scores = validation.scores
        if validation.best is not None:
            result.best_validation_score = state.best_score
            state.W, state.b = validation.best
            state.W_avg = state.b_avg = None
            state.n_avg = 0
    return result


def warn_max_epochs(max_iter, stacklevel):
    """The ConvergenceWarning of SGD fits that ran ``max_iter`` epochs."""
    warnings.warn(
        f"SGD reached max_iter={max_iter} epochs before the loss stopped "
        "improving; increase max_iter to improve the fit.",
        ConvergenceWarning,
        stacklevel=stacklevel + 1,
    )


def _loss_improved(state, epoch_loss, tol):
    """Whether an epoch's (or a pass's) loss improved on the best by more than tol;
    records the best."""
    improved = epoch_loss < state.best_loss - tol
    state.best_loss = min(state.best_loss, epoch_loss)
    return improved


def judge_epoch(state, options, improved, n_iter_no_change):
    """The end-of-epoch rule of every SGD driver (``fit``, ``partial_fit``'s passes, the
    dask backend): count an epoch (or a pass) without improvement; after
    ``n_iter_no_change`` of them "adaptive" divides the step by 5.

    Returns
    -------
    stop : bool
        True when training should stop: the step fell below 1e-6 ("adaptive"), or the
        epochs stopped improving (other schedules).
    """
    state.no_improvement = 0 if improved else state.no_improvement + 1
    if state.no_improvement < n_iter_no_change:
        return False
    if options.learning_rate == "adaptive":
        state.eta /= 5.0
        state.no_improvement = 0
        if options.verbose:
            print(
                f"SGD: no improvement in {n_iter_no_change} epochs, step divided by 5 "
                f"to {state.eta:.3e}",
                flush=True,
            )
        return state.eta < _MIN_ADAPTIVE_ETA
    return True


def end_pass(state, penalty):
    """The loss of the pass that just ended: the mean weighted cross-entropy over its
    minibatches plus the penalty at the current model; the pass counters restart.

    Parameters
    ----------
    state : SGDState
    penalty : ElasticNet

    Returns
    -------
    pass_loss : float
    """
    Wm, _ = state.model()
    mean = state.pass_loss / state.pass_weight if state.pass_weight > 0 else 0.0
    state.pass_loss = state.pass_weight = 0.0
    return mean + penalty.value(Wm)


def judge_pass(state, options, pass_loss, tol, n_iter_no_change):
    """:func:`judge_epoch` on a pass's loss (``tol=None``: nothing is judged)."""
    if tol is None:
        return False
    return judge_epoch(state, options, _loss_improved(state, pass_loss, tol), n_iter_no_change)


def sgd_partial_fit(loss, state, options, *, total_weight, tol, n_iter_no_change):
    """One ``partial_fit`` call: an epoch over the chunk and, when a pass over a data set
    of known total weight ends, the schedule's end-of-epoch rule.

    Parameters
    ----------
    loss : MinibatchLoss
        The chunk, with the penalty of the stream (``S`` = ``total_weight`` or the weight
        seen so far).
    state : SGDState
        The stream's state; its step is set here from the first chunk with weight.
    options : SGDOptions
    total_weight : float or None
        The data set's total weight (``total_sample_weight``): a pass ends with the call
        that brings the weight seen since the previous pass end to it.  At a pass end
        the pass's loss (the mean over its minibatches plus the penalty) is judged as
        :func:`sgd_fit` judges an epoch: with ``tol`` and ``n_iter_no_change``, and
        "adaptive" divides the step by 5, so that repeated passes settle as ``fit``
        does.  None: no passes (a stream of distinct samples), the step follows the
        schedule only.
    tol : float or None
    n_iter_no_change : int

    Returns
    -------
    epoch_loss : float
        The chunk's epoch loss.
    """
    if state.eta0 == 0.0 and loss.sw_sum > 0:
        # else (a chunk of zero total weight, which takes no step): the step is set from
        # the first chunk that has weight, not from a meaningless one
        state.set_step(loss, options)
    epoch_loss = guarded_epoch(loss, state, options)
    if total_weight is not None and state.pass_weight >= total_weight * (1 - 1e-12):
        # a stream cannot stop itself: the step just keeps its last value
        judge_pass(state, options, end_pass(state, loss.penalty), tol, n_iter_no_change)
    return epoch_loss


def guarded_epoch(loss, state, options, rows=None):
    """:func:`sgd_epoch` that undoes a diverged epoch and retries it with a smaller step.

    An epoch diverged when its loss or the iterate is not finite.  It is then undone
    (iterate, average, counters, random stream) and run again with every step divided by
    4, up to 8 times; one ``UserWarning`` names the step that worked.

    Raises
    ------
    ValueError
        When the epoch still diverges with a step 4**8 times smaller.
    """
    eta0_before = state.eta0
    for retry in range(_MAX_RETRIES + 1):
        snapshot = _snapshot(state)
        epoch_loss = sgd_epoch(loss, state, options, rows=rows)
        if np.isfinite(epoch_loss):
            if retry:
                warnings.warn(
                    f"SGD diverged (non-finite loss or coefficients) in epoch "
                    f"{state.epochs} with eta0={eta0_before:.3g}; the epoch was undone and "
                    f"run again with the step divided by {_RETRY_FACTOR**retry:g} "
                    f"(eta0={state.eta0:.3g}), which is kept. Scaling the input (e.g. with "
                    "StandardScaler) or a smaller eta0 avoids this.",
                    UserWarning,
                    stacklevel=4,
                )
            return epoch_loss
        _restore(state, snapshot)
        state.eta0 /= _RETRY_FACTOR
        state.eta /= _RETRY_FACTOR
    _restore(state, snapshot)
    raise ValueError(
        f"SGD diverged (non-finite loss or coefficients) in epoch {state.epochs + 1}, "
        f"also with the step divided by {_RETRY_FACTOR**_MAX_RETRIES:g}; lower eta0 (or "
        "use eta0='auto') or scale the input data, e.g. with StandardScaler or "
        "MinMaxScaler."
    )


_SNAPSHOT_FIELDS = (
    "t",
    "samples_seen",
    "weight_seen",
    "n_avg",
    "epochs",
    "eta0",
    "eta",
    "pass_loss",
    "pass_weight",
    "l1_u",
)


def _snapshot(state):
    arrays = {
        name: None if getattr(state, name) is None else getattr(state, name).copy()
        for name in ("W", "b", "W_avg", "b_avg", "l1_Q")
    }
    scalars = {name: getattr(state, name) for name in _SNAPSHOT_FIELDS}
    return arrays, scalars, len(state.loss_curve), state.rng.bit_generator.state


def _restore(state, snapshot):
    arrays, scalars, n_curve, rng_state = snapshot
    for name, value in {**arrays, **scalars}.items():
        setattr(state, name, value)
    del state.loss_curve[n_curve:]
    state.rng.bit_generator.state = rng_state
