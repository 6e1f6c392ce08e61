"""One loss+gradient evaluation: SoftmaxLoss vs scikit-learn's LinearModelLoss, and X.sum().

Same data (MNIST train, /255), same coefficients, same dtype, best of ``--repeats`` timed
calls after one warm-up call each.  One thread: scikit-learn with ``n_threads=1`` inside
``threadpoolctl.threadpool_limits(1)`` (BLAS held at one thread too: what a joblib worker
of GridSearchCV gives a fit), ours with one numba thread.  Two threads: scikit-learn with
``n_threads=2`` and BLAS free (two threads here), ours with two numba threads.
``X.sum()`` reads X once: the memory-bandwidth floor.

AMD Zen's code on an Intel machine: OpenBLAS's AVX2 (Haswell) kernels for scikit-learn
and numba's AVX2 code for ours, written to ``loss_eval_haswell_kernels.md``::

    OPENBLAS_CORETYPE=Haswell NUMBA_CPU_NAME=haswell python benchmarks/loss_eval.py

Usage::

    python benchmarks/loss_eval.py [--data-dir DIR] [--quick] [--repeats 3]
"""

import argparse
import os
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    best_time,
    finish,
    load_data,
    machine_description,
    markdown_table,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="10000 rows")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 3)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    repeats = args.repeats or 3

    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss
    from threadpoolctl import threadpool_limits

    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import kernel_threads

    X64, y, _, _, desc = load_data(args.data_dir, args.quick)
    classes, y_enc = np.unique(y, return_inverse=True)
    K, d = len(classes), X64.shape[1]
    rng = np.random.default_rng(0)
    coef = 0.01 * rng.standard_normal((K, d + 1))
    C = 1.0
    l2 = 1.0 / (C * X64.shape[0])
    rows = []
    for dt in (np.float64, np.float32):
        X = np.ascontiguousarray(X64, dtype=dt)
        sk_loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=K), fit_intercept=True)
        sk_coef = coef.astype(dt).ravel(order="F")  # scikit-learn's layout, X's dtype
        y_sk = y_enc.astype(dt)
        sk = {}
        for nt in (1, 2):
            with threadpool_limits(nt):
                sk[nt] = best_time(
                    partial(sk_loss.loss_gradient, sk_coef, X, y_sk, None, l2, n_threads=nt),
                    repeats,
                )
        ours = {}
        flat = coef.ravel()
        for nt in (1, 2):
            with kernel_threads(nt):  # what an estimator call holds around its solve
                loss = SoftmaxLoss(X, y_enc, K, None, C=C)
                ours[nt] = best_time(partial(loss.loss_gradient, flat), repeats)
        floor = best_time(X.sum, repeats)
        rows.append(
            [
                np.dtype(dt).name,
                f"{sk[1] * 1e3:.1f}",
                f"{ours[1] * 1e3:.1f}",
                f"**{ours[1] / sk[1]:.2f}**",
                f"{sk[2] * 1e3:.1f}",
                f"{ours[2] * 1e3:.1f}",
                f"**{ours[2] / sk[2]:.2f}**",
                f"{floor * 1e3:.1f}",
            ]
        )
    header = [
        "dtype",
        "1 thr: sklearn (ms)",
        "ours (ms)",
        "ours / sklearn",
        "2 thr: sklearn (ms)",
        "ours (ms)",
        "ours / sklearn",
        "X.sum() (ms)",
    ]
    env = ", ".join(
        f"{k}={os.environ[k]}" for k in ("OPENBLAS_CORETYPE", "NUMBA_CPU_NAME") if k in os.environ
    )
    text = "\n".join(
        [
            "# loss_eval: one loss+gradient evaluation",
            "",
            f"- data: {desc}: {X64.shape[0]} x {d}, {K} classes; best of {repeats} calls",
            "- 1 thr: scikit-learn's `n_threads=1` inside `threadpool_limits(1)`, ours with one "
            "numba thread; 2 thr: scikit-learn's `n_threads=2` with BLAS on two threads, ours "
            "with two numba threads",
            f"- environment: {env or 'none set (native code)'}",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(header, rows),
        ]
    )
    name = "loss_eval" + ("_haswell_kernels" if "OPENBLAS_CORETYPE" in os.environ else "")
    finish(name + ("_quick" if args.quick else ""), text, args)


if __name__ == "__main__":
    main()
