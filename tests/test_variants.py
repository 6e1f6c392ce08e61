"""Serial and parallel variants of the prange kernels: identical results, and a small
problem compiles only the serial ones (first use should not pay for threads it cannot
use)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from sk_softmax import SoftmaxClassifier, _threading
from sk_softmax._kernels import (
    csr_full_buffers,
    csr_grad_finish,
    csr_loss_grad,
    dense_full_buffers,
    dense_loss_grad,
    softmax_rows,
)
from sk_softmax._threading import kernel_threads


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 7])
def test_dense_and_csr_variants_are_bit_identical(rng, dtype, K):
    n, d = 3000, 40
    X = rng.standard_normal((n, d)).astype(dtype)
    X[X < 0.5] = 0  # sparse enough for a CSR copy
    y = rng.integers(0, K + (K == 1), n)
    sw = rng.uniform(0, 2, n)
    W = rng.standard_normal((K, d)).astype(dtype)
    b = rng.standard_normal(K).astype(dtype)
    Z = rng.standard_normal((500, K)).astype(dtype) * 30
    outs = []
    for parallel in (False, True):
        buf = dense_full_buffers(n, K, d, dtype, block_size=64)
        with kernel_threads(2):
            dense_loss_grad(X, y, sw, W, b, K == 1, 64, buf, parallel)
        Xs = sp.csr_matrix(X)
        cbuf = csr_full_buffers(n, K, d, dtype)
        gW, gb = np.empty((K, d)), np.empty(K)
        with kernel_threads(2):
            csr_loss_grad(
                Xs.data, Xs.indices, Xs.indptr, y, sw, W.T.copy(), b, K == 1, cbuf, parallel
            )
            loss = csr_grad_finish(
                cbuf.acc_WT,
                cbuf.acc_b,
                cbuf.acc_loss,
                W.astype(np.float64),
                0.1,
                0.5,
                gW,
                gb,
                parallel,
            )
        out = np.empty((500, K + (K == 1)), dtype=dtype)
        with kernel_threads(2):
            softmax_rows(Z, K == 1, False, out, parallel)
        outs.append([*buf, cbuf.Z, loss, gW, gb, out])
    for a, b_ in zip(*outs):
        np.testing.assert_array_equal(a, b_)


def test_fits_do_not_depend_on_the_variant(monkeypatch):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16
    fits = []
    for limit in (0, 10**12):  # everything parallel, then everything serial
        monkeypatch.setattr(_threading, "PARALLEL_MIN_WORK", limit)
        # stopped before convergence (preconditioned: ~20 iterations on digits)
        clf = SoftmaxClassifier(max_iter=8, n_jobs=2)
        with pytest.warns(Warning):
            clf.fit(X, y)
        fits.append((clf.coef_, clf.predict_proba(X)))
        sparse = SoftmaxClassifier(max_iter=50, n_jobs=2)
        with pytest.warns(Warning):
            sparse.fit(sp.csr_matrix(X), y)
        fits.append((sparse.coef_, sparse.predict_proba(X)))
        for data in (X, sp.csr_matrix(X)):
            sgd = SoftmaxClassifier(
                solver="sgd", max_iter=2, tol=None, average=True, random_state=0, n_jobs=2
            ).fit(data, y)
            sgd.partial_fit(data, y)
            fits.append((sgd.coef_, sgd.predict_proba(X)))
    half = len(fits) // 2
    for (a, pa), (b, pb) in zip(fits[:half], fits[half:]):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pa, pb)


SMALL_FIT = """
import sys
import numpy as np
from sklearn.datasets import load_digits, load_iris
from sk_softmax import SoftmaxClassifier
import scipy.sparse as sp
X, y = load_iris(return_X_y=True)
# small problems: NumPy evaluations, numba not even imported
SoftmaxClassifier().fit(X, y).predict_proba(X)
SoftmaxClassifier().fit(sp.csr_matrix(X), y).predict_log_proba(X)
print("numba", "numba" in sys.modules)
from sk_softmax._kernels import _dense, _softmax, _sparse
# one thread on a problem large enough for the kernels: the serial variants
Xd, yd = load_digits(return_X_y=True)
Xbig = np.tile(Xd, (2, 1))
for data in (Xd, sp.csr_matrix(Xd)):
    SoftmaxClassifier(n_jobs=1, max_iter=3).fit(data, yd).predict_proba(Xbig)
# minibatches (of a problem large enough for the kernels) are small: the serial
# variants whatever the threads
for data in (Xd, sp.csr_matrix(Xd)):
    SoftmaxClassifier(solver="sgd", max_iter=2, tol=None).fit(data, yd).partial_fit(data, yd)
