import os

# scikit-learn's check_array_api_input is skipped unless scipy is imported with array-API
# support; set it before anything imports scipy so that no estimator check is skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import re  # noqa: E402
import sys  # noqa: E402

# imported (its thread pool is not started) so that the checks below know numba's thread
# count from the first test on; the tests that need a process without numba are children
import numba  # noqa: E402, F401
import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=["kernels", "numpy"])
def evaluation(request, monkeypatch):
    """Send the loss object's full-batch evaluations through the numba kernels or the
    NumPy path of small problems, whatever the problem's size, so that a test on small
    data covers both."""
    from sk_softmax._kernels import _small

    monkeypatch.setattr(_small, "SMALL_MAX_WORK", 0 if request.param == "kernels" else np.inf)
    return request.param


# -- no state shared between tests ---------------------------------------------------------
# Every test must pass alone and in any order, so a test must leave the process as it found
# it.  The two fixtures below compare, around each test and each test module, what decides
# which path a fit takes: the package's module constants (``PARALLEL_MIN_WORK``,
# ``SMALL_MAX_WORK``, ``FLOAT32_STAGE_MAX_COPY_BYTES``...), the calling thread's numba thread count,
# the BLAS and OpenMP thread limits, numba's configuration, scikit-learn's and NumPy's
# settings and the environment.  A test that changes one of them and does not restore it
# (use ``monkeypatch``, a ``with`` block or ``try``/``finally``) errors at its teardown.

_CONSTANT = re.compile(r"_?[A-Z][A-Z0-9_]*")
_SIMPLE = (bool, int, float, str, bytes, tuple, frozenset, type(None))
# environment variables whose appearance is a leak (thread counts and the like); others
# appear on import (scikit-learn and joblib set KMP_INIT_AT_FORK, polars _RJEM_MALLOC_CONF)
_THREAD_ENV = re.compile(
    r"NUMBA_.*|SK_SOFTMAX.*|SCIPY_.*|OMP_.*|DASK_.*|.*_NUM_THREADS"
    r"|.*_MAX_THREADS|VECLIB_MAXIMUM_THREADS"
)
_NUMBA_CONFIG = ("NUMBA_NUM_THREADS", "THREADING_LAYER", "CACHE_DIR", "BOUNDSCHECK", "DISABLE_JIT")


def _package_constants():
    found = {}
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "sk_softmax" or name.startswith("sk_softmax.")):
            continue
        for attr, value in list(vars(module).items()):
            if _CONSTANT.fullmatch(attr) and isinstance(value, _SIMPLE):
                found[f"{name}.{attr}"] = repr(value)
    return found


def _thread_limits():
    """Thread limits of the calling thread: numba's (asked only once its pool is started:
    asking earlier would start it, before sk_softmax chose the threading layer) and those
    of the loaded BLAS and OpenMP libraries."""
    limits = {}
    if "numba" in sys.modules:
        import numba

        parallel = sys.modules.get("numba.np.ufunc.parallel")
        if parallel is not None and getattr(parallel, "_is_initialized", False):
            limits["numba threads"] = numba.get_num_threads()
        else:  # what the pool will start with
            limits["numba threads"] = numba.config.NUMBA_NUM_THREADS
    if "threadpoolctl" in sys.modules:
        from threadpoolctl import ThreadpoolController

        for lib in ThreadpoolController().lib_controllers:
            if lib.user_api != "numba":
                limits[f"{lib.internal_api} {lib.filepath}"] = lib.num_threads
    return limits


