"""Numba kernels.

Kernels take only arrays (or CSR triplets) and scalars, validate nothing and allocate
nothing of size ``n_samples``; the loss object in :mod:`sk_softmax._loss` owns the
buffers and the dispatch.  Every kernel is compiled on first call, never at import.
"""

from ._dense import dense_loss_grad, dense_sgd_steps, reduce_chunks, softmax_grad_row
from ._softmax import row_exp_inplace, row_max, row_max_sumexp, softmax_rows
from ._sparse import csr_grad_finish, csr_loss_grad, csr_row_logits, csr_row_sq_norms, csr_sgd_step

__all__ = [
    "csr_grad_finish",
    "csr_loss_grad",
    "csr_row_logits",
    "csr_row_sq_norms",
    "csr_sgd_step",
    "dense_loss_grad",
    "dense_sgd_steps",
    "reduce_chunks",
    "row_exp_inplace",
    "row_max",
    "row_max_sumexp",
    "softmax_grad_row",
    "softmax_rows",
]
