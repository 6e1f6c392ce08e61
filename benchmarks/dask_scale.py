"""Out-of-core L-BFGS on dask: a data set larger than the cluster's memory, fitted to
completion from zarr on disk.

A ``distributed.LocalCluster`` of 2 worker processes (1 thread each, a memory limit per
worker, bound to 127.0.0.1) first writes synthetic MNIST-like data (784 features in
[0, 1), ~80% zeros, 10 overlapping classes, float32; see ``_block``), chunk by chunk with
a seed per chunk, into a zarr store; the client never holds it.  Then:

1. ``SoftmaxClassifier().fit`` in memory on a subset (the first ``--subset`` rows),
   its evaluations counted;
2. the same subset as a dask array read from the store, fitted on the cluster
   (persisted: it fits in the workers' memory), coefficients compared with fit 1;
3. all the rows, fitted on the cluster from the store: larger than the cluster's
   memory, so not persisted, every evaluation reads (and decompresses) every block.

Per fit: wall time, iterations, evaluations, time per evaluation (median) and per row
of one evaluation, and for the dask fits the peak resident memory of each worker and of
the client during the fit (psutil, sampled every 0.2 s).  ``--quick``: 120k rows in
chunks of 20k, 20k subset, and the persisting threshold set to 0 so that the out-of-core
path runs on data that would fit.

Usage::

    python benchmarks/dask_scale.py [--quick] [--rows 1500000] [--memory-limit 1.5GB]
                                    [--compress] [--store DIR]
"""

import argparse
import datetime
import os
import shutil
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    machine_description,
    markdown_table,
    record_calls,
)


def _block(block_info=None, d=784, n_classes=10):
    """One chunk of rows, ``[X | y]`` as float32, seeded by the chunk's index so that the
    data set is reproducible: ``benchmarks/scaling.py``'s ``synthetic`` (fixed class
    prototypes plus uniform noise, ~80% zeros), with noise of amplitude 1 instead of 0.3,
    so that the classes overlap and L-BFGS needs tens of iterations, as on MNIST."""
    info = block_info[None]
    (lo, hi), i = info["array-location"][0], info["chunk-location"][0]
    n = hi - lo
    protos_rng = np.random.default_rng(0)
    protos = protos_rng.random((n_classes, d), dtype=np.float32) * (
        protos_rng.random((n_classes, d)) < 0.3
    )
    rng = np.random.default_rng(1000 + i)
    out = np.empty((n, d + 1), dtype=np.float32)
    # in slices of 10000 rows, so that a worker's temporaries stay small beside the chunk
    for lo in range(0, n, 10_000):
        hi = min(n, lo + 10_000)
        y = rng.integers(0, n_classes, hi - lo)
        X = protos[y] + rng.random((hi - lo, d), dtype=np.float32)
        X *= rng.random((hi - lo, d), dtype=np.float32) < 0.25
        np.clip(X, 0, 1, out=out[lo:hi, :d])
        out[lo:hi, d] = y
    return out


