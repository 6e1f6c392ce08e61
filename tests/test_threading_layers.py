"""Every numba threading layer fits, and fits exactly as the default layer does.

Each layer is tried in a child process, because numba picks its threading layer once per
process (``NUMBA_THREADING_LAYER``, read at import) and a hang must fail the test, not
the test run: the children run under a timeout.  Two defects are guarded here:

* outside TBB (``workqueue``), calls are serialised by a lock that a fit used to take
  twice (the estimator call, then the loss evaluation inside it), so the first fit never
  returned;
* ``NUMBA_THREADING_LAYER=tbb`` set by the user failed with numba's "install tbb" error
  although the ``tbb`` wheel is installed, because the wheel's runtime was preloaded only
  when no layer was chosen.

The kernels give bit-identical results for any thread count and schedule (fixed chunks,
reduced in order), so each layer must reproduce the default layer's coefficients exactly,
also for fits running at once from several Python threads.

``SK_SOFTMAX_LAYER_TIMEOUT`` (seconds, default 180) bounds each child; the first child
may compile the kernels (tens of seconds) unless numba's cache is warm.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # child processes

TIMEOUT = float(os.environ.get("SK_SOFTMAX_LAYER_TIMEOUT", "180"))
LAYERS = ("workqueue", "omp", "tbb")

# The computations compared across layers.  Writes the coefficients (with the intercept
# as last column) to the .npz named by argv[1] and prints one JSON line: the layer numba
# really used and the package imported (a run against another checkout must show it).
# Shortly before the parent's timeout (argv[2] seconds) it dumps every thread's stack to
# stderr, so that a hang reports where it hangs.
CHILD = r"""
import faulthandler
import json
import sys
import threading
import warnings

import numba
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

import sk_softmax
from sk_softmax import SoftmaxClassifier

print(f"sk_softmax from {sk_softmax.__file__}", file=sys.stderr, flush=True)
faulthandler.dump_traceback_later(float(sys.argv[2]))
warnings.simplefilter("ignore", ConvergenceWarning)  # only the coefficients matter here
X, y = load_digits(return_X_y=True)
# 480 rows: several row blocks (128 rows) and minibatch blocks (32 rows) per call, so
# that n_jobs=2 splits every kernel between two threads
X = StandardScaler().fit_transform(X[:480])
y = y[:480]


def coefs(est):
    return np.hstack([est.coef_, est.intercept_[:, None]])


results = {}
results["lbfgs"] = coefs(SoftmaxClassifier(n_jobs=2).fit(X, y))
sgd = SoftmaxClassifier(solver="sgd", random_state=0, max_iter=5, tol=None, n_jobs=2)
results["sgd"] = coefs(sgd.fit(X, y))
est = SoftmaxClassifier(solver="sgd", random_state=0, n_jobs=2)
for i, rows in enumerate(np.array_split(np.arange(len(y)), 3)):
    est.partial_fit(X[rows], y[rows], classes=np.unique(y) if i == 0 else None)
results["partial_fit"] = coefs(est)

# concurrent launches from Python threads: workqueue must serialise them, TBB and OpenMP
# run them at once
threaded, errors = [None] * 4, []


def work(i):
    try:
        threaded[i] = coefs(SoftmaxClassifier(n_jobs=2).fit(X, y))
    except BaseException as exc:
        errors.append(repr(exc))


threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if errors:
    raise RuntimeError(f"fits in threads failed: {errors}")
for i, coef in enumerate(threaded):
    results[f"threaded_{i}"] = coef

faulthandler.cancel_dump_traceback_later()
np.savez(sys.argv[1], **results)
print(json.dumps({"layer": numba.threading_layer(), "module": sk_softmax.__file__}))
"""

# Which layers can load here, the way sk_softmax loads them (TBB after the wheel's runtime
# is preloaded); in a child, since a failed import may leave numba half-initialised.
PROBE = r"""
import json

from sk_softmax._threading import _preload_tbb

_preload_tbb()
loadable = {"workqueue": True}
for layer in ("omp", "tbb"):
    try:
        __import__(f"numba.np.ufunc.{layer}pool")
        loadable[layer] = True
    except Exception as exc:  # ImportError, or OSError from a missing runtime library
        loadable[layer] = repr(exc)
