"""One place for the numba options every kernel uses.

``cache=True`` stores compiled machine code next to the sources (or in numba's user
cache directory when the install is read-only), so a warm process does not compile
again.  ``fastmath`` stays off: the kernels rely on IEEE semantics for ``-inf`` row
maxima and for exact agreement with the NumPy reference.  ``nogil=True`` lets other
Python threads run while a kernel works.  Kernels are compiled lazily, on first call,
because no signature is given here.

A read-only install with no writable user cache directory would make numba raise
("cannot cache function ...: no locator available") on the first call, so the cache
location is decided here, when the kernels are decorated: numba's own choices when one
is writable, else a per-user directory under the system's temporary directory, else
no caching (with one warning).
"""

import os
import tempfile
import warnings

import numba


def _writable_dir(path):
    """Whether ``path`` is (or can be created as) a writable directory."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _numba_can_cache():
    if numba.config.CACHE_DIR:
        return _writable_dir(numba.config.CACHE_DIR)
    here = os.path.dirname(os.path.abspath(__file__))
    if _writable_dir(os.path.join(here, "__pycache__")):
        return True
    try:
        from numba.misc.appdirs import AppDirs

        return _writable_dir(AppDirs(appname="numba", appauthor=False).user_cache_dir)
    except Exception:  # pragma: no cover (appdirs moved)
        return False


def _cache_option():
    if _numba_can_cache():
        return True
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = os.path.join(tempfile.gettempdir(), f"sk_softmax-numba-cache-{uid}")
    try:
        os.makedirs(fallback, exist_ok=True)
    except OSError:
        fallback = None
    if fallback and _writable_dir(fallback):
        numba.config.CACHE_DIR = fallback
        return True
    warnings.warn(
        "sk_softmax: no writable directory for numba's cache (read-only install, no "
        "writable home); kernels will be compiled in every process. Set "
        "NUMBA_CACHE_DIR to a writable directory to cache them.",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


JIT_OPTIONS = dict(cache=_cache_option(), fastmath=False, nogil=True, error_model="numpy")

#: Decorator for serial kernels and helpers.
jit = numba.njit(**JIT_OPTIONS)


def jit_parallel(func):
    """Compile ``func`` as a parallel (``prange``) kernel with the shared options."""
    return numba.njit(parallel=True, **JIT_OPTIONS)(func)
