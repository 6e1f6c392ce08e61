"""Two precisions: L-BFGS on a float32 copy of float64 X, then float64 (docs/design.md).

MNIST rows (default 4000: a GridSearchCV fold of 6000), one thread (numba and BLAS), values
of C from 0.01 to 10: each fit float64-only and with the float32 stage, at ``tol=1e-4``
and (``--tight``) 1e-6 and 1e-8.  Reports iterations of each stage, time and the final
objectives; the float32 stage's floor is
``sk_softmax._precision.FLOAT32_STAGE_TOL_FLOOR`` (``--floors`` compares
others).  One evaluation in each precision is timed too.

Usage::

    python benchmarks/two_precisions.py [--data-dir DIR] [--rows 4000] [--tight]
        [--floors 1e-5 1e-6]
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
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--rows", type=int, default=4000)
    parser.add_argument("--tight", action="store_true", help="also tol=1e-6 and 1e-8")
    parser.add_argument("--floors", type=float, nargs="*", default=None)
    add_output_options(parser)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from sk_softmax import _precision
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._solvers import minimize_lbfgs
    from sk_softmax._threading import kernel_threads

    X, y, _, _, desc = load_data(args.data_dir, quick=False)
    X = np.ascontiguousarray(X[: args.rows], dtype=np.float64)
    y = np.asarray(y[: args.rows], dtype=np.intp)
    floors = args.floors or [_precision.FLOAT32_STAGE_TOL_FLOOR]
    cases = [(1e-4, C) for C in np.logspace(-2, 1, 6)]
    if args.tight:
        cases += [(tol, C) for tol in (1e-6, 1e-8) for C in (0.1, 10.0)]
    rows = []
    with threadpool_limits(1), kernel_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loss = SoftmaxLoss(X, y, 10, C=1.0)
        twin = _precision.precision_stages(loss).float32
        coef = np.zeros(loss.n_params)
        evals = {}
        for name, L in (("float64", loss), ("float32 copy", twin)):
            L.loss_gradient(coef)
            ts = []
            for _ in range(30):
                t0 = time.perf_counter()
                L.loss_gradient(coef)
                ts.append(time.perf_counter() - t0)
            evals[name] = 1000 * min(ts)
        totals = {"float64": 0.0}
        for tol, C in cases:
            loss = SoftmaxLoss(X, y, 10, C=float(C))
            x0 = np.zeros(loss.n_params)
            t0 = time.perf_counter()
            _, it, r = minimize_lbfgs(loss, x0, max_iter=5000, tol=tol)
            t64 = time.perf_counter() - t0
            if tol == 1e-4:
                totals["float64"] += t64
            row = [f"{tol:g}", f"{C:.3g}", f"{it} it, {t64:.2f} s"]
            for floor in floors:
                _precision.FLOAT32_STAGE_TOL_FLOOR = floor
                t0 = time.perf_counter()
                twin = _precision.precision_stages(loss).float32
                _, it2, r2 = minimize_lbfgs(loss, x0, max_iter=5000, tol=tol, float32_loss=twin)
                t2 = time.perf_counter() - t0
                if tol == 1e-4:
                    totals[floor] = totals.get(floor, 0.0) + t2
                row.append(
                    f"{r2.float32_nit} + {it2 - r2.float32_nit} it, {t2:.2f} s "
                    f"({t2 / t64:.2f}x); rel. objective {(r2.fun - r.fun) / r.fun:+.1e}"
                )
            rows.append(row)
    header = ["tol", "C", "float64 only"] + [
        f"two precisions, float32 stage to max(tol, {f:g})" for f in floors
    ]
    total_line = ", ".join(
        f"floor {f:g}: {totals[f]:.2f} s ({totals[f] / totals['float64']:.2f}x)" for f in floors
    )
    text = "\n".join(
        [
            "# two_precisions: L-BFGS float64-only vs float32 stage then float64 (one thread)",
            "",
            f"- data: {desc}, first {args.rows} rows, float64; 10 classes; one thread (numba "
            "and BLAS)",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            f"- one evaluation (best of 30): float64 {evals['float64']:.2f} ms, float32 copy "
            f"{evals['float32 copy']:.2f} ms ({evals['float32 copy'] / evals['float64']:.2f}x)",
            f"- the six fits at tol=1e-4: float64 only {totals['float64']:.2f} s; {total_line}",
            "- 'rel. objective': (two precisions - float64 only) / float64 only, final objectives",
            "",
            markdown_table(header, rows),
        ]
    )
    finish("two_precisions", text, args)


if __name__ == "__main__":
    main()
