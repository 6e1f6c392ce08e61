"""Which full-batch method for the L1 / elastic-net objective? Measured on one kernel.

Every method below sees the objective only through ``SoftmaxLoss.loss_gradient`` (the
fused kernel, one pass over ``X`` per evaluation), so the comparison is of methods, not
of implementations of the loss:

* ``shipped``: the package's solver (``sk_softmax._solvers._l1``): L-BFGS-B on split
  weights, handing sparse settled models to OWL-QN with Newton steps;
* ``lbfgsb-split``: its first phase alone;
* ``owlqn+newton``: ``sk_softmax._solvers._owlqn`` from the start: OWL-QN with the
  two-loop recursion restricted to the coordinates not pinned at zero, and truncated
  Newton steps once the support settles;
* ``owlqn-no-newton``: the same without the Newton steps;
* ``owlqn-plain``: neither (Andrew and Gao's original method);
* ``fista``: accelerated proximal gradient with backtracking on the Lipschitz constant
  and a restart when the objective rises (soft-thresholding gives the exact zeros).

For MNIST (60000 x 784, /255) and the synthetic TF-IDF-like CSR set of
``sparse_text.py``, at l1_ratio=1 and C = 100 x the critical C: the time and the number
of evaluations each method needs to bring the objective within 1e-4 and 1e-7 (relative)
of the best objective any of them reached, and the final max-norm of the least-norm
subgradient.

Usage::

    python benchmarks/l1_methods.py [--quick] [--data-dir DIR] [--budget SECONDS]
"""

import argparse
import sys
import time
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
from benchmarks.l1_mnist import critical_C  # noqa: E402
from benchmarks.sparse_text import text_like  # noqa: E402


class Budget(Exception):
    pass


class Traced:
    """The loss, with every evaluation's time and objective (smooth + L1) recorded."""

    def __init__(self, loss, budget):
        self.loss = loss
        self.layout = loss.layout
        self.penalty = loss.penalty
        self.supports_hessian_product = True
        self.trace = []
        self.budget = budget
        self.t0 = time.perf_counter()

    def hessian_product(self, coef, free, max_rows=None):
        return self.loss.hessian_product(coef, free, max_rows)

    def loss_gradient(self, coef):
        value, grad = self.loss.loss_gradient(coef)
        elapsed = time.perf_counter() - self.t0
        W, _ = self.layout.weight_intercept(coef)
        self.trace.append((elapsed, value + self.penalty.l1_value(W)))
        if elapsed > self.budget:
            raise Budget
        return value, grad


def owlqn(loss, x0, tol, newton=True, subspace=True):
    from sk_softmax._solvers import _owlqn

    saved = _owlqn._two_loop, _owlqn._NEWTON_AFTER
    if not subspace:
        _owlqn._two_loop = lambda pg, pairs, free: saved[0](pg, pairs, np.ones_like(free))
    if not newton:
        _owlqn._NEWTON_AFTER = 10**9
    try:
        return _owlqn.minimize_owlqn(loss, x0, max_iter=100000, tol=tol)[0]
    finally:
        _owlqn._two_loop, _owlqn._NEWTON_AFTER = saved


def fista(loss, x0, tol):
    l1, mask = loss.penalty.l1, loss.layout.penalty_mask

    def prox(v, step):
        out = v.copy()
        out[mask] = np.sign(v[mask]) * np.maximum(np.abs(v[mask]) - step * l1, 0.0)
        return out

    def F(x, f):
        return f + l1 * float(np.abs(x[mask]).sum())

    x = x0.copy()
    fx, gx = loss.loss_gradient(x)
    y, fy, gy = x, fx, gx
    t, L = 1.0, 1.0
    while True:
        while True:
            z = prox(y - gy / L, 1.0 / L)
            fz, gz = loss.loss_gradient(z)
            diff = z - y
            if fz <= fy + float(np.dot(gy, diff)) + 0.5 * L * float(np.dot(diff, diff)):
                break
            L *= 2.0
        if np.max(np.abs(loss.penalty.min_norm_subgradient(z, gz, mask))) <= tol:
            return z
        if F(z, fz) > F(x, fx):  # restart the momentum
            t, y, fy, gy = 1.0, x, fx, gx
            continue
        t_new = (1.0 + np.sqrt(1.0 + 4.0 * t * t)) / 2.0
        y = z + ((t - 1.0) / t_new) * (z - x)
        x, fx, gx, t = z, fz, gz, t_new
        fy, gy = loss.loss_gradient(y)
        L *= 0.9  # let the step grow back


