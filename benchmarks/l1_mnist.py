"""Sparse multinomial models: SoftmaxClassifier(l1_ratio=...) vs LogisticRegression(saga).

For MNIST (60000 x 784, /255) and the synthetic TF-IDF-like text set of
``sparse_text.py`` (CSR), for ``l1_ratio`` in {1.0, 0.5} and values of ``C`` that are
fixed multiples of the critical ``C`` (below which every weight is zero:
``C_crit = l1_ratio / (S * max|G|)``, ``G`` the mean cross-entropy's gradient at zero
weights and optimal intercepts), so that they span sparse to dense models:

* LogisticRegression(solver="saga", l1_ratio=r, C=C) at its defaults (tol=1e-4,
  max_iter=100): fit time, objective, fraction of zero weights, test accuracy;
* SoftmaxClassifier(l1_ratio=r, C=C) at its defaults (tol=1e-4 on the least-norm
  subgradient, max_iter=100): the same;
* "ours to saga's objective": the time at which our solver (run on with tol=1e-10,
  max_iter=1000) first evaluated a point whose objective is no worse than saga's final
  one.  (tol=1e-4 on the subgradient, like LogisticRegression's lbfgs, can stop at an
  objective above saga's on strongly penalised problems: the table shows both.)

Both objectives are evaluated afterwards by the same float64 NumPy function
(:func:`objective`), outside the timed region.  The target: ours reaches saga's
objective in at most 0.2x saga's time.

Usage::

    python benchmarks/l1_mnist.py [--quick] [--data-dir DIR] [--no-text]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    load_data,
    machine_description,
    markdown_table,
    output_dir,
    save_figure,
)
from benchmarks.sparse_text import text_like  # noqa: E402


def objective(X, y, W, b, C, l1_ratio):
    """LogisticRegression's objective in float64 NumPy (multinomial, unit weights):
    mean cross-entropy + ((1 - r)/2 ||W||^2 + r ||W||_1) / (C n)."""
    Z = np.asarray(X @ W.T, dtype=np.float64) + b
    Z -= Z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(Z).sum(axis=1))
    ce = float(np.mean(lse - Z[np.arange(Z.shape[0]), y]))
    n = X.shape[0]
    pen = ((1 - l1_ratio) / 2 * float(np.sum(W * W)) + l1_ratio * float(np.abs(W).sum())) / (C * n)
    return ce + pen


def critical_C(X, y, l1_ratio):
    """The largest C at which every weight of the L1/elastic-net model is zero."""
    n = X.shape[0]
    classes, yi = np.unique(y, return_inverse=True)
    p = np.bincount(yi) / n
    R = np.tile(p, (n, 1))
    R[np.arange(n), yi] -= 1.0
    G = np.asarray((X.T @ R).T) / n
    return l1_ratio / (n * np.abs(G).max())


class _Reached(Exception):
    pass


def run_case(X, y, Xt, yt, C, r, classes):
    from sklearn.linear_model import LogisticRegression

    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss

    yi = np.searchsorted(classes, y)
    row = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saga = LogisticRegression(C=C, l1_ratio=r, solver="saga")
        t0 = time.perf_counter()
        saga.fit(X, y)
        row["saga_time"] = time.perf_counter() - t0
    row["saga_warned"] = any("max_iter" in str(w.message) for w in caught)
    row["saga_iter"] = int(np.max(saga.n_iter_))
    row["saga_obj"] = objective(X, yi, saga.coef_, saga.intercept_, C, r)
    row["saga_zeros"] = float(np.mean(saga.coef_ == 0))
    row["saga_acc"] = saga.score(Xt, yt)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = SoftmaxClassifier(C=C, l1_ratio=r)
        t0 = time.perf_counter()
        ours.fit(X, y)
        row["ours_time"] = time.perf_counter() - t0
    row["ours_warned"] = bool(caught)
    row["ours_iter"] = int(ours.n_iter_[0])
    row["ours_obj"] = objective(X, yi, ours.coef_, ours.intercept_, C, r)
    row["ours_zeros"] = float(np.mean(ours.coef_ == 0))
    row["ours_acc"] = ours.score(Xt, yt)

    # A longer run, stopped as soon as an evaluated point is at least as good as saga's
    # final objective (our loss's own float64 value plus its L1 term: the same
    # objective as objective() to ~1e-15, and free to compute inside the run).
    reached = {}
    original = SoftmaxLoss.loss_gradient

    def traced(self, coef, *a, **kw):
        value, grad = original(self, coef, *a, **kw)
        if value + self.penalty.l1_value(self.weight_intercept(coef)[0]) <= row["saga_obj"]:
            reached["t"] = time.perf_counter() - t0
            raise _Reached
        return value, grad

    long = SoftmaxClassifier(C=C, l1_ratio=r, max_iter=1000, tol=1e-10)
    SoftmaxLoss.loss_gradient = traced
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            long.fit(X, y)
    except _Reached:
        pass
    finally:
        SoftmaxLoss.loss_gradient = original
    row["to_saga"] = reached.get("t", np.nan)
    return row


def data_sets(args):
    X, y, Xt, yt, desc = load_data(args.data_dir, quick=args.quick)
    yield "MNIST", X, y, Xt, yt, desc
    if not args.no_text:
        n, d = (6000, 5000) if args.quick else (12000, 10000)
        Xa, ya = text_like(n + n // 5, d, nnz_per_row=100, n_classes=20, seed=0)
        Xa = Xa.astype(np.float64)
        yield (
            "text",
            Xa[:n],
            ya[:n],
            Xa[n:],
            ya[n:],
            f"synthetic TF-IDF-like CSR {n} x {d}, ~100 non-zeros per row, 20 classes "
            "(benchmarks/sparse_text.py's generator), test: the next "
            f"{n // 5} rows",
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="10000 MNIST rows, a small text set, two values of C"
    )
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--no-text", action="store_true")
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        metavar="SET:RATIO:MULTIPLE",
        help="run only these cases, e.g. MNIST:0.5:10 (a rerun of some "
        "cases; written to l1_mnist_subset.md, no plot)",
    )
    add_output_options(parser)
    args = parser.parse_args()
    multiples = (10, 1000) if args.quick else (10, 100, 1000)
    only = (
        None
        if args.only is None
        else {(a, float(b), int(c)) for a, b, c in (o.split(":") for o in args.only)}
    )

    lines = [
        "# L1 / elastic-net: SoftmaxClassifier vs LogisticRegression(saga)\n",
        f"Machine: {machine_description()}\n",
        "Defaults for both (tol=1e-4, max_iter=100); objective: "
        "`benchmarks/l1_mnist.py:objective` (float64) for both; zeros: fraction of "
        "weights exactly 0; 'to saga's obj.': seconds until our solver (run on with "
        "tol=1e-10, max_iter=1000) first evaluated a point at least as good as "
        "saga's final one (nan: not within that run); ratio = that / saga's time "
        "(target <= 0.2).  (!) marks a ConvergenceWarning.\n",
    ]
    records = []
    for name, X, y, Xt, yt, desc in data_sets(args):
        classes = np.unique(y)
        lines.append(f"## {name}: {desc}\n")
        rows = []
        for r in (1.0, 0.5):
            Cc = critical_C(X, y, r)
            for m in multiples:
                if only is not None and (name, r, m) not in only:
                    continue
                C = float(f"{Cc * m:.3g}")
                print(f"{name} l1_ratio={r} C={C} ...", file=sys.stderr, flush=True)
                row = run_case(X, y, Xt, yt, C, r, classes)
                row.update(data=name, r=r, C=C, multiple=m)
                records.append(row)
                print(f"  {row}", file=sys.stderr, flush=True)
                ratio = row["to_saga"] / row["saga_time"]
                rows.append(
                    [
                        r,
                        f"{C:.3g} ({m}x)",
                        f"{row['saga_time']:.1f}" + (" (!)" if row["saga_warned"] else ""),
                        f"{row['saga_obj']:.6f}",
                        f"{row['saga_zeros']:.3f}",
                        f"{row['saga_acc']:.4f}",
                        f"{row['ours_time']:.1f}" + (" (!)" if row["ours_warned"] else ""),
                        f"{row['ours_obj']:.6f}",
                        f"{row['ours_zeros']:.3f}",
                        f"{row['ours_acc']:.4f}",
                        f"{row['to_saga']:.2f}",
                        f"**{ratio:.3f}x**",
                    ]
                )
        lines.append(
            markdown_table(
                [
                    "l1_ratio",
                    "C (x C_crit)",
                    "saga s",
                    "saga obj.",
                    "saga zeros",
                    "saga acc.",
                    "ours s",
                    "ours obj.",
                    "ours zeros",
                    "ours acc.",
                    "ours to saga's obj. s",
                    "ratio",
                ],
                rows,
            )
        )
        lines.append("")
    if only is not None:
        finish("l1_mnist_subset_quick" if args.quick else "l1_mnist_subset", "\n".join(lines), args)
        return
    name = "l1_mnist_quick" if args.quick else "l1_mnist"
    png = _plot(records, output_dir(args) / f"{name}.png")
    if png is not None:
        lines.append(f"Plot: [{png.name}]({png.name}) (zeros vs C, accuracy vs zeros).")
    finish(name, "\n".join(lines), args, figures=[png])


def _plot(records, path):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (the bench extra): no plot", file=sys.stderr)
        return None
    names = sorted({rec["data"] for rec in records})
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 3.6 * len(names)), squeeze=False)
    for row_axes, name in zip(axes, names):
        for r, style in ((1.0, "-"), (0.5, "--")):
            recs = [rec for rec in records if rec["data"] == name and rec["r"] == r]
            Cs = [rec["C"] for rec in recs]
            for who, marker in (("saga", "s"), ("ours", "o")):
                label = f"{'saga' if who == 'saga' else 'sk_softmax'}, l1_ratio={r}"
                row_axes[0].semilogx(
                    Cs, [rec[f"{who}_zeros"] for rec in recs], style, marker=marker, label=label
                )
                row_axes[1].plot(
                    [rec[f"{who}_zeros"] for rec in recs],
                    [rec[f"{who}_acc"] for rec in recs],
                    style,
                    marker=marker,
                    label=label,
                )
        row_axes[0].set(xlabel="C", ylabel="fraction of zero weights", title=name)
        row_axes[1].set(xlabel="fraction of zero weights", ylabel="test accuracy", title=name)
        row_axes[0].legend(fontsize=7)
    return save_figure(fig, path)


if __name__ == "__main__":
    main()
