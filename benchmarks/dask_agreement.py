"""Agreement of fits on dask input with in-memory fits of the same data.

A ``distributed.LocalCluster`` (2 worker processes x 1 thread, 127.0.0.1) fits
``SoftmaxClassifier`` on dask arrays (row chunks of 2500) and the same estimator on the
NumPy / SciPy data, for dense float64 and float32, binary and multiclass, sample and
class weights, string labels, CSR blocks and elastic-net; reports the largest relative
coefficient difference ``max |coef_dask - coef_mem| / max |coef_mem|`` (intercepts
alike), iterations of both, and the agreement of the predictions, at ``tol=1e-10`` (both
at the optimum) and at the default ``tol=1e-4``.

Usage::

    python benchmarks/dask_agreement.py [--quick]
"""

import argparse
import datetime
import sys
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    machine_description,
    markdown_table,
)


def data(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.integers(0, k, n)
    X[:, :k] += 1.5 * np.eye(k)[y]
    return X, y


def rel(a, b):
    scale = max(float(np.max(np.abs(b))), 1e-300)
    return float(np.max(np.abs(np.asarray(a, dtype=np.float64) - b))) / scale


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    add_output_options(parser)
    args = parser.parse_args()
    n = 5000 if args.quick else 20000

    import dask.array as da
    from distributed import Client, LocalCluster

    from sk_softmax import SoftmaxClassifier

    X, y = data(n, 50, 5)
    Xb, yb = data(n, 50, 2, seed=1)
    sw = np.random.default_rng(2).uniform(0, 2, n)
    Xs = X.copy()
    Xs[np.abs(Xs) < 1.0] = 0.0
    Xs = sp.csr_matrix(Xs)
    chunk = 2500
    cases = [
        ("dense float64, 5 classes", X, y, None, {}),
        ("dense float32, 5 classes", X.astype(np.float32), y, None, {}),
        ("binary", Xb, yb, None, {}),
        ("string labels, binary", Xb, np.array(["no", "yes"])[yb], None, {}),
        ("sample_weight", X, y, sw, {}),
        ("sample_weight + class_weight='balanced'", X, y, sw, {"class_weight": "balanced"}),
        (
            "class_weight dict, no intercept",
            X,
            y,
            None,
            {"class_weight": {0: 3.0, 4: 0.5}, "fit_intercept": False},
        ),
        ("CSR blocks (32% stored)", Xs, y, None, {}),
        ("elastic-net l1_ratio=0.5, C=0.01", X, y, None, {"l1_ratio": 0.5, "C": 0.01}),
        ("L1, C=0.001 (very sparse: Newton steps)", X, y, sw, {"l1_ratio": 1.0, "C": 0.001}),
    ]
    rows = []
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster),
    ):
        for name, Xc, yc, swc, params in cases:
            Xd = da.from_array(Xc, chunks=(chunk, -1), asarray=not sp.issparse(Xc))
            yd = da.from_array(yc, chunks=chunk)
            swd = None if swc is None else da.from_array(swc, chunks=chunk)
            for tol in (1e-10, 1e-4):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    mem = SoftmaxClassifier(tol=tol, max_iter=2000, **params).fit(
                        Xc, yc, sample_weight=swc
                    )
                    dsk = SoftmaxClassifier(tol=tol, max_iter=2000, **params).fit(
                        Xd, yd, sample_weight=swd
                    )
                same_pred = float(np.mean(dsk.predict(Xd).compute() == mem.predict(Xc)))
                zeros = f"{np.mean(mem.coef_ == 0):.3f} / {np.mean(dsk.coef_ == 0):.3f}"
                rows.append(
                    [
                        name,
                        f"{tol:g}",
                        f"{rel(dsk.coef_, mem.coef_):.1e}",
                        f"{rel(dsk.intercept_, mem.intercept_):.1e}"
                        if params.get("fit_intercept", True)
                        else "-",
                        f"{mem.n_iter_[0]} / {dsk.n_iter_[0]}",
                        zeros,
                        f"{same_pred:.4f}",
                    ]
                )
    lines = [
        "# dask_agreement: fits on dask input vs in memory",
        "",
        f"- data: {n:,} x 50 (standard normal, classes shifted), row chunks of {chunk:,} "
        "(dask arrays from the in-memory data); LocalCluster of 2 worker processes x 1 "
        "thread",
        "- rel diff = max |dask - in memory| / max |in memory|; iterations and the share of "
        "zero weights: in memory / dask",
        f"- machine: {machine_description()}",
        f"- date: {datetime.date.today().isoformat()}",
        "",
        markdown_table(
            [
                "case",
                "tol",
                "coef rel diff",
                "intercept rel diff",
                "iterations",
                "zero weights",
                "same predictions",
            ],
            rows,
        ),
    ]
    finish("dask_agreement_quick" if args.quick else "dask_agreement", "\n".join(lines), args)


if __name__ == "__main__":
    main()
