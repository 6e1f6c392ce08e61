"""Thread control for the numba kernels: how many threads, which layer, BLAS limits.

Three things are decided here and nowhere else:

* **How many threads.**  ``n_jobs`` follows joblib's convention (``None`` and ``-1``
  mean all, ``-2`` all but one) and is capped by ``numba.config.NUMBA_NUM_THREADS``,
  which joblib's loky workers set to their share of the cores; ``None`` also honours a
  lower limit the caller set for its thread (``numba.set_num_threads``, or
  ``threadpoolctl.threadpool_limits`` through the controller registered here).
  ``numba.set_num_threads`` is thread-local, and the previous value is restored when a
  call ends, also on error.
* **BLAS beside the kernels.**  The kernels run no BLAS (their products are our own),
  but the solvers' BLAS work between evaluations would wake OpenBLAS threads that keep
  spinning and take the cores from the next kernel call.  BLAS is limited to one
  thread for the whole estimator call (a whole solve: see docs/design.md for why not
  per kernel call) and restored afterwards, through
  threadpoolctl.  OpenBLAS's limit is process-wide: the first active call (in any
  thread) sets it, the last one to leave restores the limits read before the first
  (reference-counted in ``_single_threaded_blas``), so overlapping calls from several
  Python threads neither lift the limit under each other nor leave it behind.
* **The threading layer.**  numba's ``workqueue`` layer aborts when two Python threads
  launch parallel kernels at once, and GNU OpenMP kills a child forked after the parent
  used it (``multiprocessing``'s default on Linux).  Unless the user chose a layer
  (``NUMBA_THREADING_LAYER``), we use TBB (the ``tbb`` dependency; thread- and
  fork-safe), else OpenMP, else workqueue with calls serialised by a lock, which is
  slower but never crashes.  Whenever TBB may be used (no choice, or ``tbb``,
  ``threadsafe``, ``forksafe`` or ``safe`` chosen), the ``tbb`` wheel's runtime is
  preloaded so that numba finds it.

**One owner per call.**  :func:`kernel_threads` is entered once per estimator call
(``fit``, ``partial_fit``, ``predict_proba``...), around everything that runs kernels or
BLAS; the loss object and the solvers never enter it.  A nested entry from the same
Python thread (a user's own code calling the estimator inside a callback, say) is
recognised and changes nothing, so it can neither deadlock on the workqueue lock nor
restore settings under the outer call.
"""

import contextlib
import os
import threading

# numba is imported where it is used, not here: a call that runs no kernel (a problem
# small enough for NumPy, see sk_softmax._kernels._small) must not pay numba's start.
from threadpoolctl import LibController
from threadpoolctl import register as register_threadpool_controller

__all__ = [
    "NumbaThreadpoolController",
    "blas_threads",
    "check_n_jobs",
    "effective_n_threads",
    "kernel_threads",
    "use_parallel",
]

#: Below this much work (multiply-adds of one kernel call) threads cannot pay off, and a
#: call runs the serial variant of a kernel, which gives the same bits and compiles in a
#: fraction of the time (a small first fit should not pay for the parallel kernels).
PARALLEL_MIN_WORK = 200_000

_state_lock = threading.Lock()
# Serialises calls under numba's workqueue layer; only the outermost kernel_threads of a
# Python thread takes it (a nested entry is recognised by _local.depth).
_launch_lock = threading.Lock()
_local = threading.local()
_layer_checked = False
_serialise_launches = False
_active_calls = 0
_original_blas_limits = None
_controller = None


def check_n_jobs(n_jobs):
    """Raise a ValueError for ``n_jobs == 0`` (joblib's convention), without numba."""
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, -1 or a positive integer.")


def effective_n_threads(n_jobs):
    """Number of kernel threads for ``n_jobs`` (joblib convention).

    Parameters
    ----------
    n_jobs : int or None
        ``None`` or ``-1``: the calling thread's current numba limit, which is what numba
        was given (``NUMBA_NUM_THREADS``, lowered by joblib in its workers) unless the
        caller lowered it with ``numba.set_num_threads`` or
        ``threadpoolctl.threadpool_limits`` (see :class:`NumbaThreadpoolController`);
        ``-k``: all but ``k - 1`` of what numba was given; a positive value is capped by
        what numba was given.

    Returns
    -------
    n_threads : int
        In ``[1, numba.config.NUMBA_NUM_THREADS]``.
    """
    check_n_jobs(n_jobs)
    import numba

    max_threads = numba.config.NUMBA_NUM_THREADS
    if n_jobs is None or n_jobs == -1:
        _choose_threading_layer()  # numba.get_num_threads starts numba's pool
        return max(1, min(numba.get_num_threads(), max_threads))
    if n_jobs < 0:
        return max(1, max_threads + 1 + n_jobs)
    return min(int(n_jobs), max_threads)


