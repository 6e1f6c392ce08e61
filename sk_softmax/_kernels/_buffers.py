"""Work buffers of the kernels, as named tuples, and the functions that size them.

A kernel allocates nothing of size ``n_samples``: its caller (the loss object for
evaluations, the SGD solver for steps) allocates one of these tuples with the functions
below and passes it in.  numba accepts named tuples of arrays as arguments.

One numba limitation shapes the kernels: an array reached through a named tuple's
attribute *inside* a ``prange`` loop is not written back (numba 0.68 copies it into the
parallel region's closure), so no named tuple reaches a ``prange`` body: tuples are
unpacked in Python (the wrappers of the parallel kernels) or in a serial jitted caller
(the SGD kernels' bodies), which passes plain arrays on.

Chunk counts depend on the problem's shape only (never on the thread count), so results
are bit-identical whatever the number of threads.
"""

from collections import namedtuple

import numpy as np

__all__ = [
    "CsrModel",
    "CSR_STEP_FIELDS",
    "SGDModel",
    "SGDSchedule",
    "BATCH_BLOCK_SIZE",
    "BLOCK_BYTES",
    "BLOCK_SIZE",
    "LOGITS_BLOCKING",
    "CsrFullBuffers",
    "CsrStepBuffers",
    "DenseBatchBuffers",
    "DenseFullBuffers",
    "csr_full_buffers",
    "csr_step_buffers",
    "dense_batch_buffers",
    "dense_block_size",
    "padded_classes",
    "vector_lanes",
    "VECTOR_BYTES",
    "dense_full_buffers",
]

# -- argument bundles of the SGD kernels (named tuples keep their signatures short) --------
#: An epoch's minibatches (:func:`sk_softmax._kernels.dense_sgd_steps`): batch ``q`` is
#: ``order[q * batch_size:(q + 1) * batch_size]`` of weight ``weights[q]``, stepped with
#: ``etas[q]`` (weights) and ``etas_b[q]`` (intercepts), averaged when ``avg_flags[q]``.
SGDSchedule = namedtuple(
    "SGDSchedule", ["order", "batch_size", "weights", "etas", "etas_b", "avg_flags"]
)
#: The SGD iterate, updated in place: ``W`` (K, n_features), ``b`` (K,), the running mean
#: ``W_avg``, ``b_avg`` (empty without averaging), the L1 penalty each weight received
#: ``Q`` (empty without L1) and the cumulative one ``l1_u`` (shape (1,)); read only: the
#: box on the weights ``lower``, ``upper`` (K, n_features), or (0, 0): no box.
SGDModel = namedtuple("SGDModel", ["W", "b", "W_avg", "b_avg", "Q", "l1_u", "lower", "upper"])
#: One CSR step's scalars (:func:`sk_softmax._kernels.csr_sgd_step`), the entries of a
#: float64 array of this length, in this order: weight scale before and after the L2
#: shrinkage, ``eta / S_B`` for the weights and the intercepts, the lazy average's
#: coefficient ``alpha`` and the cumulative L1 penalty ``l1_u`` (0: no L1).  An array, not
#: a named tuple: the step is called once per minibatch, and numba types a named tuple
#: argument on every call (measured: CSR SGD epochs with 32-row batches 10 % slower).
CSR_STEP_FIELDS = ("scale", "new_scale", "step", "step_b", "alpha", "l1_u")
#: The CSR step's arrays, updated in place: unscaled weights ``VT`` (n_features, K),
#: intercepts ``b``, the lazy average's ``UT`` (empty: none) and the L1 record ``QT``;
#: read only: the box on the weights ``LT``, ``HT`` (n_features, K), or (1, K): the same for
#: every feature, or (0, K): no box.
CsrModel = namedtuple("CsrModel", ["VT", "b", "UT", "QT", "LT", "HT"])

