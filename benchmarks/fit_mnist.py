"""Fit SoftmaxClassifier and LogisticRegression on MNIST and compare (the README's main job).

Both estimators minimise the same objective (same C, tol, max_iter, data, dtype).  The
table reports wall time, iterations, loss+gradient evaluations (counted on both sides),
the final objective of each solution evaluated by the same float64 code, accuracies, the
time ratio, and the time SoftmaxClassifier took to first reach LogisticRegression's final
objective (from a trace of every evaluated point, scored after the fit, outside the timed
region).  A PNG of objective vs wall time is written next to the table.

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
    RESULTS,
    finish,
    load_data,
    machine_description,
    markdown_table,
    progress,
    record_calls,
    save_figure,
)


class Objective:
    """float64 objective (scikit-learn's scaling) of flat coefficient vectors, evaluated
    with the thread settings an estimator call uses."""

    def __init__(self, X, y, classes, C):
        from sk_softmax._loss import SoftmaxLoss

        self._loss = SoftmaxLoss(np.asarray(X, np.float64), np.searchsorted(classes, y),
                                 len(classes), C=C, fit_intercept=True)
        self.pack = self._loss.pack

    def loss(self, coef):
        from sk_softmax._threading import effective_n_threads, kernel_threads

        with kernel_threads(effective_n_threads(None)):
            return self._loss.loss(coef)


def make_objective(X, y, classes, C):
    """The :class:`Objective` of the data."""
    return Objective(X, y, classes, C)


def run(make, X, y, repeats, counter_cls):
    """Best-of-``repeats`` fit: ``(estimator, seconds, trace, warnings)``."""
    best = None
    for _ in range(repeats):
        est = make()
        with warnings.catch_warnings(record=True) as caught, \
                record_calls(counter_cls, "loss_gradient") as trace:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            est.fit(X, y)
            elapsed = time.perf_counter() - t0
        if best is None or elapsed < best[1]:
            best = (est, elapsed, trace, [str(w.message).split("\n")[0] for w in caught])
    return best


def trace_objectives(trace, layout, loss64):
    """float64 objective at every evaluated point; ``layout`` maps a solver vector to ours."""
    return np.array([loss64.loss(layout(coef)) for _, coef in trace])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files")
    parser.add_argument("--quick", action="store_true", help="10000 training rows")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=None,
                        help="fits per estimator, best time kept (default 1)")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--tight-tol", type=float, default=1e-6,
                        help="also fit SoftmaxClassifier at this tol, to time when it reaches "
                             "LogisticRegression's objective (0 to skip)")
    args = parser.parse_args(argv)
    repeats = args.repeats or 1

    from sklearn.linear_model import LogisticRegression
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss

    X, y, Xt, yt, desc = load_data(args.data_dir, args.quick)
    classes = np.unique(y)
    K, d = len(classes), X.shape[1]
    loss64 = make_objective(X, y, classes, args.C)
    # compile the kernels outside the timed region (a cold numba cache costs seconds)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dt in args.dtype:
            SoftmaxClassifier(max_iter=2).fit(X[:300].astype(dt), y[:300])

    def sk_layout(coef):  # scikit-learn's multinomial vector is (K, d + 1) raveled in F order
        return np.asarray(coef, np.float64).reshape((K, d + 1), order="F").ravel()

    def our_layout(coef):
        return np.asarray(coef, np.float64)

    common = dict(C=args.C, tol=args.tol, max_iter=args.max_iter)
    results = {}
    names = ["LogisticRegression", "SoftmaxClassifier"]
    tight = f"SoftmaxClassifier tol={args.tight_tol:g}"
    if args.tight_tol > 0:
        names.append(tight)
    jobs = [(dt, name) for dt in args.dtype for name in names]
    for dt, name in progress(jobs, desc="fits"):
        Xd = X.astype(dt)
        if name == "LogisticRegression":
            results[dt, name] = run(partial(LogisticRegression, **common), Xd, y, repeats,
                                    LinearModelLoss)
        elif name == "SoftmaxClassifier":
            results[dt, name] = run(partial(SoftmaxClassifier, **common), Xd, y, repeats,
                                    SoftmaxLoss)
        else:
            results[dt, name] = run(partial(SoftmaxClassifier, **{**common, "tol": args.tight_tol}),
                                    Xd, y, 1, SoftmaxLoss)

    rows = []
    curves = {}
    for dt in args.dtype:
        sk_est, t_sk, sk_trace, _ = results[dt, "LogisticRegression"]
        f_sk = loss64.loss(loss64.pack(sk_est.coef_, sk_est.intercept_))
        for name in names:
            layout = sk_layout if name == "LogisticRegression" else our_layout
            est, elapsed, trace, warns = results[dt, name]
            f = loss64.loss(loss64.pack(est.coef_, est.intercept_))
            fs = trace_objectives(trace, layout, loss64)
            times = np.array([t for t, _ in trace])
            curves[dt, name] = (times, np.minimum.accumulate(fs))
            reached = np.flatnonzero(fs <= f_sk * (1 + 1e-6))
            t_reach = (f"{times[reached[0]]:.2f} ({times[reached[0]] / t_sk:.2f}x)"
                       if reached.size else "not reached")
            rows.append([
                name, dt, f"{elapsed:.2f}", int(est.n_iter_[0]), len(trace), f"{f:.10f}",
                f"{(f - f_sk) / f_sk:+.1e}",
                f"{est.score(X.astype(dt), y):.4f}", f"{est.score(Xt.astype(dt), yt):.4f}",
                f"{elapsed / t_sk:.2f}", t_reach,
            ])
            for w in warns:
                print(f"[{name} {dt}] warning: {w}", file=sys.stderr)
    header = ["estimator", "dtype", "fit time (s)", "iterations", "loss+grad evals",
              "final objective", "vs sklearn", "train acc", "test acc", "time ratio",
              "time to sklearn's objective (s)"]
    name = "fit_mnist_quick" if args.quick else "fit_mnist"
    text = "\n".join([
        "# fit_mnist: SoftmaxClassifier vs LogisticRegression (lbfgs)",
        "",
        f"- data: {desc}: {X.shape[0]} x {d} train, {Xt.shape[0]} test, {K} classes",
        f"- C={args.C}, tol={args.tol}, max_iter={args.max_iter}, best of {repeats} fit(s); "
        "objective = mean cross-entropy + ||W||^2 / (2 C n), evaluated in float64 for both",
        f"- machine: {machine_description()}",
        f"- date: {time.strftime('%Y-%m-%d')}",
        "",
        markdown_table(header, rows),
    ])
    if not args.no_plot:
        png = plot(curves, RESULTS / f"{name}.png", desc)
        text += f"\n\n![objective vs wall time]({png.name})"
    finish(name, text)


def plot(curves, path, desc):
    """Objective (best so far) vs wall time for every (dtype, estimator)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    f_min = min(c[1].min() for c in curves.values())
    for (dt, name), (times, best) in curves.items():
        style = "-" if name == "SoftmaxClassifier" else (":" if "tol=" in name else "--")
        ax.semilogy(times, best - f_min + 1e-7, style, label=f"{name} {dt}")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel("objective - lowest objective seen (+1e-7)")
    ax.set_title(f"Convergence on {desc.split(':')[0]}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


if __name__ == "__main__":
    main()
