"""L-BFGS memory (``maxcor``) against evaluations and final objective (issue 30's first lead).

MNIST train (60000 x 784, /255), float64, C=1, tol=1e-4, scipy's L-BFGS-B with
``LogisticRegression``'s other options over ``SoftmaxLoss`` (no float32 stage), from zero,
two kernel threads. A larger memory is only a gain if it reaches at least the objective of
the default memory: the table gives both.

Usage::

    python benchmarks/lbfgs_memory.py [--maxcor 10 20 30 50] [--quick] [--save | --out DIR]
"""

import argparse
import sys
import time
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--maxcor", type=int, nargs="+", default=[10, 20, 30, 50])
    parser.add_argument("--quick", action="store_true", help="10000 rows")
    parser.add_argument("--data-dir")
    add_output_options(parser)
    args = parser.parse_args(argv)

    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import kernel_threads

    X, y, _, _, desc = load_data(args.data_dir, quick=args.quick)
    _, y_enc = np.unique(y, return_inverse=True)
    loss = SoftmaxLoss(X, y_enc.astype(np.intp), 10, None, C=1.0, fit_intercept=True)
    rows = []
    for maxcor in args.maxcor:
        calls = [0]

        def fun(coef, calls=calls):
            calls[0] += 1
            return loss.loss_gradient(coef)

        with kernel_threads(2):
            t0 = time.perf_counter()
            result = optimize.minimize(
                fun,
                np.zeros(loss.layout.n_params),
                method="L-BFGS-B",
                jac=True,
                options={
                    "maxiter": 1000,
                    "maxls": 50,
                    "gtol": 1e-4,
                    "ftol": 64 * np.finfo(float).eps,
                    "maxcor": maxcor,
                },
            )
            elapsed = time.perf_counter() - t0
            objective = loss.loss_gradient(result.x)[0] * X.shape[0]
        rows.append([maxcor, result.nit, calls[0], f"{objective:.4f}", f"{elapsed:.1f}"])
        print(rows[-1], flush=True)
    text = "\n".join(
        [
            "# lbfgs_memory: L-BFGS-B's memory against evaluations and final objective",
            "",
            f"- data: {desc}: {X.shape[0]} x {X.shape[1]}, float64, C=1, tol=1e-4, from zero",
            "- objective in sum form (cross-entropy sum + ||W||^2 / 2): lower is better",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(
                ["maxcor", "iterations", "evaluations", "final objective", "time (s)"], rows
            ),
        ]
    )
    finish("lbfgs_memory_quick" if args.quick else "lbfgs_memory", text, args)


if __name__ == "__main__":
    main()