def _global_state():
    state = {
        "constants": _package_constants(),
        "modules": {m for m in sys.modules if m == "sk_softmax" or m.startswith("sk_softmax.")},
        "threads": _thread_limits(),
        "environ": {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"},
        "numpy errstate": np.geterr(),
    }
    if "numba" in sys.modules:
        import numba

        state["numba config"] = {k: getattr(numba.config, k, None) for k in _NUMBA_CONFIG}
    if "sklearn" in sys.modules:
        import sklearn

        state["sklearn config"] = sklearn.get_config()
    threading_module = sys.modules.get("sk_softmax._threading")
    if threading_module is not None:
        # no estimator call may be left active (it would hold BLAS at one thread)
        state["active kernel calls"] = (
            getattr(threading_module, "_active_calls", 0),
            getattr(threading_module._local, "depth", 0),
        )
    return state


def _leaks(before, after):
    """What ``after`` changed from ``before``: values that differ where both have them.
    Names that appear in between (a module imported, a library loaded, the threading
    layer chosen by sk_softmax on its first parallel call) are not leaks."""
    leaks = []
    for group, old in before.items():
        new = after.get(group)
        if group == "modules":
            continue  # (a module imported in between is not a leak)
        if isinstance(old, dict) and isinstance(new, dict):
            if group == "constants":
                # a module's constants are made on its import: one that appears later in
                # a module imported before (a lazy re-export's cached copy) is a leak
                leaks += [
                    f"constants: {key} added ({new[key]!r})"
                    for key in new.keys() - old
                    if key.rpartition(".")[0] in before["modules"]
                ]
            for key, value in old.items():
                if key in new and new[key] != value:
                    if group == "numba config" and (key, value) in (
                        ("THREADING_LAYER", "default"),
                        ("CACHE_DIR", ""),
                    ):
                        # chosen once per process by sk_softmax (_threading's choice of the
                        # layer, _kernels._config's fallback cache of a read-only install)
                        continue
                    leaks.append(f"{group}: {key} was {value!r}, now {new[key]!r}")
            if group == "environ":
                # (libraries' own variables, set on import, are not a test's doing)
                leaks += [
                    f"environ: {key} added ({new[key]!r})"
                    for key in new.keys() - old
                    if _THREAD_ENV.fullmatch(key)
                ]
                leaks += [f"environ: {key} removed" for key in old.keys() - new]
        elif old != new:
            leaks.append(f"{group} was {old!r}, now {new!r}")
    return leaks


@pytest.fixture(autouse=True, scope="module")
def _module_leaves_no_state():
    """Module-scoped fixtures (a dask cluster, say) must restore what they changed."""
    before = _global_state()
    yield
    leaks = _leaks(before, _global_state())
    assert not leaks, "the test module changed global state:\n" + "\n".join(leaks)


@pytest.fixture(autouse=True)
def _test_leaves_no_state():
    before = _global_state()
    yield
    leaks = _leaks(before, _global_state())
    assert not leaks, "the test changed global state:\n" + "\n".join(leaks)


def pytest_terminal_summary(terminalreporter, config):
    """Name the random order's seed at the end of the run, also under ``-q`` (which hides
    pytest-randomly's header line), so that a failure's order can be reproduced."""
    if config.pluginmanager.hasplugin("randomly"):
        seed = config.getoption("randomly_seed", None)
        terminalreporter.write_line(
            f"random order (pytest-randomly): reproduce it with --randomly-seed={seed}; "
            f"file order with -p no:randomly"
        )


# -- array API checks on devices this machine lacks ------------------------------------------
# scikit-learn's array API estimator checks skip torch on "cuda" only where torch was built
# without CUDA (torch.backends.cuda.is_built()); the default PyTorch wheel is built with it,
# so on a machine without a usable GPU those checks would fail on their first transfer,
# whatever the estimator.  They are skipped here unless a CUDA device can be used.
# (their ids name the device as device_name=cuda, or device='cuda' for mixed inputs)
_DEVICE_CHECK = re.compile(r"check_array_api_\w+\(.*torch.*\b(cuda|mps)\b")


def _torch_device_usable(name):
    try:
        import torch
    except ImportError:  # scikit-learn's own skip then applies
        return True
    if name == "cuda":
        return torch.cuda.is_available()
    return torch.backends.mps.is_available()


def pytest_collection_modifyitems(config, items):
    usable = {}
    for item in items:
        match = _DEVICE_CHECK.search(item.name)
        if match is None:
            continue
        name = match.group(1)
        if name not in usable:
            usable[name] = _torch_device_usable(name)
        if not usable[name]:
            item.add_marker(
                pytest.mark.skip(reason=f"torch is built for {name}, but no such device here")
            )
