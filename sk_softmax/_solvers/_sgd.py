"""Minibatch stochastic gradient descent on the softmax objective.

The solver talks to the loss object only through ``sgd_begin`` / ``sgd_batch_weights``
/ ``sgd_steps`` / ``sgd_current`` / ``sgd_end`` (the loss object computes the minibatch
gradients with the fused kernels and applies the steps in the representation that suits
the data: in place and one kernel call per epoch for dense X, on scaled weights touching
only non-zeros for sparse X) and ``l2_reg_strength``; it owns the step-size schedule
(computed for all of an epoch's batches up front), shuffling, Polyak averaging and the
epoch bookkeeping.  Its state lives in :class:`SGDState` so that ``partial_fit`` calls
continue where the previous one stopped.

Schedules (``t`` counts minibatch updates since the schedule started):

* ``"constant"``: ``eta = eta0``;
* ``"invscaling"``: ``eta = eta0 / (1 + t) ** power_t``;
* ``"adaptive"``: ``eta = eta0`` while the epoch loss (or the validation score) keeps
  improving by ``tol``; after ``n_iter_no_change`` epochs without improvement
  ``eta /= 5``; training stops once ``eta < 1e-6`` (scikit-learn's rule).
"""

import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from .._kernels import csr_row_sq_norms

__all__ = ["SGDState", "auto_eta0", "sgd_epoch"]


# Rows used to estimate the top eigenvalue of the second-moment matrix (a strided,
# deterministic subsample; power iteration costs 2 * _POWER_ITERATIONS passes over it).
_EIG_ROWS = 2048
_POWER_ITERATIONS = 15


def row_sq_norms(X, block=4096):
    """Squared row norms of ``X`` (dense or CSR), accumulated in float64.

    float32 rows of large values would overflow in their own dtype; a CSR row's repeated
    indices add up before squaring.  Dense ``X`` is read in row blocks, so at most one
    block is ever converted to float64.

    Returns
    -------
    sq : ndarray of shape (n_samples,), float64
    """
    out = np.empty(X.shape[0], dtype=np.float64)
    if sp.issparse(X):
        csr_row_sq_norms(X.data, X.indices, X.indptr, np.zeros(X.shape[1]), out)
        return out
    for lo in range(0, X.shape[0], block):
        blk = np.asarray(X[lo:lo + block], dtype=np.float64)
        out[lo:lo + block] = np.einsum("ij,ij->i", blk, blk)
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


def auto_eta0(X, sample_weight, fit_intercept, binary, l2_reg_strength, batch_size):
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
    l2_reg_strength : float
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
    L_w = c * (f_mean * lam_w + f_max * max_sq) + l2_reg_strength
    if not fit_intercept:
        return (2.0 / L_w if L_w > 0 else 1.0), 1.0
    lam_joint = _top_eigenvalue(Xs, ws, with_ones=True)
    L_joint = c * (f_mean * lam_joint + f_max * (max_sq + 1.0)) + l2_reg_strength
    shared = 2.0 / L_joint
    separate = 1.0 / L_w if L_w > 0 else np.inf
    if shared >= separate:
        return shared, 1.0
    return separate, (1.0 / c) / separate


@dataclass
class SGDState:
    """Everything that carries over between epochs and between ``partial_fit`` calls.

    ``W`` (K, n_features) and ``b`` (K,) are the raw SGD iterates (float64); with
    averaging, ``W_avg``/``b_avg`` hold the running mean of the iterates since averaging
    started (``n_avg`` of them) and are the model that predicts.
    """

    W: np.ndarray
    b: np.ndarray
    eta0: float  # the schedule's initial step
    eta: float  # the current step of "constant"/"adaptive" (reduced by "adaptive")
    rng: np.random.Generator
    intercept_ratio: float = 1.0  # the intercept's step / the weights' step
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

    def model(self):
        """``(W, b)`` that predicts: the average when averaging is on, else the iterate."""
        if self.n_avg > 0:
            return self.W_avg, self.b_avg
        return self.W, self.b


