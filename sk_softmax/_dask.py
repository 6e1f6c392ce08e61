"""The dask backend: fit and predict on dask arrays and dask DataFrames.

:class:`~sk_softmax.SoftmaxClassifier` recognises dask input (without importing dask,
see :func:`sk_softmax._classifier.is_dask_collection`) and hands it here; this module is
imported only then.  It owns everything dask: turning DataFrames into arrays, chunk
checks, persisting, the passes over the data that find the classes and the weights, the
distributed loss and gradient, the block-visiting SGD driver and lazy predictions.  The
arithmetic is not repeated here: every block is evaluated by a
:class:`~sk_softmax._loss.SoftmaxLoss` and the numba kernels, and the solvers are the
in-memory ones.

How a fit runs (docs/dask.md has the user's view):

* **Preparation.**  ``X`` becomes a dask array with one column block (float32 and
  float64 kept, else float64; CSR blocks for scipy.sparse blocks), ``y`` and
  ``sample_weight`` get ``X``'s row chunks.  Unknown chunk sizes are computed once.
  ``X`` is persisted when it takes at most half of the cluster's memory; else every
  evaluation reads its blocks from their source (zarr, parquet...).
* **Pass 1** over ``X`` and ``y``: per block, the labels present and whether ``X`` is
  finite (a NaN or infinity is reported with its block's index).
* **Pass 2** over ``y`` and ``sample_weight`` only: the weight of every class, from
  which the client computes the class weights (``"balanced"`` as scikit-learn does) and
  the weight sum ``S``; the encoded labels and folded weights are persisted (small).
* **L-BFGS** (with an L1 term, the L1 solver of ``_solvers/_l1.py``, its Newton steps
  on a subsample of rows gathered once): :func:`sk_softmax._solvers.minimize_full_batch`
  runs on the client, on
  :class:`DaskLoss`, whose every evaluation sends ``coef`` to the workers, evaluates each
  block's unscaled loss and gradient sums and adds them up in a tree
  (:data:`SPLIT_EVERY` parts per node); only ``n_params + 1`` floats per block travel.
  The client scales by ``1 / S`` and adds the L2 penalty exactly as ``SoftmaxLoss`` does,
  so the objective, the gradient and the stopping rule are the in-memory ones.
* **SGD**: per epoch, a chain of tasks carries the :class:`~sk_softmax._solvers.SGDState`
  from block to block (dask runs each where its block is, so ``X`` does not move); each
  runs one epoch of the in-memory SGD code over its block, with the penalty of all the
  data.  The client judges the epoch as ``sgd_fit`` does.

Threads: a block's kernels run under :func:`~sk_softmax._threading.kernel_threads` with
the worker's share of its own threads (:func:`task_threads`), not the machine's.
"""

import copy
import dataclasses
import time

import dask
import dask.array as da
import numpy as np
import scipy.sparse as sp
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.validation import validate_data

from ._classifier import constraints, sgd_options, start_sgd, warm_start_coef
from ._layout import CoefLayout
from ._loss import (
    SoftmaxLoss,
    curvature_diagonal,
    curvature_sums,
    hessian_rows,
    kronecker_curvature,
    kronecker_rows,
    second_moment,
)
from ._penalty import ElasticNet
from ._precision import PrecisionStages
from ._solvers import guarded_epoch, minimize_full_batch
from ._solvers._sgd import end_pass, judge_pass, warn_max_epochs
from ._threading import effective_n_threads, kernel_threads
from ._validation import check_block_weight, check_class_totals, check_n_classes, check_weight_sum

__all__ = ["DaskLoss", "DaskFitResult", "fit", "predict", "task_threads"]

#: Parts added up per node of the reduction tree (as ``split_every`` in dask.array).
SPLIT_EVERY = 8
#: ``X`` is persisted when it takes at most this share of the cluster's memory.
PERSIST_FRACTION = 0.5


