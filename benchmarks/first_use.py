"""First use: import time, and import + fit on iris in a fresh process (warm and cold cache).

Every number is the wall time of a fresh Python process (interpreter start included),
best of ``--repeats``.  "cold" points numba at an empty cache directory, so every kernel
compiles; "warm" reuses the cache the previous runs filled.  scikit-learn's import +
LogisticRegression fit on iris is measured the same way for comparison.

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

from benchmarks._common import finish, machine_description, markdown_table  # noqa: E402

IMPORT = "import sk_softmax"
NOTHING_COMPILED = (
    "import sk_softmax, sys\n"
    "from sk_softmax import SoftmaxClassifier\n"
    "from sk_softmax import _kernels as k\n"
    "compiled = [n for n in k.__all__ if getattr(getattr(k, n), 'signatures', None)]\n"
    "assert not compiled, compiled\n"
    "print('numba' in sys.modules)\n"
)
FIT_OURS = (
    "from sklearn.datasets import load_iris\n"
    "from sk_softmax import SoftmaxClassifier\n"
    "X, y = load_iris(return_X_y=True)\n"
    "SoftmaxClassifier(max_iter=1000).fit(X, y).predict_proba(X)\n"
)
FIT_SKLEARN = FIT_OURS.replace("from sk_softmax import SoftmaxClassifier",
                               "from sklearn.linear_model import LogisticRegression").replace(
    "SoftmaxClassifier(", "LogisticRegression(")


def wall(code, env=None):
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat")
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))

    out = subprocess.run([sys.executable, "-c", NOTHING_COMPILED], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    rows = []

    def best(code, env_for_run):
        return min(wall(code, env_for_run) for _ in range(repeats))

    rows.append(["import sk_softmax", f"{best(IMPORT, env):.2f}", "<= 0.5"])
    cold = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            cold.append(wall(FIT_OURS, dict(env, NUMBA_CACHE_DIR=cache)))
    wall(FIT_OURS, env)  # fill the default cache
    rows.append(["import + fit iris, warm numba cache", f"{best(FIT_OURS, env):.2f}", "<= 1.5"])
    rows.append(["import + fit iris, cold numba cache", f"{min(cold):.2f}", "<= 8"])
    rows.append(["scikit-learn: import + LogisticRegression fit iris",
                 f"{best(FIT_SKLEARN, env):.2f}", "(reference)"])
    rows.append(["python -c pass (interpreter start)", f"{best('pass', env):.2f}", ""])
    text = "\n".join([
        "# first_use: fresh-process wall times",
        "",
        f"- best of {repeats}; after `import sk_softmax` and `from sk_softmax import "
        f"SoftmaxClassifier` no kernel is compiled (checked; numba loaded by then: {out}); "
        "`import sk_softmax` alone loads neither numba nor scikit-learn",
        f"- machine: {machine_description()}",
        f"- date: {time.strftime('%Y-%m-%d')}",
        "",
        markdown_table(["what", "seconds", "target"], rows),
    ])
    finish("first_use_quick" if args.quick else "first_use", text)


if __name__ == "__main__":
    main()