#: Bytes of the vectors the dense products run on (:mod:`._simd`): AVX2's registers,
#: which every x86_64 machine the project targets has (AVX-512 machines run them too).
VECTOR_BYTES = 32
#: The logits' product's step, by itemsize: (rows, vectors of classes), twelve running
#: sums (float64: 4 x 3 vectors of 4 classes; float32: 6 x 2 vectors of 8).
LOGITS_BLOCKING = {8: (4, 3), 4: (6, 2)}
#: Most rows per block of a full dense evaluation (narrow data).
BLOCK_SIZE = 128
#: Bytes of ``X`` per block aimed for: the gradient's product reads the block again right
#: after the logits' product, from the core's L2 cache while it fits.  On MNIST the time
#: was flat from about 36 to 120 rows, float32 and float64, AVX2 and AVX-512 code
#: (docs/design.md has the measurements).
BLOCK_BYTES = 256 * 2**10
_MIN_BLOCK_SIZE = 16
#: Rows per block inside a dense minibatch: small, so that a batch spreads over threads.
BATCH_BLOCK_SIZE = 32
# At most this many chunks (gradient accumulators) for a dense evaluation, and together
# at most _ACC_BUDGET bytes.
_MAX_CHUNKS = 32
_ACC_BUDGET = 128 * 2**20
# Sparse evaluations: one chunk per _SPARSE_CHUNK_ROWS rows, at most _MAX_SPARSE_CHUNKS
# (each (n_features, K) accumulator is zeroed and reduced on every evaluation); the
# scatter's accumulators, written at random rows, together within _SPARSE_ACC_BUDGET
# bytes so that they stay in the last-level cache (docs/design.md).
_SPARSE_CHUNK_ROWS = 2048
_MAX_SPARSE_CHUNKS = 8
_SPARSE_ACC_BUDGET = 16 * 2**20

DenseFullBuffers = namedtuple("DenseFullBuffers", ["Z", "WTp", "tmp", "acc_W", "acc_b", "acc_loss"])
DenseFullBuffers.__doc__ = """Buffers of ``dense_loss_grad`` for ``n`` rows in ``n_chunks`` chunks.

Z : ndarray of shape (n, K), dtype of X
    Logits, then ``sw * (P - Y)``.
WTp : ndarray of shape (n_features, Kp), dtype of X
    ``W.T`` padded with zero columns (:func:`padded_classes`).
tmp : ndarray of shape (n_chunks, K, n_features), dtype of X
    Each chunk's block product ``R_b.T @ X_b``.
acc_W : ndarray of shape (n_chunks, K, n_features), float64
acc_b : ndarray of shape (n_chunks, K), float64
acc_loss : ndarray of shape (n_chunks,), float64
    Per-chunk sums of the weight gradient, intercept gradient and loss.
"""

DenseBatchBuffers = namedtuple(
    "DenseBatchBuffers",
    ["Z", "Xg", "WTp", "tmp", "acc_W", "acc_b", "acc_loss", "Wk", "bk", "gW", "gb"],
)
DenseBatchBuffers.__doc__ = """Buffers of ``dense_batch_grad`` / ``dense_sgd_steps`` for batches of
at most ``m`` rows.

Z : ndarray of shape (m, K), dtype of X
Xg : ndarray of shape (n_chunks, block_size, n_features), dtype of X
    Each chunk's gathered block of rows.
WTp, tmp, acc_W, acc_b, acc_loss : as in :class:`DenseFullBuffers`
Wk : ndarray of shape (K, n_features), dtype of X
bk : ndarray of shape (K,), dtype of X
    The float64 iterate converted to X's dtype before each step.
gW : ndarray of shape (K, n_features), float64
gb : ndarray of shape (K,), float64
    The reduced gradient of a step.
"""

CsrFullBuffers = namedtuple("CsrFullBuffers", ["Z", "acc_WT", "acc_b", "acc_loss"])
CsrFullBuffers.__doc__ = """Buffers of ``csr_loss_grad`` for ``n`` rows.

Z : ndarray of shape (n, K), dtype of X
acc_WT : ndarray of shape (n_scatter_chunks, n_features, K), float64
acc_b : ndarray of shape (n_chunks, K), float64
acc_loss : ndarray of shape (n_chunks,), float64
"""

CsrStepBuffers = namedtuple("CsrStepBuffers", ["Z", "gb_rows", "losses"])
CsrStepBuffers.__doc__ = """Buffers of ``csr_sgd_step`` for batches of at most ``m`` rows.

Z : ndarray of shape (m, K), float64
gb_rows : ndarray of shape (m, K), float64
losses : ndarray of shape (m,), float64
"""


