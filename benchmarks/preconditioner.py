"""L-BFGS's Jacobi scaling, and the other leads of issue 30 for fewer evaluations.

For each data set and dtype, the estimator's full-batch path (``precision_stages``, then
``minimize_lbfgs``; C=1, tol=1e-4, max_iter=1000, from zero, two kernel threads) with:

- ``unscaled``: L-BFGS on ``coef`` (the iterates of the solver before issue 30);
- ``scaled``: on ``coef / s``, ``s = 1 / sqrt(h)`` from ``SoftmaxLoss.curvature_diagonal``,
  always (the rule ``MIN_CURVATURE_SPREAD`` switched off for this run);
- ``as shipped``: scaled where the weights' curvatures spread over at least
  ``MIN_CURVATURE_SPREAD`` (the column "spread"), else unscaled;
- ``SGD epoch + scaled``: one SGD epoch (``SoftmaxClassifier(solver="sgd")`` defaults) as
  the starting point, its time included;
- CSR only, ``scaled + float32 stage``: a float32 copy of the CSR data evaluated first.

Reported: iterations, loss+gradient evaluations (both stages), time, the final objective
(float64, one function for all) and the evaluations until the unscaled run's final
objective is reached (the comparison at equal objective).  Data: MNIST (IDX files,
/255), digits (/16), a text-like CSR set (``--text-rows`` x ``--text-cols``, 20
classes), make_classification with columns of scales 1e-3..1e3, and wine unscaled.

Usage::

    python benchmarks/preconditioner.py [--quick] [--save | --out DIR]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    load_data,
    machine_description,
    markdown_table,
)


def data_sets(args):
    from sklearn.datasets import load_digits, load_wine, make_classification

    from benchmarks.sparse_text import text_like

    X, y, _, _, desc = load_data(args.data_dir, quick=args.quick)
    yield "MNIST" if "MNIST" in desc else desc, X, y
    X, y = load_digits(return_X_y=True)
    yield "digits (/16)", X / 16.0, y
    X, y = text_like(args.text_rows, args.text_cols, n_classes=20, seed=0)
    yield f"text-like CSR {args.text_rows} x {args.text_cols}", X, y
    X, y = make_classification(20000, 50, n_informative=30, n_classes=5, random_state=0)
    yield "20000 x 50, columns 1e-3..1e3", X * np.logspace(-3, 3, 50), y
    X, y = load_wine(return_X_y=True)
    yield "wine (unscaled)", X, y


class Counted:
    """A loss whose evaluations are counted and whose objective values are kept."""

    def __init__(self, loss, trace):
        self.loss, self.trace = loss, trace
        self.layout, self.penalty = loss.layout, loss.penalty

    def loss_gradient(self, coef):
        value, grad = self.loss.loss_gradient(coef)
        self.trace.append(value)
        return value, grad

    def curvature_diagonal(self):
        return self.loss.curvature_diagonal()


def run(method, X, y, K):
    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._precision import precision_stages
    from sk_softmax._solvers import _lbfgs, minimize_lbfgs
    from sk_softmax._threading import kernel_threads

    trace = []
    t0 = time.perf_counter()
    loss = SoftmaxLoss(X, y, K, None, C=1.0)
    stages = precision_stages(loss)
    f32 = stages.float32
    if method == "scaled + float32 stage":
        f32 = loss.with_data(X.astype(np.float32), y, loss.sample_weight)
    coef0 = np.zeros(loss.n_params)
    if method == "SGD epoch + scaled":
        sgd = SoftmaxClassifier(solver="sgd", max_iter=1, tol=None, random_state=0)
        sgd.fit(X, y)
        coef0 = loss.pack(sgd.coef_, sgd.intercept_)
    h = None if method == "unscaled" else loss.curvature_diagonal()
    final = Counted(stages.final, trace)
    first = None if f32 is None else Counted(f32, trace)
    spread_rule = _lbfgs.MIN_CURVATURE_SPREAD
    if method != "as shipped":
        _lbfgs.MIN_CURVATURE_SPREAD = 0.0  # a benchmark's switch, restored below
    try:
        with kernel_threads(2), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            coef, n_iter, _ = minimize_lbfgs(final, coef0, max_iter=1000, tol=1e-4,
                                             float32_loss=first, curvature=h,
                                             weights=loss.layout.penalty_mask)  # fmt: skip
    finally:
        _lbfgs.MIN_CURVATURE_SPREAD = spread_rule
    elapsed = time.perf_counter() - t0
    check = SoftmaxLoss(X.astype(np.float64), y, K, None, C=1.0)
    return n_iter, len(trace), elapsed, check.loss_gradient(coef)[0], trace


def _spread(X, y, K):
    """Largest / smallest curvature of the weights (what ``MIN_CURVATURE_SPREAD`` reads)."""
    from sk_softmax._loss import SoftmaxLoss

    loss = SoftmaxLoss(X, y, K, None, C=1.0)
    h = loss.curvature_diagonal()[loss.layout.penalty_mask]
    h = np.maximum(h, 1e-12 * h.max())
    return float(h.max() / h.min())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="10000 MNIST rows, smaller text")
    parser.add_argument("--text-rows", type=int, default=None)
    parser.add_argument("--text-cols", type=int, default=None)
    add_output_options(parser)
    args = parser.parse_args(argv)
    args.text_rows = args.text_rows or (5000 if args.quick else 50000)
    args.text_cols = args.text_cols or (5000 if args.quick else 50000)

    rows = []
    for name, X, y in data_sets(args):
        _, y = np.unique(y, return_inverse=True)
        y = y.astype(np.intp)
        K = int(y.max()) + 1
        methods = ["unscaled", "scaled", "as shipped", "SGD epoch + scaled"]
        if sp.issparse(X):
            methods.append("scaled + float32 stage")
        spread = _spread(X, y, K)
        for dtype in (np.float64, np.float32):
            if sp.issparse(X) and dtype == np.float32:
                continue  # the float32 stage row stands for it
            Xd = X.astype(dtype) if sp.issparse(X) else np.ascontiguousarray(X, dtype=dtype)
            base = None
            for method in methods:
                n_iter, nfev, elapsed, f, trace = run(method, Xd, y, K)
                if base is None:
                    base = (f, elapsed)
                # an evaluation of the float32 stage is within ~1e-7 of float64's
                reach = next((i + 1 for i, v in enumerate(trace) if v <= base[0]), None)
                rows.append(
                    [
                        f"{name} (spread {spread:.2g})",
                        np.dtype(dtype).name,
                        method,
                        n_iter,
                        nfev,
                        "-" if reach is None else reach,
                        f"{elapsed:.2f}",
                        f"{elapsed / base[1]:.2f}",
                        f"{f:.8f}",
                        f"{(f - base[0]) / base[0]:+.1e}",
                    ]
                )
                print(rows[-1], flush=True)
    header = [
        "data",
        "X dtype",
        "method",
        "iterations",
        "evaluations",
        "evaluations to the unscaled objective",
        "time (s)",
        "time / unscaled",
        "final objective",
        "vs unscaled",
    ]
    text = "\n".join(
        [
            "# preconditioner: L-BFGS with and without the Jacobi scaling",
            "",
            "- C=1, tol=1e-4 (max |gradient| of coef, float64), max_iter=1000, from zero; the "
            "estimator's precision stages (float32 stage for dense float64 data); two threads",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(header, rows),
        ]
    )
    finish("preconditioner", text, args)


if __name__ == "__main__":
    main()
