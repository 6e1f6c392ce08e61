"""Fit + standard errors: SoftmaxClassifier against statsmodels' MNLogit, growing sizes.

Ours: ``SoftmaxClassifier(C=np.inf).fit(X, y)`` then ``std_errors(X, y)`` (the fit at its
default ``tol=1e-4``, finished by the Newton steps of the inference).  statsmodels:
``MNLogit(y, add_constant(X)).fit(method="newton")`` then ``.bse``.  The same unpenalised
objective; the table gives the largest relative difference of the standard errors and of
the estimates.  Synthetic data: standard normal features, true weights of scale
``1 / sqrt(n_features)``, labels drawn from the model (no separation).  Both use all the
machine's cores (BLAS's threads; our fit's numba threads).

Peak memory: the peak of traced allocations (``tracemalloc``, which sees NumPy's
buffers, not BLAS's small work areas) during the call, in a second, untimed run; the data
themselves are allocated before.

Usage::

    python benchmarks/inference.py [--quick] [--mnist-size] [--save | --out DIR]
"""

import argparse
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    machine_description,
    markdown_table,
)

SIZES = [(20_000, 20, 4), (100_000, 40, 5), (30_000, 200, 10)]
QUICK_SIZES = [(5_000, 10, 3), (10_000, 20, 4)]
MNIST_SIZE = (60_000, 784, 10)


def make_data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((k, d)) / np.sqrt(d)
    Z = X @ W.T + rng.standard_normal(k) * 0.3
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    y = (P.cumsum(axis=1) > rng.random((n, 1))).argmax(axis=1)
    return X, y


N_JOBS = None


def ours(X, y):
    from sk_softmax import SoftmaxClassifier

    clf = SoftmaxClassifier(C=np.inf, n_jobs=N_JOBS).fit(X, y)
    table = clf.coef_table(X, y)
    return table["coef"].to_numpy(), table["std_err"].to_numpy()


def statsmodels_mnlogit(X, y):
    import statsmodels.api as sm

    res = sm.MNLogit(y, sm.add_constant(X)).fit(method="newton", disp=0, maxiter=100)
    return np.asarray(res.params).T.ravel(), np.asarray(res.bse).T.ravel()


def timed(fn, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out = fn(X, y)
        return time.perf_counter() - t0, out


def peak_mib(fn, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tracemalloc.start()
        try:
            fn(X, y)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes")
    parser.add_argument(
        "--mnist-size", action="store_true", help="also 60000 x 784 x 10 (statsmodels: long)"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument(
        "--statsmodels-max-params",
        type=int,
        default=None,
        help="run statsmodels only up to this many parameters (above: ours only)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads for both (threadpoolctl) and our kernels' n_jobs (default: all)",
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    if args.threads is not None:
        from threadpoolctl import threadpool_limits

        global N_JOBS
        N_JOBS = args.threads
        threadpool_limits(args.threads)  # for the whole run
    sizes = QUICK_SIZES if args.quick else SIZES + ([MNIST_SIZE] if args.mnist_size else [])
    ours(*make_data(20_000, 10, 3))  # load our kernels (numba's cache) outside the timings
    rows = []
    for n, d, k in sizes:
        X, y = make_data(n, d, k)
        n_params = (k - 1) * (d + 1)
        run_sm = args.statsmodels_max_params is None or n_params <= args.statsmodels_max_params
        t_ours, (coef, se) = timed(ours, X, y)
        mem = ["-", "-"]
        if not args.no_memory:
            mem[0] = f"{peak_mib(ours, X, y):.0f}"
        if run_sm:
            t_sm, (coef_sm, se_sm) = timed(statsmodels_mnlogit, X, y)
            se_diff = f"{np.max(np.abs(se / se_sm - 1)):.1e}"
            coef_diff = np.max(np.abs(coef - coef_sm) / np.maximum(np.abs(coef_sm), 1e-3))
            coef_diff, sm_time, ratio = f"{coef_diff:.1e}", f"{t_sm:.2f}", t_ours / t_sm
            ratio = f"**{ratio:.2f}**"
            if not args.no_memory:
                mem[1] = f"{peak_mib(statsmodels_mnlogit, X, y):.0f}"
        else:
            se_diff = coef_diff = ratio = "-"
            sm_time = "not run"
        rows.append(
            [
                f"{n} x {d} x {k}",
                n_params,
                f"{t_ours:.2f}",
                sm_time,
                ratio,
                *mem,
                se_diff,
                coef_diff,
            ]
        )
        print(rows[-1], flush=True)
    header = [
        "n x features x classes",
        "parameters",
        "ours: fit + SE (s)",
        "MNLogit: fit + bse (s)",
        "ours / statsmodels",
        "ours peak (MiB)",
        "statsmodels peak (MiB)",
        "SE max rel. diff",
        "estimate max rel. diff",
    ]
    import statsmodels

    threads = "all (BLAS's default, n_jobs=None)" if args.threads is None else args.threads
    text = "\n".join(
        [
            "# inference: fit + standard errors against statsmodels' MNLogit",
            "",
            "- ours: `SoftmaxClassifier(C=np.inf).fit` + `coef_table` (Newton-polished "
            "estimates, nonrobust standard errors); statsmodels "
            f"{statsmodels.__version__}: `MNLogit(...).fit(method='newton')` + `bse`",
            "- synthetic data drawn from the model (see the script); one run per size; "
            "peak memory of traced allocations (tracemalloc) in a second run",
            f"- threads: {threads} for BLAS (both) and our kernels",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(header, rows),
        ]
    )
    finish("inference_quick" if args.quick else "inference", text, args)


if __name__ == "__main__":
    main()
