"""Shared helpers for the benchmarks: data, machine description, tables, result files,
counting."""

import contextlib
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# importing sk_softmax compiles nothing and imports no numba
from sk_softmax import SoftmaxClassifier

RESULTS = Path(__file__).resolve().parent / "results"


def machine_description():
    """One line: CPU model, cores, Python and library versions."""
    import numba
    import scipy
    import sklearn

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import sk_softmax

    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()}, "
        f"numpy {np.__version__}, scipy {scipy.__version__}, scikit-learn "
        f"{sklearn.__version__}, numba {numba.__version__}, sk_softmax "
        f"{sk_softmax.__version__}"
    )


def default_mnist_dir():
    """``$SK_SOFTMAX_MNIST`` if set, else ``../shared/data/mnist`` (relative to the
    working directory or to the repository) if it holds MNIST, else None."""
    env = os.environ.get("SK_SOFTMAX_MNIST")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[1]
    for candidate in (
        Path("..", "shared", "data", "mnist"),
        repo.parent / "shared" / "data" / "mnist",
    ):
        if (candidate / "train-labels-idx1-ubyte.gz").exists():
            return candidate
    return None


def load_data(data_dir=None, quick=False):
    """MNIST train/test (scaled to [0, 1]) from IDX files, else OpenML, else digits.

    Returns ``(X_train, y_train, X_test, y_test, description)``; the description says
    which source was used (and why, when falling back).
    """
    from sk_softmax.datasets import load_mnist

    data_dir = Path(data_dir) if data_dir else default_mnist_dir()
    note = None
    if data_dir is not None:
        X, y = load_mnist(data_dir, "train")
        Xt, yt = load_mnist(data_dir, "test")
        desc = f"MNIST from IDX files in {data_dir}"
    else:
        try:
            from sklearn.datasets import fetch_openml

            X, y = fetch_openml("mnist_784", return_X_y=True, as_frame=False)
            X = X / 255.0
            y = y.astype(np.int64)
            X, Xt, y, yt = X[:60000], X[60000:], y[:60000], y[60000:]
            desc = "MNIST from OpenML (mnist_784)"
        except Exception as exc:  # no network, no cache
            from sklearn.datasets import load_digits
            from sklearn.model_selection import train_test_split

            X, y = load_digits(return_X_y=True)
            X = X / 16.0
            X, Xt, y, yt = train_test_split(X, y, test_size=0.25, random_state=0)
            desc = "scikit-learn's digits (8x8)"
            note = (
                f"NOTE: MNIST not found (no IDX files, OpenML failed: "
                f"{type(exc).__name__}); using scikit-learn's digits instead."
            )
    if quick and X.shape[0] > 10000:
        X, y = X[:10000], y[:10000]
        desc += ", first 10000 training rows (--quick)"
    if note:
        print(note, file=sys.stderr)
    return np.ascontiguousarray(X), y, np.ascontiguousarray(Xt), yt, desc


def markdown_table(header, rows):
    """A markdown table from a header list and row lists (values already formatted)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def add_output_options(parser):
    """Add ``--save`` and ``--out DIR``: where a run writes its result files.

    A default run writes into a new temporary directory (printed at the end), so that
    running a benchmark never modifies the tracked files of ``benchmarks/results/``;
    ``--save`` writes there (the results the README and the docs show), ``--out DIR``
    into ``DIR``.
    """
    group = parser.add_argument_group("result files").add_mutually_exclusive_group()
    group.add_argument(
        "--save",
        action="store_true",
        help="write the result files into benchmarks/results/ (the tracked "
        "results that the README and the documentation show)",
    )
    group.add_argument(
        "--out",
        metavar="DIR",
        help="write the result files into DIR (default: a new temporary "
        "directory, printed at the end)",
    )
    return parser


def output_dir(args):
    """The directory this run writes into (``--save``: ``benchmarks/results/``; ``--out``;
    else a new temporary directory, made once per run)."""
    out = getattr(args, "_output_dir", None)
    if out is None:
        if getattr(args, "save", False):
            out = RESULTS
        elif getattr(args, "out", None):
            out = Path(args.out)
        else:
            out = Path(tempfile.mkdtemp(prefix="sk_softmax_bench_"))
        out.mkdir(parents=True, exist_ok=True)
        args._output_dir = out
    return out


def finish(name, text, args, figures=()):
    """Print a benchmark's markdown, write it to ``<output dir>/<name>.md`` and say, last,
    where it and the ``figures`` (paths already saved) went."""
    print(text)
    out = output_dir(args)
    path = out / f"{name}.md"
    path.write_text(text + "\n")
    names = ", ".join([path.name] + [Path(f).name for f in figures if f is not None])
    print(f"\nResults written to {out}{os.sep}: {names}")
    if out.resolve() != RESULTS.resolve():
        print("(benchmarks/results/ is unchanged: --save writes there)")


def save_figure(fig, path):
    """Lay out, save (PNG) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def best_time(fn, repeats):
    """Best wall time of ``fn()`` over ``repeats`` calls, after one warm-up call
    (compilation, page faults)."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_fit_time(make, X, y, repeats):
    """Best wall time of ``make().fit(X, y)`` over ``repeats`` fits (warnings silenced);
    returns ``(seconds, last estimator)``."""
    import time
    import warnings

    best, est = np.inf, None
    for _ in range(repeats):
        est = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            est.fit(X, y)
            best = min(best, time.perf_counter() - t0)
    return best, est


@contextlib.contextmanager
def record_calls(cls, method):
    """Record every call of ``cls.method(self, coef, ...)`` made inside the block.

    Yields a list that receives ``(seconds since entering, copy of coef)`` per call: the
    number of loss+gradient evaluations, and a trace whose objective is evaluated later,
    outside any timed region.
    """
    calls = []
    original = getattr(cls, method)
    import time

    t0 = time.perf_counter()

    def wrapped(self, coef, *args, **kwargs):
        calls.append((time.perf_counter() - t0, np.array(coef, copy=True)))
        return original(self, coef, *args, **kwargs)

    setattr(cls, method, wrapped)
    try:
        yield calls
    finally:
        setattr(cls, method, original)


def progress(iterable, total=None, desc=None):
    """tqdm when installed (the ``bench`` extra), else the plain iterable."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return iterable
    return tqdm(iterable, total=total, desc=desc, file=sys.stderr, leave=False)


_F64_ONLY = {"running": 0, "saved": None, "lock": threading.Lock()}


class Float64Only(SoftmaxClassifier):
    """SoftmaxClassifier whose fits skip the float32 stage (docs/design.md, "Two
    precisions"): the before of that change, measured in the same run.  At module level,
    so that loky workers import it; fits running at once in threads share the switch,
    which is off while any of them runs."""

    def fit(self, X, y, sample_weight=None):
        from sk_softmax import _precision

        with _F64_ONLY["lock"]:
            if _F64_ONLY["running"] == 0:
                _F64_ONLY["saved"] = _precision.FLOAT32_STAGE_MAX_COPY_BYTES
                _precision.FLOAT32_STAGE_MAX_COPY_BYTES = 0
            _F64_ONLY["running"] += 1
        try:
            return super().fit(X, y, sample_weight)
        finally:
            with _F64_ONLY["lock"]:
                _F64_ONLY["running"] -= 1
                if _F64_ONLY["running"] == 0:
                    _precision.FLOAT32_STAGE_MAX_COPY_BYTES = _F64_ONLY["saved"]
