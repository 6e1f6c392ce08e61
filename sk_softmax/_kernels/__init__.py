"""Numba kernels, and the NumPy evaluations of problems too small for them.

Kernels take only arrays (or CSR triplets), named tuples of work buffers and scalars,
validate nothing and allocate nothing of size ``n_samples``: the loss object
(:mod:`sk_softmax._loss`) and the solvers (:mod:`sk_softmax._solvers`) own the buffers,
sized by :mod:`._buffers`.  Every kernel is compiled on first call, never at import.

The names below are imported on first access (PEP 562): importing this package imports
neither numba nor a kernel module, so a fit that needs no kernel (a problem small
enough for :mod:`._small`) never starts numba.  Callers that may run without numba
look kernels up at call time (``_kernels.dense_loss_grad(...)``).
"""

import importlib

# name -> the submodule defining it
_SOURCES = {
    "BATCH_BLOCK_SIZE": "_buffers",
    "BLOCK_SIZE": "_buffers",
    "CsrFullBuffers": "_buffers",
    "CsrModel": "_buffers",
    "CSR_STEP_FIELDS": "_buffers",
    "SGDModel": "_buffers",
    "SGDSchedule": "_buffers",
    "cumulative_l1": "_dense",
    "CsrStepBuffers": "_buffers",
    "DenseBatchBuffers": "_buffers",
    "DenseFullBuffers": "_buffers",
    "csr_full_buffers": "_buffers",
    "csr_step_buffers": "_buffers",
    "dense_batch_buffers": "_buffers",
    "dense_full_buffers": "_buffers",
    "dense_block_size": "_buffers",
    "BLOCK_BYTES": "_buffers",
    "LOGITS_BLOCKING": "_buffers",
    "padded_classes": "_buffers",
    "dense_batch_grad": "_dense",
    "dense_loss_grad": "_dense",
    "dense_sgd_steps": "_dense",
    "reduce_chunks": "_dense",
    "softmax_grad_row": "_dense",
    "row_exp_inplace": "_softmax",
    "row_max": "_softmax",
    "row_max_sumexp": "_softmax",
    "softmax_rows": "_softmax",
    "csr_grad_finish": "_sparse",
    "csr_loss_grad": "_sparse",
    "csr_row_logits": "_sparse",
    "csr_row_sq_norms": "_sparse",
    "csr_sgd_step": "_sparse",
    "SMALL_MAX_WORK": "_small",
    "small_csr_row_sq_norms": "_small",
    "small_loss_grad": "_small",
    "small_softmax_rows": "_small",
}

__all__ = sorted(_SOURCES)


def __getattr__(name):
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    if callable(value):
        # functions and classes are kept here after the first look-up; constants are read
        # from their module every time, so this package never holds a stale copy of one
        # (a test that patches ``_small.SMALL_MAX_WORK`` would otherwise leave its value
        # here for every later caller)
        globals()[name] = value
    return value


def __dir__():
    return __all__