def padded_classes(K, dtype):
    """``K`` rounded up to whole groups of vectors of ``dtype`` (:data:`LOGITS_BLOCKING`):
    the columns of the packed ``W.T`` that the logits' product loads."""
    itemsize = np.dtype(dtype).itemsize
    group = LOGITS_BLOCKING[itemsize][1] * vector_lanes(itemsize)
    return -(-K // group) * group


def vector_lanes(itemsize):
    """Lanes of a vector (:data:`VECTOR_BYTES`) of items of ``itemsize`` bytes: 4 for
    float64, 8 for float32."""
    return VECTOR_BYTES // itemsize


def dense_block_size(n_features, itemsize):
    """Rows per block of a full dense evaluation of ``X`` with items of ``itemsize`` bytes.

    :data:`BLOCK_BYTES` of ``X``, kept between 16 and :data:`BLOCK_SIZE` rows and rounded
    down to whole steps of the logits' product (:data:`LOGITS_BLOCKING`: four rows in
    float64, six in float32; MNIST: 40 rows in float64, 78 in float32).  A function of
    the shape and dtype alone, so the summation order does not depend on the thread
    count.
    """
    rows = BLOCK_BYTES // max(1, n_features * itemsize)
    rows = min(BLOCK_SIZE, max(_MIN_BLOCK_SIZE, rows))
    return int(rows - rows % LOGITS_BLOCKING[itemsize][0])


def _n_dense_chunks(n_rows, block_size, K, n_features, itemsize):
    n_blocks = max(1, -(-n_rows // block_size))
    per_chunk = K * n_features * (8 + itemsize) + 1
    return int(max(1, min(_MAX_CHUNKS, n_blocks, _ACC_BUDGET // per_chunk)))


def dense_full_buffers(n_rows, K, n_features, dtype, block_size=None):
    """:class:`DenseFullBuffers` for a full evaluation on ``n_rows`` rows in blocks of
    ``block_size`` rows (default: :func:`dense_block_size`)."""
    dtype = np.dtype(dtype)
    if block_size is None:
        block_size = dense_block_size(n_features, dtype.itemsize)
    n_chunks = _n_dense_chunks(n_rows, block_size, K, n_features, dtype.itemsize)
    return DenseFullBuffers(
        Z=np.empty((n_rows, K), dtype=dtype),
        WTp=np.empty((n_features, padded_classes(K, dtype)), dtype=dtype),
        tmp=np.empty((n_chunks, K, n_features), dtype=dtype),
        acc_W=np.empty((n_chunks, K, n_features), dtype=np.float64),
        acc_b=np.empty((n_chunks, K), dtype=np.float64),
        acc_loss=np.empty(n_chunks, dtype=np.float64),
    )


def dense_batch_buffers(batch_size, K, n_features, dtype, block_size=BATCH_BLOCK_SIZE):
    """:class:`DenseBatchBuffers` for minibatches of at most ``batch_size`` rows.

    The chunk count is a function of the batch size only (blocks of 32 rows let a batch
    of 128 run on 4 threads), so results do not depend on threads.
    """
    dtype = np.dtype(dtype)
    n_chunks = _n_dense_chunks(batch_size, block_size, K, n_features, dtype.itemsize)
    return DenseBatchBuffers(
        Z=np.empty((batch_size, K), dtype=dtype),
        Xg=np.empty((n_chunks, block_size, n_features), dtype=dtype),
        WTp=np.empty((n_features, padded_classes(K, dtype)), dtype=dtype),
        tmp=np.empty((n_chunks, K, n_features), dtype=dtype),
        acc_W=np.empty((n_chunks, K, n_features), dtype=np.float64),
        acc_b=np.empty((n_chunks, K), dtype=np.float64),
        acc_loss=np.empty(n_chunks, dtype=np.float64),
        Wk=np.empty((K, n_features), dtype=dtype),
        bk=np.empty(K, dtype=dtype),
        gW=np.empty((K, n_features), dtype=np.float64),
        gb=np.empty(K, dtype=np.float64),
    )


def csr_full_buffers(n_rows, K, n_features, dtype):
    """:class:`CsrFullBuffers`: one chunk per 2048 rows, at most 8; the scatter's
    accumulators also within 16 MiB together."""
    n_chunks = int(max(1, min(_MAX_SPARSE_CHUNKS, -(-n_rows // _SPARSE_CHUNK_ROWS))))
    n_scatter = int(max(1, min(n_chunks, _SPARSE_ACC_BUDGET // (n_features * K * 8 + 1))))
    return CsrFullBuffers(
        Z=np.empty((n_rows, K), dtype=dtype),
        acc_WT=np.empty((n_scatter, n_features, K), dtype=np.float64),
        acc_b=np.empty((n_chunks, K), dtype=np.float64),
        acc_loss=np.empty(n_chunks, dtype=np.float64),
    )


def csr_step_buffers(batch_size, K):
    """:class:`CsrStepBuffers` for minibatches of at most ``batch_size`` rows."""
    return CsrStepBuffers(
        Z=np.empty((batch_size, K)),
        gb_rows=np.empty((batch_size, K)),
        losses=np.empty(batch_size),
    )
