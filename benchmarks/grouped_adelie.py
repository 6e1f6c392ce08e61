"""adelie's multinomial group lasso on the MNIST subset of ``benchmarks/grouped.py``.

adelie pins numpy < 2 and cannot share an environment with sk_softmax, so this script
needs only numpy and adelie (run it in their own virtual environment) and writes the
fits to an ``.npz`` file that ``benchmarks/grouped.py --adelie FILE`` reads, evaluates on
our objective and puts next to our fits.

Scalings: adelie minimises ``(1 / K) mean_i CE_i + lmda sum_g w_g ||beta_g||`` (its
multinomial loss is divided by ``K``; weights sum to 1); ours is ``mean_i CE_i +
sum_j ||W[:, j]|| / (C n)`` at ``l1_ratio = 1``.  Dividing ours by ``K``: the same
problem for ``lmda = 1 / (K C n)`` with ``penalty = ones`` (adelie's default is
``sqrt(K)`` per feature group).  Both fit ``K`` unpenalised intercepts.

By default adelie fits a path of 20 lambdas from the critical one down to the target, the
way it is meant to run (a single small lambda from zero took 32 s at 10x and 165 s at
100x on 10000 rows in a first run, Intel Xeon 2 cores, 2026-12-05); the time reported is
the whole path's.

Usage (in a venv with adelie)::

    python benchmarks/grouped_adelie.py --out /tmp/adelie.npz [--rows 10000]
"""

import argparse
import gzip
import os
import time
from pathlib import Path

import numpy as np


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def critical_C(X, y, K):
    """The grouped critical C at ``l1_ratio = 1`` (``GroupElasticNet.critical_C``)."""
    n = X.shape[0]
    Y = np.eye(K)[y]
    G = X.T @ (Y.mean(0) - Y) / n  # (p, K)
    return 1.0 / (n * np.max(np.linalg.norm(G, axis=1)))


def main(argv=None):
    import adelie as ad

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("SK_SOFTMAX_MNIST"))
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--multiples", type=float, nargs="+", default=[10.0, 100.0, 1000.0])
    parser.add_argument("--tol", type=float, default=1e-7, help="adelie's tol (its default)")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument(
        "--path-points",
        type=int,
        default=20,
        help="fit along a geometric path of this many lambdas from the critical one (adelie's "
        "way); 1: the target lambda alone, from zero",
    )
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    folder = Path(args.data_dir or Path(__file__).resolve().parents[2] / "shared/data/mnist")
    X = read_idx(folder / "train-images-idx3-ubyte.gz")[: args.rows].reshape(args.rows, -1)
    X = np.asfortranarray(X / 255.0)
    y = read_idx(folder / "train-labels-idx1-ubyte.gz")[: args.rows].astype(np.int64)
    n, p = X.shape
    K = int(y.max()) + 1
    C0 = critical_C(X, y, K)
    out = {"multiples": np.array(args.multiples), "rows": n}
    for i, m in enumerate(args.multiples):
        lmda = 1.0 / (K * m * C0 * n)
        glm = ad.glm.multinomial(np.eye(K)[y].astype(np.float64))
        best = np.inf
        lmda0 = 1.0 / (K * C0 * n)
        path = np.geomspace(lmda0, lmda, args.path_points) if args.path_points > 1 else [lmda]
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            state = ad.grpnet(
                X,
                glm,
                penalty=np.ones(p),
                lmda_path=np.asarray(path, dtype=np.float64),
                early_exit=False,
                tol=args.tol,
                n_threads=args.threads,
                progress_bar=False,
            )
            best = min(best, time.perf_counter() - t0)
        out[f"W{i}"] = state.betas[-1].toarray().reshape(p, K).T
        out[f"b{i}"] = np.asarray(state.intercepts[-1])
        out[f"t{i}"] = best
        print(f"{m:g}x: lmda {lmda:.3g}, {best:.2f} s", flush=True)
        out["done"] = i + 1
        out["version"] = ad.__version__
        out["path_points"] = args.path_points
        np.savez(args.out, **out)  # after every fit: a run cut short keeps what it did


if __name__ == "__main__":
    main()
