"""Before / after: the same fits timed with two installs of sk_softmax, interleaved.

For a change that must not change results nor slow anything down (a refactoring), this
runs SoftmaxClassifier's side of the main benchmarks with two Python interpreters, each
with its own install of the package (e.g. a virtual environment of the previous commit
and one of the working tree), alternating them round by round so that both see the same
machine load.  Each workload runs in a fresh child process (data loaded, kernels
compiled or loaded from the cache by a warm-up fit first, then one timed fit) and
reports its wall time and a hash of the coefficients' bytes: the hashes agree exactly
when the results are bit-identical.

Workloads (the estimator's side of each benchmark, at its settings):

* ``fit64`` / ``fit32``: fit_mnist, all 60000 MNIST rows, C=1, tol=1e-4, max_iter=1000;
* ``sgd``: sgd_mnist, 5 epochs of ``solver="sgd"`` (``tol=None``, random_state=0),
  float32;
* ``l1``: l1_mnist's case MNIST:1:10 (10000 rows, l1_ratio=1, C = 10 x the critical C);
* ``grid``: grid_search, GridSearchCV over 6 values of C (cv=3, loky, n_jobs=2) on 6000
  rows, tol=1e-4, max_iter=300.

Usage::

    python benchmarks/before_after.py --a /path/to/old/venv/bin/python \\
        --b .venv/bin/python [--rounds 3] [--data-dir DIR] [--save]
"""

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
WORKLOADS = ("fit64", "fit32", "sgd", "l1", "grid")


def _critical_C(X, y, l1_ratio):
    n = X.shape[0]
    Y = np.eye(int(y.max()) + 1)[y]
    G = X.T @ (Y.mean(axis=0) - Y) / n
    return l1_ratio / (n * np.abs(G).max())


def child(workload, data_dir):
    """Run one workload in this process; print ``{"seconds", "checksum"}`` as JSON."""
    sys.path.insert(0, str(HERE))
    from _common import load_data
    from sklearn.model_selection import GridSearchCV

    from sk_softmax import SoftmaxClassifier

    warnings.simplefilter("ignore")
    X, y, _, _, _ = load_data(data_dir)
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.asarray(y)
    if workload in ("fit32", "sgd"):
        X = X.astype(np.float32)
    params = {
        "fit64": {"C": 1.0, "tol": 1e-4, "max_iter": 1000},
        "fit32": {"C": 1.0, "tol": 1e-4, "max_iter": 1000},
        "sgd": {"solver": "sgd", "max_iter": 5, "tol": None, "random_state": 0},
    }.get(workload)
    if workload == "l1":
        X, y = X[:10000], y[:10000]
        params = {"C": 10 * _critical_C(X, y, 1.0), "l1_ratio": 1.0}
    elif workload == "grid":
        X, y = X[:6000], y[:6000]

    def make():
        if workload != "grid":
            return SoftmaxClassifier(**params)
        return GridSearchCV(
            SoftmaxClassifier(tol=1e-4, max_iter=300),
            {"C": list(np.logspace(-2, 1, 6))},
            cv=3,
            n_jobs=2,
        )

    warm = make()
    if workload == "grid":
        SoftmaxClassifier(max_iter=2).fit(X[:300], y[:300])
    else:
        warm.set_params(max_iter=2).fit(X[:2000], y[:2000])
    t0 = time.perf_counter()
    model = make().fit(X, y)
    seconds = time.perf_counter() - t0
    est = model.best_estimator_ if workload == "grid" else model
    checksum = hashlib.sha256(
        np.ascontiguousarray(est.coef_).tobytes() + np.ascontiguousarray(est.intercept_).tobytes()
    ).hexdigest()[:16]
    print(json.dumps({"seconds": seconds, "checksum": checksum}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", help="Python of the 'before' install")
    parser.add_argument("--b", help="Python of the 'after' install")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workloads", nargs="*", default=list(WORKLOADS))
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--save",
        action="store_true",
        help="write benchmarks/results/before_after.md (else print only)",
    )
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.data_dir)
    if not (args.a and args.b):
        parser.error("--a and --b are required")
    times = {(w, s): [] for w in args.workloads for s in "ab"}
    sums = {}
    for r in range(args.rounds):
        for w in args.workloads:
            for side in "ab" if r % 2 == 0 else "ba":
                python = args.a if side == "a" else args.b
                cmd = [python, str(Path(__file__).resolve()), "--child", w]
                if args.data_dir:
                    cmd += ["--data-dir", args.data_dir]
                out = subprocess.run(cmd, capture_output=True, text=True, check=True)
                res = json.loads(out.stdout.strip().splitlines()[-1])
                times[(w, side)].append(res["seconds"])
                sums.setdefault((w, side), res["checksum"])
                print(f"round {r + 1} {w:6s} {side}: {res['seconds']:7.2f} s", flush=True)
    lines = [
        "| workload | before: min / median (s) | after: min / median (s) | "
        "after / before (min) | same coefficients |",
        "|---|---|---|---|---|",
    ]
    for w in args.workloads:
        a, b = times[(w, "a")], times[(w, "b")]
        lines.append(
            f"| {w} | {min(a):.2f} / {statistics.median(a):.2f} | "
            f"{min(b):.2f} / {statistics.median(b):.2f} | {min(b) / min(a):.3f} | "
            f"{'yes' if sums[(w, 'a')] == sums[(w, 'b')] else 'NO'} |"
        )
    text = "\n".join(lines)
    print(text)
    if args.save:
        (HERE / "results" / "before_after.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
