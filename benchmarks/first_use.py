"""First use: import time, and import + fit on iris in a fresh process (warm and cold cache).

Every number is the wall time of a fresh Python process (interpreter start included),
best of ``--repeats``.  "cold" points numba at an empty cache directory, so every kernel
compiles; "warm" reuses the cache the previous runs filled.  scikit-learn's import + fit
is measured the same way for comparison: ``LogisticRegression`` for the lbfgs rows,
``SGDClassifier(loss="log_loss")`` (the same number of epochs, dense or CSR as ours) for
the sgd rows.

Usage::

    python benchmarks/first_use.py [--quick] [--repeats 3]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    machine_description,
    markdown_table,
)

IMPORT = "import sk_softmax"
NOTHING_COMPILED = (
    "import sk_softmax, sys\n"
    "from sk_softmax import SoftmaxClassifier\n"
    "print('numba' in sys.modules)\n"
    "from sk_softmax._kernels._config import compiled_kernels\n"
    "compiled = compiled_kernels()\n"
    "assert not compiled, compiled\n"
)
FIT_OURS = (
    "from sklearn.datasets import load_iris\n"
    "from sk_softmax import SoftmaxClassifier\n"
    "X, y = load_iris(return_X_y=True)\n"
    "SoftmaxClassifier(max_iter=1000).fit(X, y).predict_proba(X)\n"
)
FIT_SKLEARN = FIT_OURS.replace(
    "from sk_softmax import SoftmaxClassifier",
    "from sklearn.linear_model import LogisticRegression",
).replace("SoftmaxClassifier(", "LogisticRegression(")
# import + fit + predict_proba on iris, for each solver and input format
CASES = {
    ("iris", "lbfgs", "dense"): FIT_OURS,
    ("iris", "lbfgs", "CSR"): FIT_OURS.replace(
        "X, y = load_iris(return_X_y=True)",
        "X, y = load_iris(return_X_y=True)\nimport scipy.sparse as sp; X = sp.csr_matrix(X)",
    ),
}
SGD_OURS = "SoftmaxClassifier(solver='sgd', max_iter=20, tol=None, random_state=0)"
SGD_SKLEARN = "SGDClassifier(loss='log_loss', max_iter=20, tol=None, random_state=0)"
for fmt in ("dense", "CSR"):
    CASES["iris", "sgd", fmt] = CASES["iris", "lbfgs", fmt].replace(
        "SoftmaxClassifier(max_iter=1000)", SGD_OURS
    )
# scikit-learn's scripts, by name: each row of CASES is compared with one of them
REFERENCES = {
    "LogisticRegression iris": FIT_SKLEARN,
    **{
        f"SGDClassifier iris {fmt}": CASES["iris", "sgd", fmt]
        .replace(
            "from sk_softmax import SoftmaxClassifier",
            "from sklearn.linear_model import SGDClassifier",
        )
        .replace(SGD_OURS, SGD_SKLEARN)
        for fmt in ("dense", "CSR")
    },
}


def reference_of(data, solver, fmt):
    """The name of the scikit-learn script a row of CASES is compared with: the same data
    (and, for SGD, format and epochs)."""
    if solver == "sgd":
        return f"SGDClassifier {data} {fmt}"
    return f"LogisticRegression {data}"


# digits (1797 x 64, 10 classes) is past the NumPy path's size: the kernels start


def on_digits(code):
    """The same script on digits, scaled to [0, 1]."""
    load = "X, y = load_digits(return_X_y=True)\n"
    return code.replace("load_iris", "load_digits").replace(load, load + "X = X / 16\n")


CASES["digits", "lbfgs", "dense"] = on_digits(FIT_OURS)
REFERENCES["LogisticRegression digits"] = on_digits(FIT_SKLEARN)
# the first fit on MNIST: the compilation it pays is its cold time minus its warm time
MNIST_FIT = (
    "import sys, time, warnings; warnings.simplefilter('ignore')\n"
    "sys.path.insert(0, {root!r})\n"
    "from benchmarks._common import load_data\n"
    "from sk_softmax import SoftmaxClassifier\n"
    "X, y, _, _, _ = load_data()\n"
    "t0 = time.perf_counter()\n"
    "SoftmaxClassifier({params}).fit(X, y)\n"
    "print(time.perf_counter() - t0)\n"
)
MNIST_PARAMS = {"lbfgs": "max_iter=5", "sgd": "solver='sgd', max_iter=1, tol=None"}


def wall(code, env=None):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def fit_seconds(code, env):
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True
    ).stdout
    return float(out.strip().split()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, no MNIST rows")
    parser.add_argument("--repeats", type=int, default=None)
    add_output_options(parser)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))

    out = subprocess.run(
        [sys.executable, "-c", NOTHING_COMPILED],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()

    def best(code, env_for_run):
        return min(wall(code, env_for_run) for _ in range(repeats))

    def cold(code):
        times = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as cache:
                times.append(wall(code, dict(env, NUMBA_CACHE_DIR=cache)))
        return min(times)

    sk = {name: best(code, env) for name, code in REFERENCES.items()}
    rows = [["import sk_softmax", f"{best(IMPORT, env):.2f}", "", "", ""]]
    for (data, solver, fmt), code in CASES.items():
        t_cold = cold(code)
        wall(code, env)  # fill the default cache
        t_warm = best(code, env)
        t_sk = sk[reference_of(data, solver, fmt)]
        rows.append(
            [
                f"import + fit {data} + predict_proba, {solver}, {fmt}",
                f"{t_cold:.2f}",
                f"{t_warm:.2f}",
                f"{t_cold / t_sk:.2f}x",
                f"{t_warm / t_sk:.2f}x",
            ]
        )
    for name, t in sk.items():
        estimator, data, *fmt = name.split()
        rows.append(
            [
                f"scikit-learn: import + {estimator} fit {data} + predict_proba"
                + (f", {fmt[0]}" if fmt else ""),
                f"{t:.2f}",
                f"{t:.2f}",
                "1.00x",
                "1.00x",
            ]
        )
    rows.append(["python -c pass (interpreter start)", f"{best('pass', env):.2f}", "", "", ""])
    mnist_rows = []
    if not args.quick:
        for solver, params in MNIST_PARAMS.items():
            code = MNIST_FIT.format(root=root, params=params)
            with tempfile.TemporaryDirectory() as cache:
                t_cold = fit_seconds(code, dict(env, NUMBA_CACHE_DIR=cache))
                t_warm = min(fit_seconds(code, dict(env, NUMBA_CACHE_DIR=cache)) for _ in range(2))
            mnist_rows.append(
                [
                    f"first fit on MNIST, {solver} ({params})",
                    f"{t_cold:.2f}",
                    f"{t_warm:.2f}",
                    f"{t_cold - t_warm:.2f}",
                ]
            )
    text = "\n".join(
        [
            "# first_use: fresh-process wall times",
            "",
            f"- best of {repeats}; after `import sk_softmax` and `from sk_softmax import "
            f"SoftmaxClassifier` no kernel is compiled (checked; numba loaded by then: {out}); "
            "`import sk_softmax` alone loads neither numba nor scikit-learn",
            "- iris (150 x 4) is fitted and predicted with NumPy, by both solvers (below "
            "200000 multiply-adds per evaluation numba is not started); digits (1797 x 64, "
            "scaled to [0, 1]) runs the numba kernels; each ratio is to scikit-learn on the "
            "same data: lbfgs rows to LogisticRegression (dense), sgd rows to "
            f"`{SGD_SKLEARN}` in the same format (ours: `{SGD_OURS}`)",
            "- cold: an empty numba cache (every kernel this call needs compiles); warm: the "
            "cache filled by an earlier run (what `python -m sk_softmax.warmup` gives)",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(
                [
                    "what",
                    "cold cache (s)",
                    "warm cache (s)",
                    "cold / scikit-learn",
                    "warm / scikit-learn",
                ],
                rows,
            ),
            *(
                []
                if not mnist_rows
                else [
                    "",
                    "The compilation a first fit on MNIST pays (its fit time in a fresh "
                    "process with an empty cache, minus the same with the cache filled; data "
                    "loading excluded):",
                    "",
                    markdown_table(["what", "cold (s)", "warm (s)", "compilation (s)"], mnist_rows),
                ]
            ),
        ]
    )
    finish("first_use_quick" if args.quick else "first_use", text, args)


if __name__ == "__main__":
    main()