def use_parallel(work):
    """Whether a kernel call of ``work`` multiply-adds should run its parallel variant.

    Parameters
    ----------
    work : int or float
        Size of the call, e.g. ``n_samples * n_features * n_classes``.

    Returns
    -------
    bool
        True when the calling thread may use more than one numba thread (inside
        :func:`kernel_threads`, the call's setting) and ``work`` reaches
        ``PARALLEL_MIN_WORK``.  Both variants give identical results.
    """
    import numba

    return work >= PARALLEL_MIN_WORK and numba.get_num_threads() > 1


class NumbaThreadpoolController(LibController):
    """threadpoolctl controller for numba's thread pool (``user_api="numba"``).

    Registered with threadpoolctl on import, so that
    ``threadpoolctl.threadpool_limits(1)`` also limits the numba kernels of the calling
    thread (numba's limit is thread-local, as OpenMP's), and ``threadpool_info()`` lists
    numba's pool once a threading layer is loaded.
    """

    user_api = "numba"
    internal_api = "numba"
    filename_prefixes = ("tbbpool", "omppool", "workqueue")

    # threadpoolctl calls these only once a pool library of numba is loaded, so numba
    # is imported by then

    def get_num_threads(self):
        import numba

        return numba.get_num_threads()

    def set_num_threads(self, num_threads):
        import numba

        numba.set_num_threads(max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS)))

    def get_version(self):
        import numba

        return numba.__version__


register_threadpool_controller(NumbaThreadpoolController)


def _loadable(module):
    try:
        __import__(module)
    except Exception:  # ImportError, or OSError from a missing runtime library
        return False
    return True


def _preload_tbb():
    """Make the TBB runtime of the ``tbb`` wheel findable by numba's TBB pool.

    The wheel puts ``libtbb.so.12`` in ``<prefix>/lib``, which the dynamic loader does
    not search in a virtual environment; loading it first with ``RTLD_GLOBAL`` lets
    ``numba.np.ufunc.tbbpool`` resolve it.  Returns whether a library was loaded.
    """
    import ctypes
    import sys

    names = ("libtbb.so.12", "libtbb.12.dylib", "tbb12.dll")
    candidates = [
        os.path.join(sys.prefix, sub, name) for sub in ("lib", "Library/bin") for name in names
    ]
    try:
        from importlib.metadata import PackageNotFoundError, files

        try:
            candidates += [str(f.locate()) for f in files("tbb") or [] if f.name in names]
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    for path in candidates:
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                return True
            except OSError:
                continue
    return False


# numba's layer names (explicit, or chosen by numba by safety) under which TBB may load
_MAY_USE_TBB = ("default", "tbb", "threadsafe", "forksafe", "safe")


def _choose_threading_layer():
    """Pick numba's threading layer before our first parallel launch.

    Unless the user chose one (``NUMBA_THREADING_LAYER``): TBB when it loads (safe with
    concurrent Python threads and with ``fork``), else OpenMP (thread-safe; GNU OpenMP
    aborts a child forked after the parent used it, so use ``spawn``/``forkserver`` or
    loky there), else numba's workqueue with launches serialised by a lock.
    """
    global _layer_checked, _serialise_launches
    import numba

    with _state_lock:
        if _layer_checked:
            return
        user_choice = "NUMBA_THREADING_LAYER" in os.environ
        layer = numba.config.THREADING_LAYER
        tbb_ok = False
        if layer in _MAY_USE_TBB:
            # numba imports tbbpool only when it starts its pool; the wheel's runtime
            # must be loadable by then, whoever chose the layer
            tbb_ok = _loadable("numba.np.ufunc.tbbpool") or (
                _preload_tbb() and _loadable("numba.np.ufunc.tbbpool")
            )
        if not user_choice and layer == "default":
            if tbb_ok:
                numba.config.THREADING_LAYER = "tbb"
            elif _loadable("numba.np.ufunc.omppool"):
                numba.config.THREADING_LAYER = "omp"
        layer = numba.config.THREADING_LAYER
        safe = layer in ("tbb", "omp", "safe", "threadsafe", "forksafe") or (
            layer == "default"
            and (_loadable("numba.np.ufunc.tbbpool") or _loadable("numba.np.ufunc.omppool"))
        )
        # workqueue cannot run launches from two Python threads at once: serialise them
        _serialise_launches = not safe
        _layer_checked = True


