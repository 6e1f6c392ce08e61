"""Row-wise softmax pieces shared by the fused loss kernel and the prediction kernel.

Every row of logits ``z`` (length ``K``) may carry an implicit extra logit fixed at 0
placed *before* the ``K`` stored ones (``ref_zero=True``).  That is the binary
(sigmoid) model: one stored logit ``z`` and an implicit 0 for the negative class give
``softmax([0, z]) = [1 - sigmoid(z), sigmoid(z)]``, so binary and multinomial problems
share one code path at the cost of the binary one.

Stability: the row maximum ``m`` (at least 0 with ``ref_zero``) is subtracted before
``exp``, so every exponent is <= 0, the sum ``s`` lies in ``[1, K + 1]`` and
the log-softmax ``(z - m) - log(s)`` is finite for any finite logits.
"""

import numpy as np
from numba import prange

from ._config import jit, jit_variants


@jit
def row_max(z, ref_zero):
    """Maximum of a row of logits, the implicit zero logit included when ``ref_zero``."""
    m = 0.0 if ref_zero else -np.inf
    for k in range(z.shape[0]):
        if z[k] > m:
            m = z[k]
    return m


@jit
def row_max_sumexp(z, ref_zero):
    """``(m, s)`` of one row: its maximum and ``sum(exp(z - m))``; ``z`` is not modified.

    The log-softmax is then ``(z - m) - log(s)``.  Subtracting ``m`` first matters: for
    huge logits ``m + log(s)`` rounds to ``m`` and would lose ``log(s)`` entirely.
    """
    m = row_max(z, ref_zero)
    s = np.exp(-m) if ref_zero else 0.0
    for k in range(z.shape[0]):
        s += np.exp(z[k] - m)
    return m, s


@jit
def row_exp_inplace(z, ref_zero):
    """Overwrite ``z`` with ``exp(z - m)`` and return ``(m, s)``.

    ``m`` is the row maximum and ``s = sum(exp(z - m))`` (implicit zero logit included),
    so the probabilities are ``z / s`` afterwards.
    """
    m = row_max(z, ref_zero)
    s = np.exp(-m) if ref_zero else 0.0
    for k in range(z.shape[0]):
        e = np.exp(z[k] - m)
        z[k] = e
        s += e
    return m, s


def softmax_rows(Z, ref_zero, log, out, parallel=True):
    """Row-wise softmax or log-softmax of a batch of logits.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, K), float32 or float64
        Logits; not modified.
    ref_zero : bool
        Whether each row has an implicit first logit equal to 0 (binary model).
    log : bool
        Write ``log_softmax`` instead of ``softmax``.
    out : ndarray of shape (n_samples, K + ref_zero), same dtype as ``Z``
        Output.  Column 0 is the implicit class when ``ref_zero``.
    parallel : bool, default=True
        Run the parallel variant (else the serial one: identical, faster to compile).

    Notes
    -----
    Log-probabilities are ``(z - max) - log(sum(exp(z - max)))``, never
    ``log(softmax(z))``, and are
    clipped at the most negative finite value of the dtype, so no entry is ``-inf``
    or NaN for finite logits, however large.
    """
    kernel = _softmax_rows.parallel if parallel else _softmax_rows.serial
    kernel(Z, ref_zero, log, out)


def _softmax_rows_body(Z, ref_zero, log, out):
    n, K = Z.shape
    off = 1 if ref_zero else 0
    lowest = np.finfo(out.dtype).min
    for i in prange(n):
        z = Z[i]
        if log:
            m, s = row_max_sumexp(z, ref_zero)
            log_s = np.log(s)
            if ref_zero:
                out[i, 0] = max(-m - log_s, lowest)
            for k in range(K):
                out[i, k + off] = max((z[k] - m) - log_s, lowest)
        else:
            o = out[i, off:]
            for k in range(K):
                o[k] = z[k]
            m, s = row_exp_inplace(o, ref_zero)
            inv = 1.0 / s
            if ref_zero:
                out[i, 0] = np.exp(-m) * inv
            for k in range(K):
                o[k] = o[k] * inv


_softmax_rows = jit_variants(_softmax_rows_body)
