"""Bounded fits: SoftmaxClassifier(lower_bounds=..., upper_bounds=...) against what a user
writes by hand today, scipy's L-BFGS-B over scikit-learn's ``LinearModelLoss`` with the
same bounds.

Same objective (multinomial cross-entropy, mean over rows, plus ``||W||^2 / (2 C n)``,
intercepts free and unpenalised, bounds on the weights), same start (zeros projected into
the box), same stopping test (max-norm of the projected gradient at most ``tol``, L-BFGS-B's
``pgtol``; ``ftol = 64 eps`` and ``maxls = 50`` as scikit-learn sets them), same threads
(our kernels' numba threads; ``LinearModelLoss``'s OpenMP ``n_threads`` and BLAS at their
default width).  Both objectives at the end are evaluated by ``LinearModelLoss``.  Cases:
MNIST (a subset of ``--rows`` rows, float64) with non-negative weights and with a box
``[-0.05, 0.05]``, and a text-like CSR set (``benchmarks/sparse_text.py``'s generator)
with non-negative weights; each also unbounded (ours) at the same ``C``, for the
bounded / unbounded time ratio.  Times are the best of ``--repeats`` fits; ratios come
from the same run.

Usage::

    python benchmarks/bounds.py [--rows 20000] [--text-rows 20000] [--repeats 2] [--save]
"""

import argparse
import datetime
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import optimize

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


def sklearn_loss(n_classes):
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    return LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=n_classes), fit_intercept=True)


def by_hand(X, y, C, lower, upper, tol, max_iter, n_threads):
    """What a user writes today: L-BFGS-B over LinearModelLoss with the same bounds.

    ``coef`` is LinearModelLoss's flat layout, ``(n_classes, n_features + 1)`` raveled in
    F order (the classes of one feature contiguous).  Returns ``(W, b, seconds, nit)``.
    """
    n, d = X.shape
    K = int(y.max()) + 1
    lml = sklearn_loss(K)
    l2 = 1.0 / (C * n)
    yf = y.astype(np.float64)
    lo = np.full((K, d + 1), -np.inf)
    hi = np.full((K, d + 1), np.inf)
    lo[:, :d] = -np.inf if lower is None else lower
    hi[:, :d] = np.inf if upper is None else upper
    lo, hi = lo.ravel(order="F"), hi.ravel(order="F")
    x0 = np.clip(np.zeros(K * (d + 1)), lo, hi)
    t0 = time.perf_counter()
    res = optimize.minimize(
        lml.loss_gradient,
        x0,
        args=(X, yf, None, l2, n_threads),
        method="L-BFGS-B",
        jac=True,
        bounds=optimize.Bounds(lo, hi),
        options={"maxiter": max_iter, "maxls": 50, "gtol": tol, "ftol": 64 * np.finfo(float).eps},
    )
    seconds = time.perf_counter() - t0
    coef = res.x.reshape((K, d + 1), order="F")
    return coef[:, :d], coef[:, d], seconds, int(res.nit)


def objective(X, y, W, b, C):
    """The common objective, evaluated by LinearModelLoss for both fits."""
    K, d = W.shape
    coef = np.hstack([W, b[:, None]]).astype(np.float64)
    lml = sklearn_loss(K)
    return float(lml.loss(coef, X, y.astype(np.float64), None, 1.0 / (C * X.shape[0])))


def ours(X, y, C, lower, upper, tol, max_iter, repeats):
    best, clf = np.inf, None
    for _ in range(repeats):
        clf = SoftmaxClassifier(
            C=C, lower_bounds=lower, upper_bounds=upper, tol=tol, max_iter=max_iter
        )
        t0 = time.perf_counter()
        clf.fit(X, y)
        best = min(best, time.perf_counter() - t0)
    return clf, best