def _blas_controller():
    global _controller
    if _controller is None:
        # scipy's BLAS (scipy.linalg.cython_blas; numba's np.dot too) may be a library of
        # its own: make sure it is loaded before threadpoolctl looks for BLAS libraries.
        import scipy.linalg.cython_blas  # noqa: F401
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController()
    return _controller


def _blas_libraries():
    return [lib for lib in _blas_controller().lib_controllers if lib.user_api == "blas"]


def _set_blas_threads(libraries, counts):
    for lib, count in zip(libraries, counts):
        # threadpoolctl (>= 3.6) ignores OpenBLAS limits set from any Python thread but
        # the one controlling it, so the last of several overlapping calls, in another
        # thread, could not restore the original limit.  Our reference count already
        # keeps threads from fighting: release control before and after setting, so
        # this thread may set it and the user's threads still may afterwards.
        release = getattr(lib, "clear_controlling_thread", None)
        if release is not None:
            release(force=True)
        lib.set_num_threads(count)
        if release is not None:
            release(force=True)


@contextlib.contextmanager
def _single_threaded_blas():
    """Limit BLAS to one thread; restore the limits the process had before any call.

    Calls nest (a fit holds the limit for its whole solve and every evaluation inside
    enters again) and overlap across threads, so the original limits are read when no
    call is active and restored when the last active call leaves: a call entering while
    another holds the limit must not take the limit itself for the original.
    """
    global _active_calls, _original_blas_limits
    libraries = _blas_libraries()
    with _state_lock:
        if _active_calls == 0:
            _original_blas_limits = [lib.num_threads for lib in libraries]
            _set_blas_threads(libraries, [1] * len(libraries))
        _active_calls += 1
    try:
        yield
    finally:
        with _state_lock:
            _active_calls -= 1
            if _active_calls == 0:
                _set_blas_threads(libraries, _original_blas_limits)


@contextlib.contextmanager
def blas_threads(n_jobs):
    """BLAS threads for a call that runs BLAS only (inference's Hessian), no numba kernel.

    Parameters
    ----------
    n_jobs : int or None
        joblib's convention, against the machine's cores (numba is not started): ``None``
        leaves BLAS's limits as the caller set them (OpenBLAS: all cores by default).

    Notes
    -----
    Like :func:`kernel_threads`, the one owner of thread settings for its call, entered
    once.  While a kernel call (any Python thread) holds BLAS at one thread, this one
    changes nothing: it runs on that one thread rather than lift the limit under it.
    """
    check_n_jobs(n_jobs)
    if n_jobs is None:
        yield
        return
    cores = os.cpu_count() or 1
    n = min(int(n_jobs), cores) if n_jobs > 0 else max(1, cores + 1 + n_jobs)
    libraries = _blas_libraries()
    with _state_lock:
        owner = _active_calls == 0
        if owner:
            saved = [lib.num_threads for lib in libraries]
            _set_blas_threads(libraries, [n] * len(libraries))
    try:
        yield
    finally:
        if owner:
            with _state_lock:
                _set_blas_threads(libraries, saved)


@contextlib.contextmanager
def kernel_threads(n_threads):
    """Run parallel kernels with ``n_threads`` numba threads and single-threaded BLAS.

    Parameters
    ----------
    n_threads : int or None
        From :func:`effective_n_threads`; ``None`` for a call that runs no numba kernel
        (a small problem evaluated with NumPy): BLAS is limited all the same, and numba
        is neither imported nor touched.

    Notes
    -----
    The one owner of thread settings for an estimator call: enter it once around
    everything that runs kernels.  Restores the caller's numba thread count and the
    BLAS limits on exit, also when the body raises.  A nested entry in the same Python
    thread changes nothing (the outer call's settings hold) and takes no lock, unless
    the outer call ran without numba and this one needs it: then it sets numba up for
    its own extent only.
    """
    depth = getattr(_local, "depth", 0)
    if depth > 0:
        _local.depth += 1
        try:
            if n_threads is not None and not _local.numba_set:
                with _numba_threads(n_threads):
                    yield
            else:
                yield
        finally:
            _local.depth -= 1
        return
    _local.depth = 1
    _local.numba_set = False
    try:
        with _single_threaded_blas():
            if n_threads is None:
                yield
            else:
                with _numba_threads(n_threads):
                    yield
    finally:
        _local.depth = 0


@contextlib.contextmanager
def _numba_threads(n_threads):
    """numba's part of :func:`kernel_threads`: the layer, the thread count, the lock."""
    import numba

    _choose_threading_layer()
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    _local.numba_set = True
    try:
        if _serialise_launches:
            with _launch_lock:
                yield
        else:
            yield
    finally:
        _local.numba_set = False
        numba.set_num_threads(previous)
