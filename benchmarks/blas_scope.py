"""Where to hold BLAS at one thread during an L-BFGS fit: the whole solve, or each kernel call.

The dense kernel calls ``gemm`` from every numba thread, so BLAS must run single-threaded
while a kernel runs.  OpenBLAS's thread limit is process-wide, so holding it for the
whole solve (what ``SoftmaxClassifier`` does) also makes numpy in the user's other
Python threads single-threaded meanwhile.  This benchmark fits MNIST both ways, same
data, same process, interleaved, and reports the best of ``--repeats`` fits:

* ``solve``: the estimator as shipped (``kernel_threads`` around the whole solve);
* ``per call``: numba's threads set for the solve, but BLAS limited only inside each
  loss+gradient evaluation (L-BFGS-B's own vector work then runs with BLAS at full
  width).

Both give the same iterates (BLAS's thread count does not change L-BFGS-B's
arithmetic here, and the kernels' results do not depend on threads); the table gives the
time ratio ``per call / solve``.

Usage::

    python benchmarks/blas_scope.py [--data-dir DIR] [--quick] [--repeats 3]
"""

import argparse
import contextlib
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


@contextlib.contextmanager
def blas_per_call():
    """Patch the estimator so that BLAS is limited inside each evaluation only."""
    import numba

    from sk_softmax import _classifier, _threading
    from sk_softmax._loss import SoftmaxLoss

    original_threads = _classifier.kernel_threads
    original_eval = SoftmaxLoss.loss_gradient

    @contextlib.contextmanager
    def numba_threads_only(n_threads):
        _threading._choose_threading_layer()
        previous = numba.get_num_threads()
        numba.set_num_threads(n_threads)
        try:
            yield
        finally:
            numba.set_num_threads(previous)

    def evaluation(self, coef, rows=None):
        with _threading._single_threaded_blas():
            return original_eval(self, coef, rows)

    _classifier.kernel_threads = numba_threads_only
    SoftmaxLoss.loss_gradient = evaluation
    try:
        yield
    finally:
        _classifier.kernel_threads = original_threads
        SoftmaxLoss.loss_gradient = original_eval


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="10000 rows, 1 repeat")
    parser.add_argument("--repeats", type=int, default=None)
    add_output_options(parser)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)

    from sk_softmax import SoftmaxClassifier

    X, y, _, _, desc = load_data(args.data_dir, quick=args.quick)
    rows = []
    for dtype in (np.float64, np.float32):
        Xd = np.ascontiguousarray(X, dtype=dtype)
        SoftmaxClassifier(max_iter=2).fit(Xd[:500], y[:500])  # compile outside the timing
        best = {"solve": np.inf, "per call": np.inf}
        n_iter = {}
        for _ in range(repeats):
            for variant in best:
                ctx = blas_per_call() if variant == "per call" else contextlib.nullcontext()
                with ctx, warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    est = SoftmaxClassifier(max_iter=1000).fit(Xd, y)
                    best[variant] = min(best[variant], time.perf_counter() - t0)
                n_iter[variant] = int(est.n_iter_[0])
        rows.append(
            [
                np.dtype(dtype).name,
                f"{best['solve']:.2f}",
                n_iter["solve"],
                f"{best['per call']:.2f}",
                n_iter["per call"],
                f"{best['per call'] / best['solve']:.3f}",
            ]
        )
    table = markdown_table(
        [
            "dtype",
            "BLAS limit for the solve (s)",
            "iterations",
            "BLAS limit per evaluation (s)",
            "iterations",
            "per evaluation / solve",
        ],
        rows,
    )
    text = "\n".join(
        [
            "# blas_scope: BLAS limited for the whole solve vs per evaluation",
            "",
            f"- data: {desc}, {X.shape[0]} x {X.shape[1]}",
            f"- SoftmaxClassifier(C=1, tol=1e-4, max_iter=1000), best of {repeats} fit(s), "
            "variants interleaved",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            table,
        ]
    )
    finish("blas_scope" + ("_quick" if args.quick else ""), text, args)


if __name__ == "__main__":
    main()
