"""``python -m sk_softmax.warmup`` fills numba's cache so that later processes compile
nothing: every fit, partial_fit and prediction then loads machine code from the cache."""

import os
import subprocess
import sys

import pytest

AFTER_WARMUP = """
import warnings
import numpy as np, scipy.sparse as sp
from numba.core.event import install_recorder
from sklearn.datasets import load_digits, load_iris
from sk_softmax import SoftmaxClassifier
warnings.simplefilter("ignore")
Xi, yi = load_iris(return_X_y=True)
Xd, yd = load_digits(return_X_y=True)
Xd = np.vstack([Xd / 16] * 40)  # large enough for the parallel variants
yd = np.concatenate([yd] * 40)
with install_recorder("numba:compile") as rec:
    # n_jobs=1: the serial variants; None: all of numba's threads, the parallel ones
    for n_jobs in (1, None):
        for X, y in ((Xi, yi), (Xd, yd), (Xd.astype(np.float32), yd)):
            for data in (X, sp.csr_matrix(X)):
                SoftmaxClassifier(max_iter=5, n_jobs=n_jobs).fit(data, y).predict_proba(X)
                sgd = SoftmaxClassifier(solver="sgd", max_iter=1, tol=None, average=True,
                                        n_jobs=n_jobs)
                sgd.fit(data, y).partial_fit(data, y)
                sgd.predict_log_proba(X)
                # the L1 paths run the same kernels (same signatures): nothing new compiles
                SoftmaxClassifier(max_iter=5, C=0.1, l1_ratio=0.5, n_jobs=n_jobs).fit(data, y)
                SoftmaxClassifier(solver="sgd", max_iter=1, tol=None, C=0.1, l1_ratio=1.0,
                                  n_jobs=n_jobs).fit(data, y)
print(len(rec.buffer))
"""


@pytest.mark.slow
def test_after_warmup_nothing_compiles(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    warm = subprocess.run(
        [sys.executable, "-m", "sk_softmax.warmup"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert warm.returncode == 0, warm.stderr
    assert "compiled and cached" in warm.stdout
    out = subprocess.run(
        [sys.executable, "-c", AFTER_WARMUP], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0", "kernels compiled after warmup"
