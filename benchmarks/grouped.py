"""Grouped L1 fits (``l1_groups="features"``) against element-wise L1 at the same C.

For MNIST (a subset of ``--rows`` training rows, float64, scored on ``--test-rows`` test
rows) and a text-like CSR set (``benchmarks/sparse_text.py``'s generator, 20 classes, a
held-out quarter), at 10x, 100x and 1000x the grouped critical C (the largest C at which
every group is zero, ``GroupElasticNet.critical_C``; the text set also at 1.2x and 2x,
since at 10x it uses every feature), with ``l1_ratio = 1``: the fit's
time (best of ``--repeats``), iterations, features in use (a feature is used when any
class has a non-zero weight on it), non-zero weights and test accuracy; the same for the
element-wise L1 fit (``l1_groups=None``) at the same C, and the time ratio grouped /
element-wise from the same run.  Both fits stop on the max-norm of their least-norm
subgradient at ``tol``.  ``--adelie FILE`` adds adelie's multinomial group lasso on the
MNIST rows, fitted by ``benchmarks/grouped_adelie.py`` in its own environment (adelie
pins numpy < 2), evaluated on our objective against our fit at ``--adelie-tol``.

Usage::

    python benchmarks/grouped.py [--rows 10000] [--text-rows 8000] [--repeats 2]
        [--adelie adelie.npz] [--save]
"""

import argparse
import datetime
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
)
from benchmarks.sparse_text import text_like  # noqa: E402
from sk_softmax import SoftmaxClassifier  # noqa: E402
from sk_softmax._loss import SoftmaxLoss  # noqa: E402
from sk_softmax._penalty import check_l1_groups  # noqa: E402


def grouped_critical_C(X, y):
    """The grouped penalty's critical C at ``l1_ratio = 1``."""
    n_classes = int(y.max()) + 1
    groups = check_l1_groups("features", X.shape[1])
    loss = SoftmaxLoss(X, y, n_classes, C=1.0, l1_ratio=1.0, l1_groups=groups)
    return loss.penalty.critical_C(loss.gradient_at_zero_weights())


def timed_fit(X, y, C, l1_groups, args):
    best, clf = np.inf, None
    for _ in range(args.repeats):
        clf = SoftmaxClassifier(
            C=C, l1_ratio=1.0, l1_groups=l1_groups, tol=args.tol, max_iter=args.max_iter
        )
        t0 = time.perf_counter()
        clf.fit(X, y)
        best = min(best, time.perf_counter() - t0)
    return clf, best


def describe(clf, seconds, Xt, yt):
    coef = np.asarray(clf.coef_)
    used = int(np.count_nonzero(np.any(coef != 0.0, axis=0)))
    return [
        f"{seconds:.2f}",
        int(clf.n_iter_[0]),
        used,
        int(np.count_nonzero(coef)),
        f"{clf.score(Xt, yt):.4f}",
    ]