print(json.dumps(loadable))
"""


def _child_env(layer):
    """The parent's environment (NUMBA_CACHE_DIR, PYTHONPATH...), with ``layer`` chosen
    through NUMBA_THREADING_LAYER, or none chosen for ``layer=None``."""
    env = dict(os.environ)
    env.pop("NUMBA_THREADING_LAYER", None)
    if layer is not None:
        env["NUMBA_THREADING_LAYER"] = layer
    return env


def _run_child(code, args, layer, cwd):
    """Run ``code`` in a child; returns (returncode or "timeout", stdout, stderr).

    ``cwd`` is a scratch directory so that ``python -c`` cannot import a package from
    the test's working directory: the child imports what the environment points at.
    """
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=_child_env(layer),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:  # the child was killed

        def text(b):
            return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")

        return "timeout", text(exc.stdout), text(exc.stderr)
    return proc.returncode, proc.stdout, proc.stderr


def _layer_result(layer, tmp):
    """CHILD's JSON line and coefficients under ``layer``, or why there are none (str)."""
    npz = tmp / "coefs.npz"
    code, out, err = _run_child(CHILD, [str(npz), str(0.9 * TIMEOUT)], layer, tmp)
    if code == "timeout":
        return (
            f"NUMBA_THREADING_LAYER={layer}: child still running after {TIMEOUT:g} s "
            f"(deadlock?), killed.\nstdout:\n{out}\nstderr:\n{err[-4000:]}"
        )
    if code != 0:
        return (
            f"NUMBA_THREADING_LAYER={layer}: child exited with {code}.\n"
            f"stdout:\n{out}\nstderr:\n{err[-4000:]}"
        )
    info = json.loads(out.strip().splitlines()[-1])
    with np.load(npz) as data:
        info["coefs"] = {key: data[key] for key in data.files}
    return info


@pytest.fixture(scope="module")
def loadable_layers(tmp_path_factory):
    code, out, err = _run_child(PROBE, [], None, tmp_path_factory.mktemp("probe"))
    assert code == 0, f"layer probe failed ({code}):\n{out}\n{err}"
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def layer_run(tmp_path_factory):
    """``layer_run(layer)``: the CHILD's results under ``layer`` (``None``: numba's and
    sk_softmax's default choice), run once per module and layer."""
    cache = {}

    def run(layer):
        if layer not in cache:
            cache[layer] = _layer_result(layer, tmp_path_factory.mktemp("layer"))
        if isinstance(cache[layer], str):  # a failure, reported by every test that uses it
            pytest.fail(cache[layer])
        return cache[layer]

    return run


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_fits_like_default(layer, loadable_layers, layer_run):
    """lbfgs, sgd, partial_fit and concurrent fits from threads finish under ``layer`` and
    give exactly the default layer's coefficients (same n_jobs)."""
    if loadable_layers[layer] is not True:
        pytest.skip(f"numba's {layer} threading layer cannot load here: {loadable_layers[layer]}")
    result = layer_run(layer)
    # numba falls back to no other layer when one is requested, but check: a test that
    # silently ran the default layer would compare it with itself
    assert result["layer"] == layer, result["module"]
    expected = layer_run(None)
    assert expected["module"] == result["module"]
    assert sorted(result["coefs"]) == sorted(expected["coefs"])
    for key, coef in result["coefs"].items():
        np.testing.assert_array_equal(
            coef,
            expected["coefs"][key],
            err_msg=f"{key} under {layer} differs from the default ({expected['layer']})",
        )
    # the fits in threads are the sequential fit
    for i in range(4):
        np.testing.assert_array_equal(result["coefs"][f"threaded_{i}"], result["coefs"]["lbfgs"])


def test_explicit_tbb_layer_is_used(loadable_layers, layer_run):
    """NUMBA_THREADING_LAYER=tbb, set by the user, runs TBB from the ``tbb`` wheel (its
    runtime preloaded as when no layer is chosen) instead of failing in numba."""
    if loadable_layers["tbb"] is not True:
        pytest.skip(
            f"the TBB runtime cannot load here (no tbb wheel for this platform?): "
            f"{loadable_layers['tbb']}"
        )
    assert layer_run("tbb")["layer"] == "tbb"
