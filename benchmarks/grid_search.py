"""GridSearchCV over 6 values of C on an MNIST subset: n_jobs 1 and 2, loky and threading.

Ours vs LogisticRegression, same grid, folds, data and tol; wall time of the whole search
(including the refit), best of ``--repeats``.  A third row runs ours with float64
evaluations only (no float32 stage, docs/design.md "Two precisions"): the before/after of
that change in the same run.  With ``n_jobs=2`` the two fits at a time
must not oversubscribe the cores: loky workers get NUMBA_NUM_THREADS and BLAS limits from
joblib; under the threading backend the TBB threading layer shares one pool between the
threads (with OpenMP each thread would start its own team).

Usage::

    python benchmarks/grid_search.py [--data-dir DIR] [--quick] [--rows 6000]
"""

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    Float64Only,
    add_output_options,
    finish,
    load_data,
    machine_description,
    markdown_table,
    progress,
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="2000 rows, 1 repeat")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    add_output_options(parser)
    args = parser.parse_args(argv)
    rows = args.rows or (2000 if args.quick else 6000)
    repeats = args.repeats or (1 if args.quick else 2)

    import joblib
    import numba
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    from sk_softmax import SoftmaxClassifier

    X, y, _, _, desc = load_data(args.data_dir, quick=False)
    X, y = X[:rows], y[:rows]
    grid = {"C": list(np.logspace(-2, 1, 6))}
    SoftmaxClassifier(max_iter=2).fit(X[:300], y[:300])  # compile in the parent
    configs = [(1, "loky"), (2, "loky"), (2, "threading")]
    results = {}
    for name, make in progress(
        [
            ("LogisticRegression", lambda: LogisticRegression(tol=1e-4, max_iter=300)),
            ("SoftmaxClassifier", lambda: SoftmaxClassifier(tol=1e-4, max_iter=300)),
            ("SoftmaxClassifier, float64 only", lambda: Float64Only(tol=1e-4, max_iter=300)),
        ],
        desc="estimators",
    ):
        for n_jobs, backend in configs:
            best = np.inf
            for _ in range(repeats):
                search = GridSearchCV(make(), grid, cv=3, n_jobs=n_jobs)
                with warnings.catch_warnings(), joblib.parallel_backend(backend):
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    search.fit(X, y)
                    best = min(best, time.perf_counter() - t0)
            results[name, n_jobs, backend] = (best, search.best_params_["C"], search.best_score_)
    rows_out = []
    for (name, n_jobs, backend), (t, C, score) in results.items():
        t1 = results[name, 1, "loky"][0]
        t_sk = results["LogisticRegression", n_jobs, backend][0]
        rows_out.append(
            [
                name,
                n_jobs,
                backend if n_jobs > 1 else "-",
                f"{t:.2f}",
                f"{t / t1:.2f}",
                f"{t / t_sk:.2f}",
                f"{C:.3g}",
                f"{score:.4f}",
            ]
        )
    text = "\n".join(
        [
            "# grid_search: GridSearchCV(6 values of C, cv=3) on an MNIST subset",
            "",
            f"- data: {desc}, first {rows} rows; tol=1e-4, max_iter=300; best of {repeats}",
            f"- numba threading layer: {numba.threading_layer()}",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(
                [
                    "estimator",
                    "n_jobs",
                    "backend",
                    "search time (s)",
                    "vs n_jobs=1",
                    "vs LogisticRegression",
                    "best C",
                    "best CV score",
                ],
                rows_out,
            ),
        ]
    )
    finish("grid_search_quick" if args.quick else "grid_search", text, args)


if __name__ == "__main__":
    main()