def run_case(name, X, y, C, lower, upper, args, unbounded_time):
    clf, t_ours = ours(X, y, C, lower, upper, args.tol, args.max_iter, args.repeats)
    t_ref = np.inf
    for _ in range(args.repeats):
        W, b, t, nit = by_hand(X, y, C, lower, upper, args.tol, args.max_iter, os.cpu_count())
        t_ref = min(t_ref, t)
    f_ours = objective(X, y, clf.coef_, clf.intercept_, C)
    f_ref = objective(X, y, W, b, C)
    lo = -np.inf if lower is None else lower
    hi = np.inf if upper is None else upper
    inside = bool(np.all(clf.coef_ >= lo) and np.all(clf.coef_ <= hi))
    active = float(np.mean((clf.coef_ == lo) | (clf.coef_ == hi)))
    return [
        name,
        f"{t_ours:.2f}",
        int(clf.n_iter_[0]),
        f"{t_ref:.2f}",
        nit,
        f"**{t_ours / t_ref:.2f}x**",
        f"{f_ours:.8f}",
        f"{f_ours - f_ref:+.1e}",
        f"{active:.0%}",
        "yes" if inside else "NO",
        f"{unbounded_time:.2f}",
        f"**{t_ours / unbounded_time:.2f}x**",
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files")
    parser.add_argument("--rows", type=int, default=20000, help="MNIST training rows")
    parser.add_argument("--text-rows", type=int, default=20000)
    parser.add_argument("--text-cols", type=int, default=5000)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    add_output_options(parser)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")

    X, y, _, _, desc = load_data(args.data_dir)
    X, y = np.ascontiguousarray(X[: args.rows]), y[: args.rows]
    Xs, ys = text_like(args.text_rows, args.text_cols, nnz_per_row=100, n_classes=20)
    # compile the kernels outside the timings
    SoftmaxClassifier(max_iter=2, lower_bounds=0.0).fit(X[:2000], y[:2000])
    SoftmaxClassifier(max_iter=2, lower_bounds=0.0).fit(Xs[:2000], ys[:2000])

    rows = []
    for data_name, Xc, yc, cases in [
        (
            f"MNIST {X.shape[0]} x {X.shape[1]}",
            X,
            y,
            [("non-negative", 0.0, None), ("box [-0.05, 0.05]", -0.05, 0.05)],
        ),
        (
            f"text CSR {Xs.shape[0]} x {Xs.shape[1]}, 20 classes",
            Xs,
            ys,
            [("non-negative", 0.0, None)],
        ),
    ]:
        _, t_free = ours(Xc, yc, args.C, None, None, args.tol, args.max_iter, args.repeats)
        for case, lower, upper in cases:
            row = run_case(case, Xc, yc, args.C, lower, upper, args, t_free)
            rows.append([data_name] + row)
            print(" | ".join(str(v) for v in rows[-1]), flush=True)

    header = [
        "data",
        "bounds",
        "ours (s)",
        "iters",
        "L-BFGS-B + LinearModelLoss (s)",
        "iters",
        "ours / by hand",
        "objective (ours)",
        "ours - by hand",
        "weights at a bound",
        "inside",
        "ours unbounded (s)",
        "bounded / unbounded",
    ]
    text = "\n".join(
        [
            "# Bounded fits against scipy's L-BFGS-B over LinearModelLoss",
            "",
            f"Machine: {machine_description()}",
            f"Date: {datetime.date.today().isoformat()}",
            f"Data: {desc}; first {X.shape[0]} training rows, float64; text-like CSR "
            f"from benchmarks/sparse_text.py ({Xs.shape[0]} x {Xs.shape[1]}, "
            f"~{Xs.nnz / Xs.shape[0]:.0f} non-zeros per row).",
            f"C = {args.C}, tol = {args.tol}, max_iter = {args.max_iter}, best of "
            f"{args.repeats} fits; both solvers stop on the projected gradient's max-norm.",
            "",
            markdown_table(header, rows),
        ]
    )
    finish("bounds", text, args)


if __name__ == "__main__":
    main()