def adelie_section(path, X, y, Xt, yt, fits, args):
    """A table of adelie's fits (benchmarks/grouped_adelie.py) against ours, on our
    objective (``mean CE + sum_j ||W[:, j]|| / (C n)``)."""
    res = np.load(path)
    tight = argparse.Namespace(**{**vars(args), "tol": args.adelie_tol, "max_iter": 10000})
    groups = check_l1_groups("features", X.shape[1])
    rows = []
    for i in range(int(res["done"])):
        m = float(res["multiples"][i])
        C, ours, t_ours = fits[m]
        # adelie converges further than tol = 1e-4 takes us: compare at a tighter tol
        ours, t_ours = timed_fit(X, y, C, "features", tight)
        loss = SoftmaxLoss(X, y, 10, C=C, l1_ratio=1.0, l1_groups=groups)
        f_ours = loss.objective(loss.layout.pack(ours.coef_, ours.intercept_))
        W, b = res[f"W{i}"], res[f"b{i}"]
        f_ad = loss.objective(loss.layout.pack(W, b - b.mean()))
        acc = float(np.mean(np.argmax(Xt @ W.T + b, axis=1) == yt))
        rows.append(
            [
                f"{m:g}x",
                f"{t_ours:.2f}",
                f"{float(res[f't{i}']):.2f}",
                f"**{t_ours / float(res[f't{i}']):.2f}x**",
                f"{f_ours:.8f}",
                f"{f_ours - f_ad:+.1e}",
                int(np.count_nonzero(np.any(ours.coef_ != 0, axis=0))),
                int(np.count_nonzero(np.any(W != 0, axis=0))),
                f"{ours.score(Xt, yt):.4f}",
                f"{acc:.4f}",
            ]
        )
    header = [
        "C (x critical)",
        "ours (s)",
        "adelie (s)",
        "ours / adelie",
        "objective (ours)",
        "ours - adelie",
        "features (ours)",
        "features (adelie)",
        "test acc. (ours)",
        "test acc. (adelie)",
    ]
    return "\n".join(
        [
            f"## adelie {res['version']} on the MNIST rows (benchmarks/grouped_adelie.py)",
            "",
            "Same problem: adelie's multinomial loss is divided by K, so our objective at C "
            "is K times adelie's at lmda = 1 / (K C n) with penalty = ones; both fit K "
            f"intercepts. adelie fits a path of {int(res['path_points'])} lambdas from the "
            "critical one to the target (its time is the whole path's), tol = 1e-7, all "
            "threads, one fit, in its own venv (numpy < 2); ours at tol = "
            f"{args.adelie_tol:g} (max_iter 10000), best of {args.repeats}. Objectives on "
            "our objective (intercepts of adelie centred, which changes nothing).",
            "",
            markdown_table(header, rows),
        ]
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files")
    parser.add_argument("--rows", type=int, default=10000, help="MNIST training rows")
    parser.add_argument("--test-rows", type=int, default=5000, help="MNIST test rows")
    parser.add_argument("--text-rows", type=int, default=8000)
    parser.add_argument("--text-cols", type=int, default=3000)
    parser.add_argument("--multiples", type=float, nargs="+", default=[10.0, 100.0, 1000.0])
    # the text set's group norms at zero are nearly equal (Zipf words, 20 topics): at 10x
    # its critical C every feature is in use, so it also gets the sparse end of the path
    parser.add_argument(
        "--text-multiples", type=float, nargs="+", default=[1.2, 2.0, 10.0, 100.0, 1000.0]
    )
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--adelie",
        help="an .npz of benchmarks/grouped_adelie.py (same MNIST rows and multiples): "
        "adds adelie's fits, evaluated on our objective",
    )
    parser.add_argument(
        "--adelie-tol", type=float, default=1e-6, help="our tol in the adelie comparison"
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    X, y, Xt, yt, desc = load_data(args.data_dir)
    X, y = np.ascontiguousarray(X[: args.rows]), y[: args.rows]
    Xt, yt = np.ascontiguousarray(Xt[: args.test_rows]), yt[: args.test_rows]
    n_text = args.text_rows + args.text_rows // 3
    Xs_all, ys_all = text_like(n_text, args.text_cols, nnz_per_row=100, n_classes=20)
    Xs, ys = Xs_all[: args.text_rows], ys_all[: args.text_rows]
    Xst, yst = Xs_all[args.text_rows :], ys_all[args.text_rows :]
    # compile the kernels outside the timings
    for Xc, yc in [(X, y), (Xs, ys)]:
        SoftmaxClassifier(C=1.0, l1_ratio=1.0, max_iter=2).fit(Xc[:2000], yc[:2000])
        SoftmaxClassifier(C=1.0, l1_ratio=1.0, l1_groups="features", max_iter=2).fit(
            Xc[:2000], yc[:2000]
        )

    rows, mnist_fits = [], {}
    for name, Xc, yc, Xtc, ytc, multiples in [
        (f"MNIST {X.shape[0]} x {X.shape[1]}", X, y, Xt, yt, args.multiples),
        (f"text CSR {Xs.shape[0]} x {Xs.shape[1]}", Xs, ys, Xst, yst, args.text_multiples),
    ]:
        C0 = grouped_critical_C(Xc, yc)
        for m in multiples:
            C = m * C0
            g, tg = timed_fit(Xc, yc, C, "features", args)
            if Xc is X:
                mnist_fits[m] = (C, g, tg)
            e, te = timed_fit(Xc, yc, C, None, args)
            rows.append(
                [name, f"{m:g}x ({C:.3g})"]
                + describe(g, tg, Xtc, ytc)
                + describe(e, te, Xtc, ytc)
                + [f"**{tg / te:.2f}x**"]
            )
            print(" | ".join(str(v) for v in rows[-1]), flush=True)

    header = [
        "data",
        "C (x critical)",
        "grouped (s)",
        "iters",
        "features used",
        "non-zero weights",
        "test acc.",
        "element-wise L1 (s)",
        "iters",
        "features used",
        "non-zero weights",
        "test acc.",
        "grouped / element-wise",
    ]
    text = "\n".join(
        [
            "# Grouped L1 (l1_groups='features') against element-wise L1 at the same C",
            "",
            f"Machine: {machine_description()}",
            f"Date: {datetime.date.today().isoformat()}",
            f"Data: {desc}; first {X.shape[0]} training rows and {Xt.shape[0]} test rows, "
            f"float64; text-like CSR from benchmarks/sparse_text.py ({Xs.shape[0]} x "
            f"{Xs.shape[1]} training, {Xst.shape[0]} test rows, 20 classes, "
            f"~{Xs.nnz / Xs.shape[0]:.0f} non-zeros per row).",
            f"l1_ratio = 1, tol = {args.tol}, max_iter = {args.max_iter}, best of "
            f"{args.repeats} fits; C is a multiple of the grouped critical C of each data "
            "set; both fits stop on the max-norm of the least-norm subgradient.",
            "",
            markdown_table(header, rows),
        ]
    )
    if args.adelie:
        text += "\n\n" + adelie_section(args.adelie, X, y, Xt, yt, mnist_fits, args)
    finish("grouped", text, args)


if __name__ == "__main__":
    main()
