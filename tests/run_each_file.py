"""Run every test file alone, each in its own pytest process: ``tox -e alone``.

A test must pass alone and in any order.  The default run (pytest-randomly) shuffles the
order within one process; this runs each ``tests/test_*.py`` in a fresh process, so that
a file relying on state some other file left behind (a module constant, numba's thread
count, a BLAS limit, a compiled kernel...) fails here.

Usage::

    python tests/run_each_file.py [pytest options]      # e.g. -m "not slow"

The options go to every pytest process.  Prints one line per file (result and seconds)
and exits with 1 if any file failed.
"""

import subprocess
import sys
import time
from pathlib import Path

# pytest's exit code when every test of a file was deselected (by -m, -k)
NO_TESTS_COLLECTED = 5


def main(argv):
    tests = Path(__file__).resolve().parent
    files = sorted(tests.glob("test_*.py"))
    results = []
    start = time.perf_counter()
    for path in files:
        t0 = time.perf_counter()
        print(f"== {path.name}", flush=True)
        code = subprocess.call(
            [sys.executable, "-m", "pytest", str(path), "-q", *argv], cwd=tests.parent
        )
        results.append((path.name, code, time.perf_counter() - t0))
    print("\n== each file alone", flush=True)
    for name, code, seconds in results:
        status = "passed" if code in (0, NO_TESTS_COLLECTED) else f"FAILED (exit {code})"
        print(f"{name:32s} {status:18s} {seconds:6.1f} s")
    failed = [name for name, code, _ in results if code not in (0, NO_TESTS_COLLECTED)]
    print(
        f"{len(files) - len(failed)} of {len(files)} files passed alone in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
