"""Scaling with n_samples: time per loss+gradient evaluation and peak memory of a fit.

Synthetic MNIST-like data (784 features in [0, 1), about 80% zeros, 10 classes), float32,
rows from 1e4 to 2e6 (``--quick``: up to 1e5).  Per size: best-of-3 time of one evaluation,
ours (2 threads and 1 thread) and scikit-learn's ``LinearModelLoss.loss_gradient``; and the
peak of memory allocated during a short fit (``max_iter=3``) beyond X itself, measured
with tracemalloc (NumPy allocations; our kernels allocate nothing of size n_samples), for
both estimators.  Writes a table and a PNG of time and memory vs rows.

Usage::

    python benchmarks/scaling.py [--quick] [--max-rows 2000000]
"""

import argparse
import sys
import time
import tracemalloc
import warnings
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    machine_description,
    markdown_table,
    output_dir,
    progress,
    save_figure,
)
from benchmarks.loss_eval import best_time  # noqa: E402


def synthetic(n, d=784, n_classes=10, seed=0):
    """MNIST-like rows: class prototypes plus noise, ~80% exact zeros, float32 in [0, 1)."""
    rng = np.random.default_rng(seed)
    protos = rng.random((n_classes, d), dtype=np.float32) * (rng.random((n_classes, d)) < 0.3)
    y = rng.integers(0, n_classes, n)
    X = np.empty((n, d), dtype=np.float32)
    step = 100_000
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        block = protos[y[lo:hi]] + 0.3 * rng.random((hi - lo, d), dtype=np.float32)
        block *= rng.random((hi - lo, d), dtype=np.float32) < 0.25
        np.clip(block, 0, 1, out=block)
        X[lo:hi] = block
    return X, y


def peak_fit_memory(make, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        make().fit(X, y)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="up to 1e5 rows")
    parser.add_argument("--max-rows", type=int, default=None)
    add_output_options(parser)
    args = parser.parse_args(argv)
    max_rows = args.max_rows or (100_000 if args.quick else 2_000_000)
    sizes = [n for n in (10_000, 30_000, 100_000, 300_000, 1_000_000, 2_000_000) if n <= max_rows]

    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model import LogisticRegression
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import kernel_threads

    X_all, y_all = synthetic(sizes[-1])
    K, d = 10, X_all.shape[1]
    rng = np.random.default_rng(1)
    coef = 0.01 * rng.standard_normal((K, d + 1))
    rows, data = [], []
    for n in progress(sizes, desc="sizes"):
        X, y = X_all[:n], y_all[:n]
        sk_loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=K), fit_intercept=True)
        sk_coef = coef.astype(np.float32).ravel(order="F")
        t_sk = best_time(
            partial(
                sk_loss.loss_gradient, sk_coef, X, y.astype(np.float32), None, 1.0 / n, n_threads=1
            ),
            3,
        )
        t_ours = {}
        for nt in (1, 2):
            loss = SoftmaxLoss(X, y, K, None)
            with kernel_threads(nt):  # what an estimator call holds around its solve
                t_ours[nt] = best_time(partial(loss.loss_gradient, coef.ravel()), 3)
        m_ours = peak_fit_memory(partial(SoftmaxClassifier, max_iter=3), X, y)
        m_sk = peak_fit_memory(partial(LogisticRegression, max_iter=3), X, y)
        data.append((n, t_ours[2], t_ours[1], t_sk, m_ours, m_sk))
        rows.append(
            [
                f"{n:,}",
                f"{X.nbytes / 2**20:.0f}",
                f"{t_ours[2] * 1e3:.1f}",
                f"{t_ours[2] / n * 1e9:.0f}",
                f"{t_sk * 1e3:.1f}",
                f"{t_ours[2] / t_sk:.2f}",
                f"{t_ours[1] / t_ours[2]:.2f}",
                f"{m_ours / 2**20:.1f}",
                f"{m_ours / X.nbytes:.3f}",
                f"{m_sk / 2**20:.1f}",
            ]
        )
    header = [
        "rows",
        "X (MiB)",
        "ours eval (ms)",
        "ours ns/row",
        "sklearn eval (ms)",
        "ours / sklearn",
        "speed-up 1->2 thr",
        "ours fit peak extra (MiB)",
        "ours extra / X",
        "sklearn fit peak extra (MiB)",
    ]
    name = "scaling_quick" if args.quick else "scaling"
    png = plot(data, output_dir(args) / f"{name}.png")
    text = "\n".join(
        [
            "# scaling: time per evaluation and fit memory vs n_samples (float32, 784 x 10)",
            "",
            "- synthetic MNIST-like data; evaluation times best of 3; 'peak extra' = peak of "
            "tracemalloc-tracked allocations during `fit(max_iter=3)`, X excluded; an "
            "(n_samples, n_classes) float32 array is n * 40 bytes",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(header, rows),
            "",
            f"![time and memory vs rows]({png.name})",
        ]
    )
    finish(name, text, args, figures=[png])


def plot(data, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n, t2, t1, tsk, mo, msk = (np.array(c, dtype=float) for c in zip(*data))
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.loglog(n, t2 * 1e3, "o-", label="SoftmaxLoss, 2 threads")
    a.loglog(n, t1 * 1e3, "o:", label="SoftmaxLoss, 1 thread")
    a.loglog(n, tsk * 1e3, "s--", label="sklearn LinearModelLoss")
    a.set_xlabel("rows")
    a.set_ylabel("one loss+gradient evaluation (ms)")
    a.grid(True, which="both", alpha=0.3)
    a.legend(fontsize=8)
    b.loglog(n, mo / 2**20, "o-", label="SoftmaxClassifier")
    b.loglog(n, msk / 2**20, "s--", label="LogisticRegression")
    b.loglog(n, n * 784 * 4 / 2**20, "k:", label="size of X")
    b.set_xlabel("rows")
    b.set_ylabel("peak extra memory in fit (MiB)")
    b.grid(True, which="both", alpha=0.3)
    b.legend(fontsize=8)
    return save_figure(fig, path)


if __name__ == "__main__":
    main()