def shipped(loss, x0, tol, handover=True):
    from sk_softmax._solvers import _l1

    saved = _l1._SETTLED_AFTER
    if not handover:
        _l1._SETTLED_AFTER = 10**9
    try:
        return _l1.minimize_l1(loss, x0, max_iter=100000, tol=tol)[0]
    finally:
        _l1._SETTLED_AFTER = saved


METHODS = {
    "shipped": shipped,
    "lbfgsb-split": lambda loss, x0, tol: shipped(loss, x0, tol, handover=False),
    "owlqn+newton": lambda loss, x0, tol: owlqn(loss, x0, tol),
    "owlqn-no-newton": lambda loss, x0, tol: owlqn(loss, x0, tol, newton=False),
    "owlqn-plain": lambda loss, x0, tol: owlqn(loss, x0, tol, newton=False, subspace=False),
    "fista": fista,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        help="seconds per method and data set (default 60, quick 20)",
    )
    add_output_options(parser)
    args = parser.parse_args()
    budget = args.budget or (20.0 if args.quick else 60.0)

    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import effective_n_threads, kernel_threads

    X, y, _, _, desc = load_data(args.data_dir, quick=args.quick)
    n, d = (6000, 5000) if args.quick else (12000, 10000)
    Xt, yt = text_like(n, d, nnz_per_row=100, n_classes=20, seed=0)
    sets = [("MNIST", X, y, desc), ("text", Xt, yt, f"text-like CSR {n} x {d}, 20 classes")]
    lines = [
        "# L1 methods on the fused kernel (l1_ratio=1, C = 100 x critical C)\n",
        f"Machine: {machine_description()}\n",
        f"Each method runs until max|subgradient| <= 1e-7 or {budget:.0f} s.  "
        "'to 1e-4': seconds (evaluations) until the objective is within 1e-4 "
        "(relative) of the best objective any method reached; '-': never.\n",
    ]
    for name, Xs, ys, dsc in sets:
        classes, y_enc = np.unique(ys, return_inverse=True)
        C = float(f"{100 * critical_C(Xs, ys, 1.0):.3g}")
        runs = {}
        for method, run in METHODS.items():
            print(f"{name} {method} ...", file=sys.stderr, flush=True)
            loss = SoftmaxLoss(Xs, y_enc.astype(np.intp), len(classes), C=C, l1_ratio=1.0)
            traced = Traced(loss, budget)
            with kernel_threads(effective_n_threads(None)):
                try:
                    run(traced, np.zeros(loss.n_params), 1e-7)
                except Budget:
                    pass
            runs[method] = np.array(traced.trace)
        best = min(float(tr[:, 1].min()) for tr in runs.values())
        rows = []
        for method, tr in runs.items():
            cells = [method]
            for rel in (1e-4, 1e-7):
                hit = np.nonzero(tr[:, 1] <= best * (1 + rel))[0]
                cells.append(f"{tr[hit[0], 0]:.2f} ({hit[0] + 1})" if hit.size else "-")
            cells += [f"{tr[:, 1].min():.9f}", f"{len(tr)}", f"{tr[-1, 0]:.1f}"]
            rows.append(cells)
        lines.append(f"## {name}: {dsc}, C={C}\n")
        lines.append(
            markdown_table(
                [
                    "method",
                    "to 1e-4 s (evals)",
                    "to 1e-7 s (evals)",
                    "best objective",
                    "evaluations",
                    "seconds",
                ],
                rows,
            )
        )
        lines.append("")
    finish("l1_methods_quick" if args.quick else "l1_methods", "\n".join(lines), args)


if __name__ == "__main__":
    main()
