"""L-BFGS's preconditioners: none, the diagonal (Jacobi) scaling, the Kronecker one.

For each data set and dtype, the estimator's full-batch path (``precision_stages``, then
``minimize_lbfgs``; tol=1e-4, max_iter=1000, from zero, two kernel threads) with:

- ``none``: L-BFGS on ``coef`` (the iterates of the solver before issue 30);
- ``diagonal``: on ``coef / s``, ``s = 1 / sqrt(h)`` from ``SoftmaxLoss.curvature_diagonal``
  (averaged over the classes), always (the rule ``MIN_CURVATURE_SPREAD`` switched off for
  this run);
- ``Kronecker``: ``coef_k = L^-T v_k`` from ``SoftmaxLoss.curvature_kronecker`` (dense
  data only), its second moment and factorisation timed with the fit;
- ``as shipped``: ``minimize_full_batch``'s choice (Kronecker where the loss estimates it,
  else the diagonal where the weights' curvatures spread over ``MIN_CURVATURE_SPREAD``).

Reported: iterations, loss+gradient evaluations (both stages), time, the final objective
(float64, one function for all) and the evaluations until the unpreconditioned run's
final objective is reached (the comparison at equal objective).  Data: MNIST (IDX files,
/255) at C=1 and 4000 of its rows at three values of C (a ``GridSearchCV`` fold), digits
(/16), a text-like CSR set (``--text-rows`` x ``--text-cols``, 20 classes),
make_classification with columns of scales 1e-3..1e3, and wine unscaled.

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
    name = "MNIST" if "MNIST" in desc else desc
    yield name, X, y, 1.0
    for C in (0.01, 0.158, 10.0):
        yield f"{name}, 4000 rows", X[:4000], y[:4000], C
    X, y = load_digits(return_X_y=True)
    yield "digits (/16)", X / 16.0, y, 1.0
    X, y = text_like(args.text_rows, args.text_cols, n_classes=20, seed=0)
    yield f"text-like CSR {args.text_rows} x {args.text_cols}", X, y, 1.0
    X, y = make_classification(20000, 50, n_informative=30, n_classes=5, random_state=0)
    yield "20000 x 50, columns 1e-3..1e3", X * np.logspace(-3, 3, 50), y, 1.0
    X, y = load_wine(return_X_y=True)
    yield "wine (unscaled)", X, y, 1.0


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

    def curvature_kronecker(self):
        return self.loss.curvature_kronecker()


def run(method, X, y, K, C):
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._precision import PrecisionStages, precision_stages
    from sk_softmax._solvers import _lbfgs, minimize_full_batch, minimize_lbfgs
    from sk_softmax._threading import kernel_threads

    trace = []
    t0 = time.perf_counter()
    loss = SoftmaxLoss(X, y, K, None, C=C)
    stages = precision_stages(loss)
    final = Counted(stages.final, trace)
    first = None if stages.float32 is None else Counted(stages.float32, trace)
    options = dict(max_iter=1000, tol=1e-4)
    spread_rule = _lbfgs.MIN_CURVATURE_SPREAD
    if method == "diagonal":
        _lbfgs.MIN_CURVATURE_SPREAD = 0.0  # a benchmark's switch, restored below
    try:
        with kernel_threads(2), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if method == "as shipped":
                coef, n_iter, _ = minimize_full_batch(
                    PrecisionStages(final, first), np.zeros(loss.n_params), **options
                )
            else:
                kw = {"n_class_rows": loss.layout.K}
                if method == "diagonal":
                    kw["curvature"] = loss.curvature_diagonal()
                elif method == "Kronecker":
                    kw["kronecker"] = loss.curvature_kronecker()
                    if kw["kronecker"] is None:
                        return None
                coef, n_iter, _ = minimize_lbfgs(
                    final, np.zeros(loss.n_params), float32_loss=first, **kw, **options
                )
    finally:
        _lbfgs.MIN_CURVATURE_SPREAD = spread_rule
    elapsed = time.perf_counter() - t0
    check = SoftmaxLoss(X.astype(np.float64), y, K, None, C=C)
    return n_iter, len(trace), elapsed, check.loss_gradient(coef)[0], trace


def _spread(X, y, K, C):
    """Largest / smallest class-averaged curvature (what ``MIN_CURVATURE_SPREAD`` reads)."""
    from sk_softmax._loss import SoftmaxLoss

    loss = SoftmaxLoss(X, y, K, None, C=C)
    h = loss.curvature_diagonal().reshape(loss.layout.K, -1).mean(axis=0)
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
    for name, X, y, C in data_sets(args):
        _, y = np.unique(y, return_inverse=True)
        y = y.astype(np.intp)
        K = int(y.max()) + 1
        spread = _spread(X, y, K, C)
        for dtype in (np.float64, np.float32):
            if sp.issparse(X) and dtype == np.float32:
                continue
            Xd = X.astype(dtype) if sp.issparse(X) else np.ascontiguousarray(X, dtype=dtype)
            base = None
            for method in ("none", "diagonal", "Kronecker", "as shipped"):
                out = run(method, Xd, y, K, C)
                if out is None:
                    continue
                n_iter, nfev, elapsed, f, trace = out
                if base is None:
                    base = (f, elapsed)
                # an evaluation of the float32 stage is within ~1e-7 of float64's
                reach = next((i + 1 for i, v in enumerate(trace) if v <= base[0]), None)
                rows.append(
                    [
                        f"{name}, C={C:g} (spread {spread:.2g})",
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
        "evaluations to the unpreconditioned objective",
        "time (s)",
        "time / none",
        "final objective",
        "vs none",
    ]
    text = "\n".join(
        [
            "# preconditioner: L-BFGS with no, the diagonal and the Kronecker preconditioner",
            "",
            "- tol=1e-4 (max |gradient| of coef, float64), max_iter=1000, from zero; the "
            "estimator's precision stages (float32 stage for dense float64 data); two threads; "
            "the Kronecker rows include its second moment and factorisation",
            "- the diagonal scaling's run with the leads not kept (SGD epoch start, CSR float32 "
            "stage): [preconditioner_diagonal.md](preconditioner_diagonal.md)",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(header, rows),
        ]
    )
    finish("preconditioner", text, args)


if __name__ == "__main__":
    main()
