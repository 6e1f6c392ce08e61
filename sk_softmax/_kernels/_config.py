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
import types
import warnings
from collections import namedtuple

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


#: The two compiled variants of a ``prange`` kernel (see :func:`jit_variants`).
KernelVariants = namedtuple("KernelVariants", ["serial", "parallel"])


def jit_variants(func):
    """Compile ``func`` twice, each lazily: serial (``prange`` runs as ``range``) and parallel.

    Both run the same loops in the same order over the same chunks (the chunk count is a
    function of the shape, never of the threads), so they give bit-identical results;
    the serial one compiles in a fraction of the time, which is what a small problem
    should pay on first use.

    Parameters
    ----------
    func : function
        The kernel's Python function.

    Returns
    -------
    variants : KernelVariants
        ``.serial`` and ``.parallel`` dispatchers.
    """
    return KernelVariants(serial=jit(_renamed(func, func.__globals__)), parallel=jit_parallel(func))


def jit_callers(func, callee_name, callee):
    """The two variants of a serial kernel that calls a kernel with variants.

    ``func`` has no ``prange`` of its own (compiling it with ``parallel=True`` would
    only earn numba's "no transformation for parallel execution was possible"
    warning); what differs between its variants is the variant of ``callee`` it calls,
    through the module global ``callee_name``.  numba resolves globals when it
    compiles, so the serial variant is a copy of ``func`` whose globals map
    ``callee_name`` to ``callee.serial`` (the module's own global must be
    ``callee.parallel``).

    Parameters
    ----------
    func : function
    callee_name : str
        The global through which ``func`` calls the callee.
    callee : KernelVariants

    Returns
    -------
    variants : KernelVariants
    """
    if func.__globals__.get(callee_name) is not callee.parallel:
        raise ValueError(f"{func.__name__}: global {callee_name} must be the parallel variant")
    serial_globals = {**func.__globals__, callee_name: callee.serial}
    return KernelVariants(serial=jit(_renamed(func, serial_globals)), parallel=jit(func))


def _renamed(func, namespace):
    """A copy of ``func`` named ``<name>_serial`` (numba's cache keeps the variants
    apart by name) resolving its globals in ``namespace``."""
    twin = types.FunctionType(
        func.__code__, namespace, func.__name__ + "_serial", func.__defaults__, func.__closure__
    )
    twin.__qualname__ = func.__qualname__ + "_serial"
    twin.__module__ = func.__module__
    twin.__doc__ = func.__doc__
    return twin


def compiled_kernels():
    """Names of the kernels (numba dispatchers, both variants) compiled in this process.

    Returns
    -------
    names : list of str
        ``module.function`` for every dispatcher of the kernel modules with a compiled
        (or cache-loaded) signature; empty right after import.
    """
    import importlib

    names = []
    for module_name in ("_softmax", "_products", "_dense", "_sparse"):
        module = importlib.import_module(f"{__package__}.{module_name}")
        for value in vars(module).values():
            dispatchers = value if isinstance(value, KernelVariants) else (value,)
            for d in dispatchers:
                if (
                    isinstance(d, numba.core.dispatcher.Dispatcher)
                    and d.signatures
                    and d.py_func.__module__ == module.__name__  # not one imported there
                ):
                    names.append(f"{module_name}.{d.py_func.__name__}")
    return names
