"""Fit SoftmaxClassifier and LogisticRegression on MNIST and compare (the README's main job).

Both estimators minimise the same objective (same C, tol, max_iter, data, dtype); the
table reports wall time, iterations, loss+gradient evaluations, the final objective of
each solution evaluated by the same float64 code, accuracies, and the time ratio.

Usage::

    python benchmarks/fit_mnist.py [--data-dir DIR] [--quick] [--dtype float64 float32]
"""

import argparse
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    count_calls,
    load_data,
    machine_description,
    markdown_table,
    progress,
    write_result,
)


def objective(est, X, y, C):
    """Scaled objective (scikit-learn's) of a fitted estimator, float64 evaluation."""
    from sk_softmax._loss import SoftmaxLoss

    classes = est.classes_
    loss = SoftmaxLoss(np.asarray(X, np.float64), np.searchsorted(classes, y),
                       len(classes), C=C, fit_intercept=True)
    return loss.loss(loss.pack(est.coef_, est.intercept_))


def run(make, X, y, repeats, counter_cls, counter_method):
    best = None
    for _ in range(repeats):
        est = make()
        with warnings.catch_warnings(record=True) as caught, \
                count_calls(counter_cls, counter_method) as calls:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            est.fit(X, y)
            elapsed = time.perf_counter() - t0
        if best is None or elapsed < best[1]:
            best = (est, elapsed, calls["n"], [str(w.message).split("\n")[0] for w in caught])
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files")
    parser.add_argument("--quick", action="store_true", help="10000 training rows, 1 repeat")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=None,
                        help="fits per estimator, best time kept (default 1)")
    args = parser.parse_args(argv)
    repeats = args.repeats or 1

    from sklearn.linear_model import LogisticRegression
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss

    X, y, Xt, yt, desc = load_data(args.data_dir, args.quick)
    # compile the kernels outside the timed region (a cold numba cache costs seconds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dt in args.dtype:
            SoftmaxClassifier(max_iter=2).fit(X[:300].astype(dt), y[:300])

    rows = []
    jobs = [(dt, name) for dt in args.dtype for name in ("LogisticRegression",
                                                          "SoftmaxClassifier")]
    results = {}
    for dt, name in progress(jobs, desc="fits"):
        Xd = X.astype(dt)
        common = dict(C=args.C, tol=args.tol, max_iter=args.max_iter)
        if name == "LogisticRegression":
            res = run(partial(LogisticRegression, **common), Xd, y, repeats,
                      LinearModelLoss, "loss_gradient")
        else:
            res = run(partial(SoftmaxClassifier, **common), Xd, y, repeats,
                      SoftmaxLoss, "loss_gradient")
        results[dt, name] = res
    for dt in args.dtype:
        f_sk = objective(results[dt, "LogisticRegression"][0], X, y, args.C)
        t_sk = results[dt, "LogisticRegression"][1]
        for name in ("LogisticRegression", "SoftmaxClassifier"):
            est, elapsed, nfev, warns = results[dt, name]
            f = objective(est, X, y, args.C)
            rows.append([
                name, dt, f"{elapsed:.2f}", int(est.n_iter_[0]), nfev, f"{f:.10f}",
                f"{(f - f_sk) / f_sk:+.1e}",
                f"{est.score(X.astype(dt), y):.4f}", f"{est.score(Xt.astype(dt), yt):.4f}",
                f"{elapsed / t_sk:.2f}",
            ])
            for w in warns:
                print(f"[{name} {dt}] warning: {w}", file=sys.stderr)
    header = ["estimator", "dtype", "fit time (s)", "iterations", "loss+grad evals",
              "final objective", "vs sklearn", "train acc", "test acc", "time ratio"]
    text = "\n".join([
        "# fit_mnist: SoftmaxClassifier vs LogisticRegression (lbfgs)",
        "",
        f"- data: {desc}: {X.shape[0]} x {X.shape[1]} train, {Xt.shape[0]} test, "
        f"{len(np.unique(y))} classes",
        f"- C={args.C}, tol={args.tol}, max_iter={args.max_iter}, best of {repeats} fit(s); "
        "objective = mean cross-entropy + ||W||^2 / (2 C n), evaluated in float64 for both",
        f"- machine: {machine_description()}",
        f"- date: {time.strftime('%Y-%m-%d')}",
        "",
        markdown_table(header, rows),
    ])
    print(text)
    path = write_result("fit_mnist_quick" if args.quick else "fit_mnist", text)
    print(f"\n(written to {path})")


if __name__ == "__main__":
    main()