# -- threads ---------------------------------------------------------------------------
def task_threads(n_jobs):
    """Kernel threads for one task on the current dask worker.

    On a ``distributed`` worker: its ``nthreads`` shared among the tasks it is running
    now (a worker with 4 threads running 4 block tasks gives each one thread; one task
    alone gets all 4), capped by ``n_jobs``.  Elsewhere (dask's local schedulers run one
    task per core already): one thread.

    Parameters
    ----------
    n_jobs : int or None
        The estimator's ``n_jobs`` (joblib convention).

    Returns
    -------
    n_threads : int
        At least 1.
    """
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return 1
    nthreads = int(getattr(worker.state, "nthreads", 1))
    running = max(1, int(getattr(worker.state, "executing_count", 1)))
    return max(1, min(nthreads // running, effective_n_threads(n_jobs)))


# -- input -----------------------------------------------------------------------------
def _as_dask_array(obj, name, lengths=True):
    """A dask array from a dask Array, DataFrame or Series (None stays None).

    ``lengths``: compute a DataFrame's partition lengths (a fit needs known chunks; a
    prediction does not)."""
    if obj is None or isinstance(obj, da.Array):
        return obj
    if hasattr(obj, "to_dask_array"):
        return obj.to_dask_array(lengths=True if lengths else None)
    raise TypeError(
        f"{name} must be a dask Array, DataFrame or Series here, got {type(obj).__name__}."
    )


def _known_chunks(arr, name):
    """``arr`` with known chunk sizes: unknown ones are computed (one pass over it)."""
    if arr is None or not any(np.isnan(c) for c in arr.chunks[0]):
        return arr
    arr = arr.compute_chunk_sizes()
    if any(np.isnan(c) for c in arr.chunks[0]):  # pragma: no cover - dask guarantees it
        raise ValueError(f"The chunk sizes of {name} are unknown and could not be computed.")
    return arr


def _is_sparse(X):
    return sp.issparse(getattr(X, "_meta", None))


def _fit_dtype(dtype):
    return dtype if dtype in (np.float32, np.float64) else np.dtype(np.float64)


def _block_X(block, dtype):
    """One block as the kernels take it: C-contiguous ndarray or CSR, ``dtype``."""
    if sp.issparse(block):
        return sp.csr_matrix(block, dtype=dtype)
    return np.ascontiguousarray(block, dtype=dtype)


def _as_rows(arr, X, name):
    """``arr`` (dask or array-like, 1-D) as a dask array with ``X``'s row chunks."""
    if arr is None:
        return None
    if hasattr(arr, "to_dask_array"):
        arr = _as_dask_array(arr, name)
    elif not isinstance(arr, da.Array):
        arr = np.asarray(arr)
        if arr.shape[0] != X.shape[0]:
            raise ValueError(f"{name} has {arr.shape[0]} rows but X has {X.shape[0]}.")
        arr = da.from_array(arr, chunks=(X.chunks[0],) + arr.shape[1:])
    arr = _known_chunks(arr, name)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got shape {arr.shape}.")
    if arr.shape[0] != X.shape[0]:
        raise ValueError(f"{name} has {arr.shape[0]} rows but X has {X.shape[0]}.")
    if arr.chunks[0] != X.chunks[0]:
        arr = arr.rechunk({0: X.chunks[0]})
    return arr


def prepare_X(estimator, X, reset, row_chunks=None, lengths=True):
    """``X`` as a 2-D dask array with one column block; sets or checks
    ``n_features_in_`` / ``feature_names_in_`` as ``validate_data`` does.

    An in-memory ``X`` (given with a dask ``y``) is chunked as ``row_chunks``."""
    # the dask DataFrame's empty pandas meta carries the column names
    names_from = X._meta if hasattr(X, "columns") and hasattr(X, "_meta") else X
    if hasattr(X, "to_dask_array") or isinstance(X, da.Array):
        X = _as_dask_array(X, "X", lengths=lengths)
    else:
        X = X.tocsr() if sp.issparse(X) else np.asarray(X)
        X = da.from_array(
            X, chunks=(row_chunks or max(1, X.shape[0] // 4), -1), asarray=not sp.issparse(X)
        )
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D X, got shape {X.shape}.")
    validate_data(estimator, names_from, reset=reset, skip_check_array=True)
    if X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    return X


def _cluster_memory():
    """Memory of the cluster that will compute (the workers' limits), in bytes."""
    try:
        from distributed import default_client

        client = default_client()
    except (ImportError, ValueError):
        client = None
    if client is not None:
        try:
            info = client.scheduler_info(n_workers=-1)
        except TypeError:  # older distributed
            info = client.scheduler_info()
        limits = [w.get("memory_limit") or 0 for w in info["workers"].values()]
        if limits and all(limit > 0 for limit in limits):
            return float(sum(limits))
    try:
        import psutil

        return float(psutil.virtual_memory().available)
    except ImportError:  # pragma: no cover - psutil comes with distributed
        return 0.0


# -- the passes over the data ----------------------------------------------------------
def _labels_and_finite(Xb, yb):
    """Pass 1 on one block: its labels, whether X is finite, its bytes."""
    if sp.issparse(Xb):
        finite = bool(np.isfinite(Xb.data).all())
        nbytes = (
            Xb.data.nbytes + Xb.indices.nbytes + Xb.indptr.nbytes
            if Xb.format == "csr"
            else Xb.data.nbytes * 3
        )
    else:
        Xb = np.asarray(Xb)
        finite = bool(np.isfinite(Xb).all()) if Xb.dtype.kind in "fc" else True
        nbytes = Xb.nbytes
    return np.unique(np.asarray(yb)), finite, int(nbytes)


def _class_weights(yb, swb, classes):
    """Pass 2 on one block: the weight of every class (unweighted: the count)."""
    y_enc = np.searchsorted(classes, np.asarray(yb))
    if swb is None:
        return np.bincount(y_enc, minlength=classes.shape[0]).astype(np.float64)
    swb = check_block_weight(swb)
    return np.bincount(y_enc, weights=swb, minlength=classes.shape[0])


def _encode_block(yb, classes):
    return np.searchsorted(classes, np.asarray(yb)).astype(np.intp)


def _fold_weights(yb_enc, swb, cw):
    """The kernels' weights of a block: sample weight times class weight (as
    ``fit_sample_weight``)."""
    sw = np.ones(yb_enc.shape[0]) if swb is None else np.asarray(swb, dtype=np.float64)
    return sw if cw is None else sw * cw[yb_enc]


def _blocks(arr):
    return list(arr.to_delayed().ravel()) if arr is not None else None


class _Data:
    """The prepared training data: blocks of X, encoded labels and weights, and sums."""

    def __init__(self, X, y_enc, sw, classes, weight_sum, sparse, dtype):
        self.X, self.y_enc, self.sw = X, y_enc, sw
        self.classes, self.weight_sum = classes, weight_sum
        self.sparse, self.dtype = sparse, dtype
        self.X_blocks = _blocks(X)
        self.y_blocks = _blocks(y_enc)
        self.sw_blocks = _blocks(sw) if sw is not None else [None] * len(self.X_blocks)

    @property
    def n_blocks(self):
        return len(self.X_blocks)


def prepare_fit_data(estimator, X, y, sample_weight, class_weight):
    """Validate, persist and pre-process dask training data (passes 1 and 2).

    Returns
    -------
    data : _Data
    persisted : bool
        Whether X's blocks were persisted.
    """
    y_chunks = None
    if isinstance(y, da.Array) and not any(np.isnan(c) for c in y.chunks[0]):
        y_chunks = y.chunks[0]
    X = _known_chunks(prepare_X(estimator, X, reset=True, row_chunks=y_chunks), "X")
    y = _as_rows(y, X, "y")
    sw = _as_rows(sample_weight, X, "sample_weight")
    sparse = _is_sparse(X)
    dtype = _fit_dtype(X.dtype)
    if X.dtype != dtype:
        X = X.astype(dtype)
    memory = _cluster_memory()
    persisted = False
    if not sparse and X.nbytes <= PERSIST_FRACTION * memory:
        X = X.persist()
        persisted = True

    # pass 1: labels, finiteness (and, for sparse X, its size)
    parts = [dask.delayed(_labels_and_finite)(xb, yb) for xb, yb in zip(_blocks(X), _blocks(y))]
    stats = dask.compute(*parts)
    for i, (_, finite, _) in enumerate(stats):
        if not finite:
            start = int(sum(X.chunks[0][:i]))
            raise ValueError(
                f"Input X contains NaN or infinity in block {i} (rows {start} to "
                f"{start + X.chunks[0][i] - 1}); remove or impute those values first."
            )
    classes = check_n_classes(
        np.unique(np.concatenate([labels for labels, _, _ in stats])), "SoftmaxClassifier"
    )
    if sparse and sum(nb for _, _, nb in stats) <= PERSIST_FRACTION * memory:
        X = X.persist()
        persisted = True

    # pass 2: class weights, hence the weight sum; y and sw only
    parts = [
        dask.delayed(_class_weights)(yb, swb, classes)
        for yb, swb in zip(_blocks(y), _blocks(sw) or [None] * len(_blocks(y)))
    ]
    totals = np.sum(dask.compute(*parts), axis=0)
    cw = None
    if class_weight is not None:
        if isinstance(class_weight, str):  # "balanced"
            check_class_totals(classes, totals)
        # the classes with their weights stand for y: the same class weights as
        # compute_class_weight gives on all of y
        cw = compute_class_weight(class_weight, classes=classes, y=classes, sample_weight=totals)
    weight_sum = float(totals @ cw) if cw is not None else float(totals.sum())
    check_weight_sum(weight_sum)
    y_enc = y.map_blocks(_encode_block, classes, dtype=np.intp)
    folded = None
    if sw is not None or cw is not None:
        base = sw if sw is not None else da.ones_like(y_enc, dtype=np.float64)
        folded = da.map_blocks(_fold_weights, y_enc, base, cw, dtype=np.float64)
    y_enc, folded = dask.persist(y_enc, folded)
    return _Data(X, y_enc, folded, classes, weight_sum, sparse, dtype), persisted


# -- L-BFGS ----------------------------------------------------------------------------
def _block_loss_grad(coef, Xb, yb, swb, n_classes, fit_intercept, dtype, n_jobs):
    """Unscaled ``[sum_i s_i CE_i, gradient sums]`` of one block, shape (n_params + 1,)."""
    Xb = _block_X(Xb, dtype)
    loss = SoftmaxLoss(
        Xb, np.asarray(yb, dtype=np.intp), n_classes, swb, C=np.inf, fit_intercept=fit_intercept
    )
    out = np.zeros(loss.n_params + 1)
    if Xb.shape[0] == 0 or loss.sw_sum == 0.0:
        return out
    with kernel_threads(task_threads(n_jobs)):
        value, grad = loss.loss_gradient(coef)
    # loss_gradient divides by the block's weight; the sums are what add up over blocks
    out[0] = value * loss.sw_sum
    out[1:] = grad * loss.sw_sum
    return out


def _block_curvature_sums(Xb, yb, swb, n_classes, dtype):
    """:func:`~sk_softmax._loss.curvature_sums` of one block."""
    sw = None if swb is None else np.asarray(swb, dtype=np.float64)
    return curvature_sums(_block_X(Xb, dtype), np.asarray(yb, dtype=np.intp), sw, n_classes)


def _add(*parts):
    return np.sum(parts, axis=0)


def tree_sum(parts, split_every=SPLIT_EVERY):
    """Delayed sum of delayed arrays, added ``split_every`` at a time in a tree."""
    while len(parts) > 1:
        parts = [
            dask.delayed(_add)(*parts[i : i + split_every])
            for i in range(0, len(parts), split_every)
        ]
    return parts[0]


class DaskLoss:
    """The objective of ``SoftmaxLoss`` on dask data, for the full-batch solvers
    (L-BFGS, and the L1 solver, whose Newton steps get :meth:`hessian_product`): it
    implements the solver contract (:class:`sk_softmax._solvers._contract.FullBatchLoss`).

    Each :meth:`loss_gradient` runs one dask computation: every block's unscaled sums
    (``_block_loss_grad``), a tree reduction, then on the client the scaling by ``1/S``
    and the penalty's smooth part, exactly as :meth:`SoftmaxLoss.loss_gradient` applies
    them.

    Parameters
    ----------
    data : _Data
    layout : CoefLayout
    penalty : ElasticNet
        The penalty of all the data (``S`` = ``data.weight_sum``).
    n_jobs : int or None

    Attributes
    ----------
    n_evaluations : int
    seconds : list of float
        Wall time of every evaluation (the round trip to the cluster included).
    """

    supports_hessian_product = True

    def __init__(self, data, layout, penalty, n_jobs):
        self.data, self.layout, self.penalty, self.n_jobs = data, layout, penalty, n_jobs
        self._hessian_rows = None  # (max_rows, SoftmaxLoss on the gathered subsample)
        self._curvature_sums = None  # for curvature_diagonal, on first use
        self._second_moment = None  # the sampled rows' second moment, on first use
        self.n_evaluations = 0
        self.seconds = []

    def loss_gradient(self, coef):
        """Objective and gradient at ``coef`` (layout of :mod:`sk_softmax._layout`).

        Parameters
        ----------
        coef : ndarray of shape (n_params,)

        Returns
        -------
        loss : float
        grad : ndarray of shape (n_params,), float64
        """
        t0 = time.perf_counter()
        d, lay = self.data, self.layout
        # one key for the coefficients: each worker fetches them once per evaluation
        coef_d = dask.delayed(np.array(coef, dtype=np.float64))
        parts = [
            dask.delayed(_block_loss_grad)(
                coef_d, xb, yb, swb, lay.n_classes, lay.fit_intercept, d.dtype, self.n_jobs
            )
            for xb, yb, swb in zip(d.X_blocks, d.y_blocks, d.sw_blocks)
        ]
        (sums,) = dask.compute(tree_sum(parts))
        inv = 1.0 / d.weight_sum
        W, _ = lay.weight_intercept(coef)
        Wf = np.asarray(W, dtype=np.float64)
        g = sums[1:].reshape(lay.coef_shape)
        grad = np.empty(lay.coef_shape, dtype=np.float64)
        grad[:, : lay.n_features] = g[:, : lay.n_features] * inv
        self.penalty.add_smooth_gradient(grad[:, : lay.n_features], Wf)
        if lay.fit_intercept:
            grad[:, -1] = g[:, -1] * inv
        value = self.penalty.add_smooth(float(sums[0]) * inv, Wf)
        self.n_evaluations += 1
        self.seconds.append(time.perf_counter() - t0)
        return value, grad.ravel()

    def curvature_diagonal(self):
        """:meth:`SoftmaxLoss.curvature_diagonal` of all blocks: their
        :func:`~sk_softmax._loss.curvature_sums` added up (one pass, on first use).

        Returns
        -------
        h : ndarray of shape (n_params,), float64, or None
        """
        return curvature_diagonal(self._sums(), self.layout, self.penalty)

    def _sums(self):
        """:func:`~sk_softmax._loss.curvature_sums` of all blocks (one pass, on first use)."""
        if self._curvature_sums is None:
            d, lay = self.data, self.layout
            parts = [
                dask.delayed(_block_curvature_sums)(xb, yb, swb, lay.n_classes, d.dtype)
                for xb, yb, swb in zip(d.X_blocks, d.y_blocks, d.sw_blocks)
            ]
            (self._curvature_sums,) = dask.compute(tree_sum(parts))
        return self._curvature_sums

    def curvature_kronecker(self):
        """:meth:`SoftmaxLoss.curvature_kronecker` of all blocks: the second moment of
        the same evenly spaced rows, gathered to the client, rescaled by the blocks'
        :func:`~sk_softmax._loss.curvature_sums` (on first use; None for sparse blocks).

        Returns
        -------
        curvature : KroneckerCurvature or None
        """
        d, lay = self.data, self.layout
        rows = None if d.sparse else kronecker_rows(d.X.shape[0], lay)
        if rows is None:
            return None
        if self._second_moment is None:
            Xs, sws = dask.compute(d.X[rows], d.sw[rows] if d.sw is not None else None)
            sws = np.empty(0) if sws is None else np.asarray(sws, dtype=np.float64)
            self._second_moment = second_moment(_block_X(Xs, d.dtype), sws, lay.fit_intercept)
        return kronecker_curvature(self._sums(), self._second_moment, lay, self.penalty)

    def hessian_product(self, coef, free, max_rows=None):
        """Hessian-vector products of the smooth part, for OWL-QN's Newton steps.

        The in-memory :meth:`SoftmaxLoss.hessian_product` subsamples the rows of
        :func:`sk_softmax._loss.hessian_rows`; the same rows are gathered here to the
        client, once per fit (``max_rows`` rows of ``X``: the one transfer of data rows,
        and only for an L1 fit that reaches Newton steps), and the products are computed
        there by a ``SoftmaxLoss`` on them with the whole data's penalty, so that the
        Newton steps are the in-memory fit's.

        Parameters
        ----------
        coef : ndarray of shape (n_params,)
        free : ndarray of shape (n_params,), bool
        max_rows : int or None

        Returns
        -------
        hessp : callable
            ``hessp(v) -> ndarray of shape (n_params,)``.
        """
        if self._hessian_rows is None or self._hessian_rows[0] != max_rows:
            d, lay = self.data, self.layout
            rows, _ = hessian_rows(d.X.shape[0], max_rows)
            Xs, ys, sws = dask.compute(
                d.X[rows], d.y_enc[rows], d.sw[rows] if d.sw is not None else None
            )
            sub = SoftmaxLoss(
                _block_X(Xs, d.dtype),
                np.asarray(ys, dtype=np.intp),
                lay.n_classes,
                sws,
                fit_intercept=lay.fit_intercept,
                penalty=self.penalty,
            )
            self._hessian_rows = (max_rows, sub)
        # all of the gathered rows: they are the subsample already
        return self._hessian_rows[1].hessian_product(coef, free, max_rows=None)


# -- SGD -------------------------------------------------------------------------------
def _sgd_block(state, Xb, yb, swb, layout, dtype, penalty, options, n_jobs):
    """One block's SGD epoch, on the worker holding it; returns the new state."""
    state = copy.deepcopy(state)  # a retried task must start from the same state
    Xb = _block_X(Xb, dtype)
    loss = SoftmaxLoss(
        Xb,
        np.asarray(yb, dtype=np.intp),
        layout.n_classes,
        swb,
        fit_intercept=layout.fit_intercept,
        penalty=penalty,
    )
    if Xb.shape[0] == 0:
        return state
    # the block's rows in batches of (nearly) equal size, at most batch_size: a block of
    # 300 rows gives 3 batches of 100, not 128 + 128 + 44 (a small, noisy last batch in
    # every block, with the full step)
    n_batches = -(-Xb.shape[0] // options.batch_size)
    options = dataclasses.replace(options, batch_size=-(-Xb.shape[0] // n_batches))
    with kernel_threads(task_threads(n_jobs)):
        if state.eta0 == 0.0 and loss.sw_sum > 0:
            # eta0="auto" from the first block visited (as partial_fit from its first chunk)
            state.set_step(loss, options)
        guarded_epoch(loss, state, options)
    return state


def _fit_sgd(estimator, data, layout, penalty, state, order_rng):
    """Epochs of block-visiting SGD until ``sgd_fit``'s stopping rule; returns the state.

    ``state.rng`` (travelling with the state) shuffles the rows within each block,
    ``order_rng`` (on the client) the order of the blocks."""
    options = sgd_options(estimator)
    converged = False
    for _ in range(estimator.max_iter):
        order = (
            order_rng.permutation(data.n_blocks) if options.shuffle else np.arange(data.n_blocks)
        )
        epochs, n_curve = state.epochs, len(state.loss_curve)
        node = dask.delayed(state)
        for i in order:
            node = dask.delayed(_sgd_block)(
                node,
                data.X_blocks[i],
                data.y_blocks[i],
                data.sw_blocks[i],
                layout,
                data.dtype,
                penalty,
                options,
                estimator.n_jobs,
            )
        (state,) = dask.compute(node)
        # the blocks' epochs make one epoch: its loss is the mean over all minibatches
        epoch_loss = end_pass(state, penalty)
        del state.loss_curve[n_curve:]
        state.loss_curve.append(epoch_loss)
        state.epochs = epochs + 1
        if options.verbose:
            print(
                f"SGD epoch {state.epochs:4d} over {data.n_blocks} blocks  loss "
                f"{epoch_loss:.8f}  eta {state.eta:.3e}",
                flush=True,
            )
        if judge_pass(state, options, epoch_loss, estimator.tol, estimator.n_iter_no_change):
            converged = True
            break
    if estimator.tol is not None and not converged:
        warn_max_epochs(estimator.max_iter, stacklevel=4)
    return state


# -- fit -------------------------------------------------------------------------------
class DaskFitResult:
    """What a dask fit gives the estimator.

    Attributes
    ----------
    classes : ndarray of shape (n_classes,)
    W : ndarray of shape (K, n_features)
    b : ndarray of shape (K,)
    n_iter : int
    dtype : numpy dtype
    weight_sum : float
    sgd_state : SGDState or None
    stats : dict
        ``n_blocks``, ``persisted`` and, for lbfgs, ``n_evaluations`` and
        ``evaluation_seconds`` (the wall time of each).
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)


def fit(estimator, X, y, sample_weight):
    """Fit ``estimator`` (its parameters only are read) on dask data.

    Parameters
    ----------
    estimator : SoftmaxClassifier
    X : dask Array or DataFrame of shape (n_samples, n_features)
        Dense or scipy.sparse blocks.
    y : dask Array or Series (or array-like) of shape (n_samples,)
    sample_weight : dask Array or Series (or array-like) of shape (n_samples,) or None

    Returns
    -------
    result : DaskFitResult

    Raises
    ------
    NotImplementedError
        For ``early_stopping`` with sgd.
    ValueError
        On a NaN or infinity in ``X`` (with the block's index), fewer than two classes,
        bad weights, or shapes that do not match.
    """
    if estimator.solver == "sgd" and estimator.early_stopping:
        raise NotImplementedError(
            "early_stopping is not implemented for dask input; set early_stopping=False "
            "(the stopping rule on the training loss still applies)."
        )
    data, persisted = prepare_fit_data(estimator, X, y, sample_weight, estimator.class_weight)
    n_classes, n_features = data.classes.shape[0], data.X.shape[1]
    layout = CoefLayout(n_features, n_classes, estimator.fit_intercept)
    parts = constraints(estimator, n_classes, n_features)
    penalty = ElasticNet(
        estimator.C, estimator.l1_ratio, data.weight_sum, parts["penalty_factor"], parts["box"]
    )
    init = warm_start_coef(estimator, n_classes, n_features)
    stats = {"n_blocks": data.n_blocks, "persisted": persisted}
    sgd_state = None
    if estimator.solver == "lbfgs":
        loss = DaskLoss(data, layout, penalty, estimator.n_jobs)
        # the solver's own BLAS calls on the client (the preconditioner's product and
        # factorisation, its triangular solves, the recursion's vector updates) on one
        # thread, as in memory: the blocks' tasks take their threads themselves
        with kernel_threads(None):
            coef, n_iter, _ = minimize_full_batch(
                PrecisionStages(loss),
                layout.start(init),
                max_iter=estimator.max_iter,
                tol=estimator.tol,
                verbose=estimator.verbose,
            )
        W, b = layout.weight_intercept(coef)
        stats.update(n_evaluations=loss.n_evaluations, evaluation_seconds=loss.seconds)
    else:
        sgd_state, _, rng = start_sgd(estimator, init, layout.K, n_features)
        order_rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
        sgd_state = _fit_sgd(estimator, data, layout, penalty, sgd_state, order_rng)
        # partial_fit after this fit counts the fit's data once in its penalty
        sgd_state.weight_seen = data.weight_sum
        W, b = sgd_state.model()
        n_iter = sgd_state.epochs
    return DaskFitResult(
        classes=data.classes,
        W=W,
        b=b,
        n_iter=n_iter,
        dtype=data.dtype,
        weight_sum=data.weight_sum,
        sgd_state=sgd_state,
        stats=stats,
    )


# -- predictions -----------------------------------------------------------------------
def _predict_block(block, estimator, method):
    est = copy.copy(estimator)
    # names were checked on the client; the blocks are plain arrays
    est.__dict__.pop("feature_names_in_", None)
    est.n_jobs = task_threads(estimator.n_jobs)
    return getattr(est, method)(block)


def predict(estimator, X, method):
    """``estimator.<method>(X)`` as a lazy dask array, computed block by block.

    Parameters
    ----------
    estimator : fitted SoftmaxClassifier
    X : dask Array or DataFrame of shape (n_samples, n_features)
    method : {"predict", "decision_function", "predict_proba", "predict_log_proba"}

    Returns
    -------
    out : dask Array of shape (n_samples,) or (n_samples, n_outputs)
        Chunked as ``X``'s rows (chunk sizes may be unknown, as ``X``'s).
    """
    X = prepare_X(estimator, X, reset=False, lengths=False)
    n_classes = estimator.classes_.shape[0]
    rows = X.chunks[0]
    dtype = estimator.classes_.dtype if method == "predict" else estimator.coef_.dtype
    if method == "predict" or (method == "decision_function" and n_classes == 2):
        # one column per row: labels, or the binary logit
        return X.map_blocks(
            _predict_block,
            estimator,
            method,
            dtype=dtype,
            drop_axis=1,
            chunks=(rows,),
            meta=np.empty(0, dtype=dtype),
        )
    n_out = n_classes if method != "decision_function" else estimator.coef_.shape[0]
    return X.map_blocks(
        _predict_block,
        estimator,
        method,
        dtype=dtype,
        chunks=(rows, (n_out,)),
        meta=np.empty((0, 0), dtype=dtype),
    )
