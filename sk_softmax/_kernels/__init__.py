"""Numba kernels.

Kernels take only arrays (or CSR triplets), named tuples of work buffers and scalars,
validate nothing and allocate nothing of size ``n_samples``: the loss object
(:mod:`sk_softmax._loss`) and the solvers (:mod:`sk_softmax._solvers`) own the buffers,
sized by :mod:`._buffers`.  Every kernel is compiled on first call, never at import.
"""

from ._buffers import (
    BATCH_BLOCK_SIZE,
    BLOCK_SIZE,
    CsrFullBuffers,
    CsrStepBuffers,
    DenseBatchBuffers,
    DenseFullBuffers,
    csr_full_buffers,
    csr_step_buffers,
    dense_batch_buffers,
    dense_full_buffers,
)
from ._dense import (
    add_rt_x,
    dense_batch_grad,
    dense_loss_grad,
    dense_sgd_steps,
    reduce_chunks,
    softmax_grad_row,
)
from ._softmax import row_exp_inplace, row_max, row_max_sumexp, softmax_rows
from ._sparse import csr_grad_finish, csr_loss_grad, csr_row_logits, csr_row_sq_norms, csr_sgd_step

__all__ = [
    "BATCH_BLOCK_SIZE",
    "BLOCK_SIZE",
    "CsrFullBuffers",
    "CsrStepBuffers",
    "DenseBatchBuffers",
    "DenseFullBuffers",
    "add_rt_x",
    "csr_full_buffers",
    "csr_grad_finish",
    "csr_loss_grad",
    "csr_row_logits",
    "csr_row_sq_norms",
    "csr_sgd_step",
    "csr_step_buffers",
    "dense_batch_buffers",
    "dense_batch_grad",
    "dense_full_buffers",
    "dense_loss_grad",
    "dense_sgd_steps",
    "reduce_chunks",
    "row_exp_inplace",
    "row_max",
    "row_max_sumexp",
    "softmax_grad_row",
    "softmax_rows",
]