variants = {"dense": _dense._dense_loss_grad, "softmax": _softmax._softmax_rows,
            "csr": _sparse._csr_loss_grad, "finish": _sparse._csr_grad_finish,
            "sgd-dense": _dense._sgd_steps, "sgd-batch": _dense._dense_batch_grad,
            "sgd-csr": _sparse._csr_step, "sgd-csr-rows": _sparse._csr_batch_rows}
for name, v in variants.items():
    print(name, len(v.serial.signatures), len(v.parallel.signatures))
"""


@pytest.mark.slow
def test_a_small_fit_compiles_no_parallel_kernel(tmp_path):
    # an empty cache: kernels loaded from a cache leave their callees' dispatchers empty
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", SMALL_FIT],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
        env=env,
    ).stdout.split("\n")
    assert out[0] == "numba False"
    counts = {line.split()[0]: tuple(map(int, line.split()[1:])) for line in out[1:] if line}
    assert set(counts) == {
        "dense",
        "softmax",
        "csr",
        "finish",
        "sgd-dense",
        "sgd-batch",
        "sgd-csr",
        "sgd-csr-rows",
    }
    for name, (serial, parallel) in counts.items():
        assert serial >= 1 and parallel == 0, (name, serial, parallel)


NOTHING_AT_IMPORT = """
from sk_softmax import SoftmaxClassifier
from sk_softmax._kernels._config import compiled_kernels
print(compiled_kernels())
from sklearn.datasets import load_digits, load_iris
SoftmaxClassifier().fit(*load_iris(return_X_y=True))
print(compiled_kernels())
SoftmaxClassifier(n_jobs=1, max_iter=2).fit(*load_digits(return_X_y=True))
print(compiled_kernels())
"""


def test_import_compiles_nothing():
    """Importing the estimator compiles no kernel (none of either variant); a small fit
    starts no numba (NumPy evaluations); a larger one compiles, which shows that the
    check sees them."""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", NOTHING_AT_IMPORT],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.split("\n")
    assert out[0] == "[]"
    assert out[1] == "[]"
    assert "_dense._dense_loss_grad_body_serial" in out[2]


NO_NUMBA = """
import sys
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_iris, load_wine
from sk_softmax import SoftmaxClassifier
X, y = load_iris(return_X_y=True)
for data in (X, sp.csr_matrix(X), X.astype(np.float32)):
    clf = SoftmaxClassifier(max_iter=300).fit(data, y)
    clf.predict(data); clf.predict_proba(data); clf.predict_log_proba(data)
Xw, yw = load_wine(return_X_y=True)
SoftmaxClassifier(C=0.1, l1_ratio=0.5, max_iter=500).fit(Xw / Xw.max(0), yw == 1)
print(sorted(m for m in sys.modules if m == "numba" or m.startswith("numba.")))
"""


def _numba_modules_after(script):
    """The numba modules a fresh interpreter has loaded after running ``script`` (which
    prints them last)."""
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout.strip()


def test_a_small_fit_imports_no_numba():
    """A small problem (iris, wine) is fitted and predicted with NumPy: numba, and with
    it the 0.5 s (warm cache) to seconds (cold) of its start, is never paid there."""
    assert _numba_modules_after(NO_NUMBA) == "[]"


SGD_NO_NUMBA = """
import sys
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_iris
from sk_softmax import SoftmaxClassifier
X, y = load_iris(return_X_y=True)
sw = np.linspace(0.5, 2.0, len(y))
settings = [
    {},
    {"average": True},
    {"early_stopping": True},
    {"C": 0.1, "l1_ratio": 0.5, "average": 20},
    {"C": 0.1, "l1_ratio": 1.0},
    {"class_weight": {0: 2.0, 1: 1.0, 2: 0.5}},
    {"lower_bounds": 0.0},
    {"penalty_factor": np.arange(4.0)},
]
for data in (X, sp.csr_matrix(X), X.astype(np.float32)):
    for labels in (y, y == 1):
        for params in settings:
            clf = SoftmaxClassifier(solver="sgd", max_iter=20, random_state=0, **params)
            clf.fit(data, labels, sample_weight=sw).predict_proba(data)
            clf.partial_fit(data, labels, sample_weight=sw)
            clf.predict(data), clf.predict_log_proba(data)
        stream = SoftmaxClassifier(solver="sgd", average=True)
        stream.partial_fit(data[:60], labels[:60], classes=np.unique(labels))
        stream.partial_fit(data[60:], labels[60:]).predict_proba(data)
print(sorted(m for m in sys.modules if m == "numba" or m.startswith("numba.")))
"""


def test_a_small_sgd_fit_imports_no_numba():
    """SGD on a small problem (iris: dense, CSR, float32; binary; averaging, early
    stopping, L1 and elastic-net, class and sample weights, bounds, penalty factors;
    fit, partial_fit and predictions) steps in NumPy: numba is never imported."""
    assert _numba_modules_after(SGD_NO_NUMBA) == "[]"
