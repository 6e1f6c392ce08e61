"""One place for the numba options every kernel uses.

``cache=True`` stores compiled machine code next to the sources (or in numba's user
cache directory when the install is read-only), so a warm process does not compile
again.  ``fastmath`` stays off: the kernels rely on IEEE semantics for ``-inf`` row
maxima and for exact agreement with the NumPy reference.  ``nogil=True`` lets other
Python threads run while a kernel works.  Kernels are compiled lazily, on first call,
because no signature is given here.
"""

import numba

JIT_OPTIONS = dict(cache=True, fastmath=False, nogil=True, error_model="numpy")

#: Decorator for serial kernels and helpers.
jit = numba.njit(**JIT_OPTIONS)


def jit_parallel(func):
    """Compile ``func`` as a parallel (``prange``) kernel with the shared options."""
    return numba.njit(parallel=True, **JIT_OPTIONS)(func)