def write_store(path, rows, chunk, compress=False):
    """X (float32) and y (int8) of ``rows`` rows into zarr stores under ``path``,
    computed and written by the workers (one pass: both stores in one computation);
    ``compress``: zarr's default codec (zstd), else raw bytes."""
    import dask
    import dask.array as da

    row_chunks = (chunk,) * (rows // chunk) + ((rows % chunk,) if rows % chunk else ())
    both = da.map_blocks(
        _block, chunks=(row_chunks, (785,)), dtype=np.float32, meta=np.empty((0, 0), np.float32)
    )
    X = both[:, :784]
    y = both[:, 784].astype(np.int8)
    codec = {} if compress else {"compressors": None}
    dask.compute(
        da.to_zarr(X, os.path.join(path, "X.zarr"), overwrite=True, compute=False, **codec),
        da.to_zarr(y, os.path.join(path, "y.zarr"), overwrite=True, compute=False),
    )


class PeakMemory:
    """Peak RSS of the client process and of each worker, sampled in a thread."""

    def __init__(self, client, interval=0.2):
        import psutil

        self.client, self.interval = client, interval
        self.me = psutil.Process()
        self.pids = client.run(os.getpid)
        self.procs = {addr: psutil.Process(pid) for addr, pid in self.pids.items()}
        self.peak_client = 0
        self.peak_workers = dict.fromkeys(self.procs, 0)
        self._stop = threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak_client = max(self.peak_client, self.me.memory_info().rss)
            for addr, proc in self.procs.items():
                try:
                    self.peak_workers[addr] = max(self.peak_workers[addr], proc.memory_info().rss)
                except Exception:  # a worker restarted
                    pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def gib(nbytes):
    return f"{nbytes / 2**30:.2f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int, default=1_500_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--subset", type=int, default=200_000)
    parser.add_argument("--memory-limit", default="1.5GB")
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=300)
    parser.add_argument(
        "--store", default=None, help="directory for the zarr stores (default: a new one in /tmp)"
    )
    parser.add_argument("--keep-store", action="store_true")
    parser.add_argument(
        "--compress",
        action="store_true",
        help="store X with zarr's default codec (zstd); default: raw bytes "
        "(zstd made reading a chunk 2-4x slower here)",
    )
    add_output_options(parser)
    args = parser.parse_args()
    if args.quick:
        args.rows, args.chunk, args.subset = 120_000, 20_000, 20_000

    import dask.array as da
    from dask.utils import format_bytes, parse_bytes
    from distributed import Client, LocalCluster

    from sk_softmax import SoftmaxClassifier, _dask
    from sk_softmax._loss import SoftmaxLoss

    if args.quick:
        _dask.PERSIST_FRACTION = 0.0  # the out-of-core path on data that would fit
    store = args.store or tempfile.mkdtemp(prefix="sk_softmax_dask_", dir="/tmp")
    limit = parse_bytes(args.memory_limit)
    params = {"C": 1.0, "tol": args.tol, "max_iter": args.max_iter}
    rows_out, notes = [], []
    with (
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            memory_limit=limit,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        t0 = time.perf_counter()
        write_store(store, args.rows, args.chunk, args.compress)
        t_write = time.perf_counter() - t0
        X = da.from_zarr(os.path.join(store, "X.zarr"))
        y = da.from_zarr(os.path.join(store, "y.zarr"))
        disk = sum(f.stat().st_size for f in Path(store).rglob("*") if f.is_file())
        notes.append(
            f"data: {args.rows:,} x 784 float32 ({gib(X.nbytes)} GiB in memory, "
            f"{gib(disk)} GiB zarr on disk, "
            f"{'zstd' if args.compress else 'uncompressed'}), 10 classes, chunks of "
            f"{args.chunk:,} "
            f"rows; written by the workers in {t_write:.0f} s"
        )
        notes.append(
            f"cluster: LocalCluster, 2 worker processes x 1 thread, memory limit "
            f"{format_bytes(limit)} per worker ({format_bytes(2 * limit)} in all); "
            "the limits bound the workers' memory, while the operating system may "
            "keep the store's files in its page cache"
        )

        # 1. in memory, subset
        Xs = X[: args.subset].compute()
        ys = y[: args.subset].compute()
        with warnings.catch_warnings(), record_calls(SoftmaxLoss, "loss_gradient") as calls:
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            ref = SoftmaxClassifier(**params).fit(Xs, ys)
            t_mem = time.perf_counter() - t0
        gaps = np.diff([0.0] + [t for t, _ in calls])
        per_eval = float(np.median(gaps))
        rows_out.append(
            [
                "in memory (numpy, 2 threads)",
                f"{args.subset:,}",
                f"{t_mem:.1f}",
                ref.n_iter_[0],
                len(calls),
                f"{per_eval * 1e3:.0f}",
                f"{per_eval / args.subset * 1e9:.0f}",
                "-",
                "-",
                "-",
                "-",
            ]
        )
        mem_ns = per_eval / args.subset * 1e9
        del Xs

        def dask_fit(Xd, yd, label, n):
            with PeakMemory(client) as peak, warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                clf = SoftmaxClassifier(**params).fit(Xd, yd)
                elapsed = time.perf_counter() - t0
            st = clf._dask_stats
            med = float(np.median(st["evaluation_seconds"]))
            workers = " / ".join(gib(v) for v in peak.peak_workers.values())
            rows_out.append(
                [
                    label,
                    f"{n:,}",
                    f"{elapsed:.1f}",
                    clf.n_iter_[0],
                    st["n_evaluations"],
                    f"{med * 1e3:.0f}",
                    f"{med / n * 1e9:.0f}",
                    f"{med / n * 1e9 / mem_ns:.2f}",
                    "yes" if st["persisted"] else "no",
                    workers,
                    gib(peak.peak_client),
                ]
            )
            return clf

        # 2. dask, same subset (fits: persisted)
        sub = dask_fit(X[: args.subset], y[: args.subset], "dask, subset", args.subset)
        rel = float(np.max(np.abs(sub.coef_ - ref.coef_)) / np.max(np.abs(ref.coef_)))
        notes.append(
            f"agreement on the subset at tol={args.tol:g}: max |coef dask - coef "
            f"in memory| / max |coef in memory| = {rel:.1e}; same iterations: "
            f"{sub.n_iter_[0] == ref.n_iter_[0]}"
        )
        # 3. dask, all rows, out of core
        full = dask_fit(X, y, "dask, all rows (from zarr)", args.rows)
        acc = float((full.predict(X[: args.subset]).compute() == ys).mean())
        notes.append(f"training accuracy of the full fit on the subset's rows: {acc:.4f}")
    if not args.keep_store:
        shutil.rmtree(store, ignore_errors=True)

    header = [
        "fit",
        "rows",
        "fit time (s)",
        "iterations",
        "evaluations",
        "time / eval (ms, median)",
        "ns / row / eval",
        "vs in memory per row",
        "X persisted",
        "peak RSS per worker (GiB)",
        "peak RSS client (GiB)",
    ]
    lines = [
        "# dask_scale: out-of-core L-BFGS on a LocalCluster (zarr on disk)",
        "",
        *[f"- {n}" for n in notes],
        f"- SoftmaxClassifier(C=1.0, tol={args.tol:g}, max_iter={args.max_iter}); peak RSS "
        "sampled every 0.2 s during the fit (psutil); in-memory fit with 2 numba threads, "
        "dask workers with 1 thread each",
        f"- machine: {machine_description()}",
        f"- date: {datetime.date.today().isoformat()}",
        "",
        markdown_table(header, rows_out),
    ]
    finish("dask_scale_quick" if args.quick else "dask_scale", "\n".join(lines), args)


if __name__ == "__main__":
    main()
