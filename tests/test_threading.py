"""Thread-count conventions and restoration of numba / BLAS settings."""

import threading

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from sk_softmax._threading import effective_n_threads, kernel_threads


def blas_threads():
    return sorted(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")


def test_effective_n_threads_conventions():
    top = numba.config.NUMBA_NUM_THREADS
    assert effective_n_threads(None) == top
    assert effective_n_threads(-1) == top
    assert effective_n_threads(1) == 1
    assert effective_n_threads(10_000) == top
    assert effective_n_threads(-2) == max(1, top - 1)
    assert effective_n_threads(-10_000) == 1
    with pytest.raises(ValueError, match="n_jobs"):
        effective_n_threads(0)


def test_settings_restored_also_on_error():
    import scipy.linalg.cython_blas  # noqa: F401  (load the BLAS numba uses)

    before_numba = numba.get_num_threads()
    before_blas = blas_threads()
    with pytest.raises(RuntimeError):
        with kernel_threads(1):
            assert numba.get_num_threads() == 1
            assert set(blas_threads()) == {1}
            raise RuntimeError("boom")
    assert numba.get_num_threads() == before_numba
    assert blas_threads() == before_blas


def test_blas_limits_restored_after_overlapping_calls_from_threads():
    """Overlapping calls from two threads: BLAS stays at one thread while any call is
    active, and the original limits come back afterwards, whichever thread leaves last."""
    import scipy.linalg.cython_blas  # noqa: F401

    before = blas_threads()
    inside = threading.Event()
    release = threading.Event()
    seen = []

    def worker():
        with kernel_threads(1):
            inside.set()
            release.wait(10)
            seen.append(blas_threads())

    for main_leaves_first in (True, False):
        inside.clear()
        release.clear()
        t = threading.Thread(target=worker)
        t.start()
        inside.wait(10)
        with kernel_threads(1):
            assert set(blas_threads()) == {1}
            if not main_leaves_first:
                release.set()
                t.join()
        release.set()
        t.join()
        assert blas_threads() == before
    assert all(set(s) == {1} for s in seen), seen


def test_nested_entry_keeps_the_outer_settings_and_takes_no_lock(monkeypatch):
    """A nested kernel_threads in the same Python thread (the estimator calling back into
    itself) changes nothing and returns: with launches serialised (the workqueue layer)
    the outer entry holds the launch lock, and the inner one must not wait for it."""
    from sk_softmax import _threading

    _threading._choose_threading_layer()
    monkeypatch.setattr(_threading, "_serialise_launches", True)
    before = numba.get_num_threads()
    seen = {}

    def nested():
        with kernel_threads(1):
            seen["held"] = _threading._launch_lock.locked()
            with kernel_threads(2):
                seen["inner"] = numba.get_num_threads()
            seen["after"] = numba.get_num_threads()

    t = threading.Thread(target=nested)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "nested kernel_threads deadlocked"
    assert seen == {"held": True, "inner": 1, "after": 1}
    assert not _threading._launch_lock.locked()
    assert numba.get_num_threads() == before


def test_a_call_without_kernels_leaves_numba_alone_and_a_nested_one_sets_it(monkeypatch):
    """``kernel_threads(None)`` (a small problem evaluated with NumPy) holds BLAS at one
    thread and sets no numba threads; a kernel call nested in it (a callback fitting a
    large model) sets numba up for its own extent, lock included, and restores it."""
    from sk_softmax import _threading

    _threading._choose_threading_layer()
    monkeypatch.setattr(_threading, "_serialise_launches", True)
    seen = {}

    def run():
        numba.set_num_threads(2)
        with kernel_threads(None):
            seen["outer"] = (
                numba.get_num_threads(),
                _threading._launch_lock.locked(),
                _blas_threads(),
            )
            with kernel_threads(1):
                seen["inner"] = (numba.get_num_threads(), _threading._launch_lock.locked())
                with kernel_threads(2):  # nested again: the inner settings hold
                    seen["innermost"] = numba.get_num_threads()
            seen["after"] = (numba.get_num_threads(), _threading._launch_lock.locked())

    t = threading.Thread(target=run)
    t.start()
    t.join(timeout=30)
    assert not t.is_alive(), "kernel_threads deadlocked"
    assert seen["outer"][:2] == (2, False)
    assert set(seen["outer"][2]) <= {1}
    assert seen["inner"] == (1, True)
    assert seen["innermost"] == 1
    assert seen["after"] == (2, False)


def _blas_threads():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_concurrent_kernel_calls_from_threads():
    """Parallel kernels launched from several Python threads at once give the serial result."""
    from sk_softmax._loss import SoftmaxLoss

    rng = np.random.default_rng(0)
    X = rng.standard_normal((3000, 12))
    y = rng.integers(0, 4, 3000)
    coef = rng.standard_normal(4 * 13)
    with kernel_threads(2):
        expected = SoftmaxLoss(X, y, 4).loss_gradient(coef)
    results = [None] * 6

    def work(i):
        with kernel_threads(2):  # each thread's call owns its settings
            results[i] = SoftmaxLoss(X, y, 4).loss_gradient(coef)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for value, grad in results:
        assert value == expected[0]
        np.testing.assert_array_equal(grad, expected[1])