def sgd_epoch(loss, state, *, batch_size, learning_rate, power_t, shuffle, average,
              rows=None, verbose=0):
    """One pass of minibatch SGD over the loss object's rows; updates ``state`` in place.

    Parameters
    ----------
    loss : SoftmaxLoss
        Holds the data (or the current ``partial_fit`` chunk).
    state : SGDState
    batch_size : int
    learning_rate : {"constant", "invscaling", "adaptive"}
        "invscaling" steps from ``state.eta0``; the others use ``state.eta``.
    power_t : float
    shuffle : bool
        Visit rows in a new random order each epoch (indices are shuffled, never X).
    average : bool or int
        Polyak averaging: True from the first update, an int ``a`` once ``a`` samples
        have been seen, False never.
    rows : ndarray of shape (m,) or None
        The rows to train on (e.g. without a validation split); default all.
    verbose : int

    Returns
    -------
    epoch_loss : float
        Mean weighted cross-entropy over the epoch's minibatches (each evaluated at the
        iterate before its update) plus the penalty at the end of the epoch.
    """
    t0 = time.perf_counter()
    pool = np.arange(loss.X.shape[0], dtype=np.intp) if rows is None else rows
    order = pool[state.rng.permutation(pool.shape[0])] if shuffle else pool
    n = order.shape[0]
    weights = loss.sgd_batch_weights(order, batch_size)
    stepped = weights > 0  # a batch of weight 0 takes no step and does not count in t
    if learning_rate == "invscaling":
        t_before = state.t + np.cumsum(stepped) - stepped
        etas = state.eta0 / (1.0 + t_before) ** power_t
    else:  # "constant" keeps eta0, "adaptive" its current, reduced step
        etas = np.full(weights.shape[0], state.eta)
    etas_b = etas * state.intercept_ratio
    loss.sgd_begin(state.W, state.b)
    if isinstance(average, (bool, np.bool_)):  # numpy's bools too, not only True/False
        average_from = 0 if average else None
    else:
        average_from = int(average)
    if average_from is None:
        loss_sums = loss.sgd_steps(order, batch_size, weights, etas, etas_b)
        state.samples_seen += n
    else:  # the running mean needs the iterate after every step
        loss_sums = np.empty(weights.shape[0])
        for q in range(weights.shape[0]):
            batch = order[q * batch_size:(q + 1) * batch_size]
            (loss_sums[q],) = loss.sgd_steps(batch, batch_size, weights[q:q + 1],
                                             etas[q:q + 1], etas_b[q:q + 1])
            state.samples_seen += batch.shape[0]
            if stepped[q] and state.samples_seen >= average_from:
                W, b = loss.sgd_current()
                if state.n_avg == 0:
                    state.W_avg = np.array(W, copy=True)
                    state.b_avg = b.copy()
                else:
                    inv = 1.0 / (state.n_avg + 1)
                    state.W_avg += inv * (W - state.W_avg)
                    state.b_avg += inv * (b - state.b_avg)
                state.n_avg += 1
    state.t += int(stepped.sum())
    # sequential sums, in batch order, as the steps were taken
    loss_total = float(np.cumsum(loss_sums)[-1]) if loss_sums.size else 0.0
    weight_total = float(np.cumsum(weights)[-1]) if weights.size else 0.0
    state.weight_seen += weight_total
    loss.sgd_end()
    Wm, _ = state.model()
    penalty = 0.5 * loss.l2_reg_strength * float(np.vdot(Wm, Wm))
    epoch_loss = (loss_total / weight_total if weight_total > 0 else 0.0) + penalty
    state.loss_curve.append(epoch_loss)
    state.epochs += 1
    if verbose:
        print(f"SGD epoch {state.epochs:4d}  loss {epoch_loss:.8f}  eta {state.eta:.3e}  "
              f"{time.perf_counter() - t0:.3f} s", flush=True)
    return epoch_loss
