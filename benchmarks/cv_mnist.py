"""SoftmaxClassifierCV vs LogisticRegressionCV and GridSearchCV(SoftmaxClassifier).

12000 MNIST rows (/255), 8 values of C (``np.logspace(-4, 4, 8)``, LogisticRegressionCV's
grid), the same 5 stratified folds for all, tol=1e-4, max_iter=100 (the defaults),
accuracy: wall time of the whole search including the refit, chosen C and its mean CV
score, for

* LogisticRegressionCV with n_jobs=1 and n_jobs=2 (loky processes, its default);
* SoftmaxClassifierCV with n_jobs=1 (one fold at a time, two kernel threads) and
  n_jobs=2 (two folds at a time in threads, one kernel thread each);
* GridSearchCV(SoftmaxClassifier) with n_jobs=1 (independent fits: no warm starts).

Target: SoftmaxClassifierCV's best time at most 0.5x LogisticRegressionCV's best.

Usage::

    python benchmarks/cv_mnist.py [--quick] [--data-dir DIR] [--rows 12000]
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
    parser.add_argument("--quick", action="store_true", help="3000 rows, 3 folds")
    parser.add_argument("--rows", type=int, default=None)
    add_output_options(parser)
    args = parser.parse_args(argv)
    rows = args.rows or (3000 if args.quick else 12000)
    n_folds = 3 if args.quick else 5

    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV

    X, y, _, _, desc = load_data(args.data_dir, quick=False)
    X, y = np.ascontiguousarray(X[:rows]), y[:rows]
    Cs = np.logspace(-4, 4, 8)
    cv = StratifiedKFold(n_folds, shuffle=True, random_state=0)
    SoftmaxClassifier(max_iter=2).fit(X[:300], y[:300])  # compile outside the timings

    def lrcv(n_jobs):
        return LogisticRegressionCV(
            Cs=Cs,
            cv=cv,
            n_jobs=n_jobs,
            l1_ratios=(0.0,),
            scoring="accuracy",
            use_legacy_attributes=False,
        )

    runs = [
        ("LogisticRegressionCV", 1, lambda: lrcv(1)),
        ("LogisticRegressionCV", 2, lambda: lrcv(2)),
        ("SoftmaxClassifierCV", 1, lambda: SoftmaxClassifierCV(Cs=Cs, cv=cv, n_jobs=1)),
        ("SoftmaxClassifierCV", 2, lambda: SoftmaxClassifierCV(Cs=Cs, cv=cv, n_jobs=2)),
        (
            "GridSearchCV(SoftmaxClassifier)",
            1,
            lambda: GridSearchCV(SoftmaxClassifier(), {"C": list(Cs)}, cv=cv, n_jobs=1),
        ),
    ]
    results = []
    for name, n_jobs, make in runs:
        print(f"{name} n_jobs={n_jobs} ...", file=sys.stderr, flush=True)
        est = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(X, y)
            seconds = time.perf_counter() - t0
        if hasattr(est, "C_"):
            C = est.C_
            score = float(est.scores_.mean(axis=0).max())
            iters = int(np.sum(est.n_iter_))
        else:
            C = est.best_params_["C"]
            score = float(est.best_score_)
            iters = None
        results.append((name, n_jobs, seconds, C, score, iters))
    best_lr = min(r[2] for r in results if r[0] == "LogisticRegressionCV")
    table = [
        [
            name,
            n_jobs,
            f"{t:.2f}",
            f"**{t / best_lr:.2f}x**",
            f"{C:.3g}",
            f"{s:.4f}",
            "-" if it is None else it,
        ]
        for name, n_jobs, t, C, s, it in results
    ]
    text = "\n".join(
        [
            "# cv_mnist: choosing C by 5-fold cross-validation on 12000 MNIST rows"
            if not args.quick
            else "# cv_mnist (--quick)",
            "",
            f"- data: {desc}, first {rows} rows; Cs = logspace(-4, 4, 8); "
            f"StratifiedKFold({n_folds}, shuffle=True, random_state=0); tol=1e-4, max_iter=100; "
            "accuracy; times include the refit",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(
                [
                    "search",
                    "n_jobs",
                    "seconds",
                    "vs best LogisticRegressionCV",
                    "chosen C",
                    "mean CV score",
                    "solver iterations (all fits)",
                ],
                table,
            ),
        ]
    )
    finish("cv_mnist_quick" if args.quick else "cv_mnist", text, args)


if __name__ == "__main__":
    main()
