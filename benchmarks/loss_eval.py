"""One loss+gradient evaluation: SoftmaxLoss vs scikit-learn's LinearModelLoss, and X.sum().

Same data (MNIST train, /255), same coefficients, same dtype, best of ``--repeats`` timed
calls after one warm-up call each.  scikit-learn is timed with ``n_threads=1`` (what
LogisticRegression uses) and ``n_threads=2``; the ratio is taken against the faster.
``X.sum()`` reads X once: the memory-bandwidth floor.  Ours is also timed with 1 thread to
give the 1 -> 2 thread speed-up.

Usage::

    python benchmarks/loss_eval.py [--data-dir DIR] [--quick] [--repeats 3]
"""

import argparse
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    finish,
    load_data,
    machine_description,
    markdown_table,
)


def best_time(fn, repeats):
    fn()  # warm-up (compilation, page faults)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="10000 rows")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 3)")
    args = parser.parse_args(argv)
    repeats = args.repeats or 3

    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

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
            sk[nt] = best_time(partial(sk_loss.loss_gradient, sk_coef, X, y_sk, None, l2,
                                       n_threads=nt), repeats)
        ours = {}
        for nt in (1, 2):
            loss = SoftmaxLoss(X, y_enc, K, None, C=C)
            flat = coef.ravel()
            with kernel_threads(nt):  # what an estimator call holds around its solve
                ours[nt] = best_time(lambda loss=loss, flat=flat: loss.loss_gradient(flat),
                                     repeats)
        floor = best_time(X.sum, repeats)
        best_sk = min(sk.values())
        rows.append([
            np.dtype(dt).name, f"{sk[1] * 1e3:.1f}", f"{sk[2] * 1e3:.1f}",
            f"{ours[2] * 1e3:.1f}", f"{ours[1] * 1e3:.1f}", f"{floor * 1e3:.1f}",
            f"{ours[2] / best_sk:.2f}", f"{ours[2] / floor:.2f}", f"{ours[1] / ours[2]:.2f}",
        ])
    header = ["dtype", "sklearn 1 thr (ms)", "sklearn 2 thr (ms)", "ours 2 thr (ms)",
              "ours 1 thr (ms)", "X.sum() (ms)", "ours / best sklearn", "ours / X.sum()",
              "speed-up 1->2 thr"]
    text = "\n".join([
        "# loss_eval: one loss+gradient evaluation",
        "",
        f"- data: {desc}: {X64.shape[0]} x {d}, {K} classes; best of {repeats} calls",
        f"- machine: {machine_description()}",
        f"- date: {time.strftime('%Y-%m-%d')}",
        "",
        markdown_table(header, rows),
    ])
    finish("loss_eval_quick" if args.quick else "loss_eval", text)


if __name__ == "__main__":
    main()
