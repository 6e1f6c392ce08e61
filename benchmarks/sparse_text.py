"""Text-like sparse data: SoftmaxClassifier vs LogisticRegression (lbfgs), and SGD epochs.

A synthetic TF-IDF-like problem (default 100000 rows, 50000 columns, ~100 non-zeros per
row with Zipf-distributed columns, rows L2-normalised, 20 classes with their own word
distributions), CSR float64.  Reported in one run: fit time to ``tol=1e-4`` for both
estimators, iterations, final objective of both evaluated by the same code, accuracy on
held-out rows, the ratio; one SGD epoch of ours vs one epoch of
``SGDClassifier(loss="log_loss")``, each also with ``average=True`` (averaging is lazy
in both: an epoch still touches only the stored entries).  20newsgroups is tried too
when scikit-learn can fetch it (no network here: a note says so).

Usage::

    python benchmarks/sparse_text.py [--quick] [--rows 100000] [--cols 50000] [--sgd-only]
"""

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    best_fit_time,
    finish,
    machine_description,
    markdown_table,
)


def text_like(n, d, nnz_per_row=100, n_classes=20, seed=0):
    """CSR (n, d): Zipf word frequencies, class-specific topic words, L2-normalised rows.

    Words are drawn with replacement and repeats merged, as counts are in a document; the
    number of draws is raised until rows hold about ``nnz_per_row`` distinct words.
    """
    draws = nnz_per_row
    for _ in range(4):
        X, y = _draw_text(n, d, draws, n_classes, seed)
        mean_nnz = X.nnz / n
        if mean_nnz >= 0.95 * nnz_per_row:
            break
        draws = int(draws * nnz_per_row / mean_nnz) + 1
    return X, y


def _draw_text(n, d, draws_per_row, n_classes, seed):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    base = 1.0 / np.arange(1, d + 1) ** 1.1
    base /= base.sum()
    topics = rng.integers(0, d, size=(n_classes, 1000))  # each class favours 1000 words
    counts = rng.poisson(draws_per_row, n).clip(5, 4 * draws_per_row)
    indptr = np.concatenate(([0], np.cumsum(counts)))
    nnz = int(indptr[-1])
    cols = rng.choice(d, size=nnz, p=base)
    from_topic = rng.random(nnz) < 0.05
    row_of = np.repeat(np.arange(n), counts)
    cols[from_topic] = topics[y[row_of[from_topic]], rng.integers(0, 1000, from_topic.sum())]
    # idf-like weights: columns are ranked by frequency, so rarer words (higher rank)
    # weigh more, as log(n / document frequency) would make them
    vals = (0.5 + rng.random(nnz)) * np.log1p((1.0 + cols) ** 1.1 / 10.0)
    X = sp.csr_matrix((vals, cols.astype(np.int32), indptr), shape=(n, d))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / np.maximum(norms, 1e-12)) @ X
    return X.tocsr(), y


@contextlib.contextmanager
def timed_calls(cls, method):
    """Seconds spent in each call of ``cls.method`` inside the block (a list)."""
    spent = []
    original = getattr(cls, method)

    def wrapped(self, *a, **kw):
        t0 = time.perf_counter()
        try:
            return original(self, *a, **kw)
        finally:
            spent.append(time.perf_counter() - t0)

    setattr(cls, method, wrapped)
    try:
        yield spent
    finally:
        setattr(cls, method, original)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20000 x 20000")
    parser.add_argument("--rows", type=int, default=None)
    parser.add_argument("--cols", type=int, default=None)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="L-BFGS fits per estimator (default 3, 1 with --quick)",
    )
    parser.add_argument(
        "--sgd-only", action="store_true", help="only the SGD epoch table (no L-BFGS fits)"
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    n = args.rows or (20_000 if args.quick else 100_000)
    d = args.cols or (20_000 if args.quick else 50_000)

    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss

    X_all, y_all = text_like(n + n // 5, d)
    X, y, Xt, yt = X_all[:n], y_all[:n], X_all[n:], y_all[n:]
    SoftmaxClassifier(max_iter=2).fit(X[:200], y[:200])  # compile outside the timing
    SoftmaxClassifier(solver="sgd", max_iter=1, tol=None).fit(X[:200], y[:200])
    classes = np.unique(y)
    loss = SoftmaxLoss(X, np.searchsorted(classes, y), len(classes), C=args.C)

    makers = {
        "LogisticRegression": lambda: LogisticRegression(C=args.C, tol=1e-4, max_iter=1000),
        "SoftmaxClassifier": lambda: SoftmaxClassifier(C=args.C, tol=1e-4, max_iter=1000),
    }
    repeats = args.repeats or (1 if args.quick else 3)
    if args.sgd_only:
        repeats = 0
    times = {name: [] for name in makers}
    fits = {}
    for _ in range(repeats):  # interleaved, so that drift on a shared machine hits both
        for name, make in makers.items():
            t, fits[name] = best_fit_time(make, X, y, 1)
            times[name].append(t)
    rows = []
    if not args.sgd_only:
        rows = lbfgs_rows(makers, fits, times, loss, X, y, Xt, yt)
    epoch = {}
    for name, make in (
        (
            "SGDClassifier(log_loss)",
            lambda: SGDClassifier(loss="log_loss", max_iter=1, tol=None, random_state=0),
        ),
        (
            "SoftmaxClassifier(sgd)",
            lambda: SoftmaxClassifier(solver="sgd", max_iter=1, tol=None, random_state=0),
        ),
        (
            "SGDClassifier(log_loss, average=True)",
            lambda: SGDClassifier(
                loss="log_loss", max_iter=1, tol=None, random_state=0, average=True
            ),
        ),
        (
            "SoftmaxClassifier(sgd, average=True)",
            lambda: SoftmaxClassifier(
                solver="sgd", max_iter=1, tol=None, random_state=0, average=True
            ),
        ),
    ):
        best, est = best_fit_time(make, X, y, 3)
        epoch[name] = (best, est.score(Xt, yt))
    note = ""
    try:
        from sklearn.datasets import fetch_20newsgroups_vectorized

        fetch_20newsgroups_vectorized(subset="train", download_if_missing=False)
        note = "20newsgroups is cached here but not benchmarked in this version."
    except Exception as exc:  # no network, no cache
        note = f"20newsgroups: not available here ({type(exc).__name__}); synthetic data only."
    name = "sparse_text_quick" if args.quick else "sparse_text"
    if args.sgd_only:
        name += "_sgd"
    lbfgs = (
        []
        if args.sgd_only
        else [
            "## L-BFGS to tol=1e-4",
            "",
            f"Fit time: best of {repeats} interleaved fits. 'ms per evaluation' and 'outside the "
            "loss' come from one more fit each: the time inside the loss object's "
            "`loss_gradient` per call, and the rest of the fit (scipy's L-BFGS-B, validation).",
            "",
            markdown_table(
                [
                    "estimator",
                    "fit time (s)",
                    "iterations",
                    "loss+grad evals",
                    "ms per evaluation",
                    "outside the loss (s)",
                    "final objective",
                    "vs sklearn",
                    "held-out acc",
                    "time ratio",
                ],
                rows,
            ),
            "",
        ]
    )
    text = "\n".join(
        [
            "# sparse_text: CSR text-like data",
            "",
            f"- data: synthetic TF-IDF-like CSR {n} x {d} (+{n // 5} held-out rows), "
            f"{X.nnz / n:.0f} non-zeros per row, {len(classes)} classes, float64; C={args.C}",
            f"- {note}",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            *lbfgs,
            "## One SGD epoch (best of 3)",
            "",
            markdown_table(
                ["estimator", "one epoch (s)", "held-out acc after 1 epoch", "ratio"],
                [
                    [k, f"{t:.2f}", f"{a:.4f}", f"{t / epoch['SGDClassifier(log_loss)'][0]:.2f}"]
                    for k, (t, a) in epoch.items()
                ],
            ),
        ]
    )
    finish(name, text, args)


def lbfgs_rows(makers, fits, times, loss, X, y, Xt, yt):
    """The L-BFGS table's rows: best times, evaluations, time inside/outside the loss."""
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import effective_n_threads, kernel_threads

    best = {name: min(ts) for name, ts in times.items()}
    # One more fit each, not in the table's times: where the time goes.
    split = {}
    for name, cls in (("LogisticRegression", LinearModelLoss), ("SoftmaxClassifier", SoftmaxLoss)):
        with timed_calls(cls, "loss_gradient") as spent:
            t, _ = best_fit_time(makers[name], X, y, 1)
        split[name] = (t, len(spent), sum(spent))
    with kernel_threads(effective_n_threads(None)):
        f_sk = loss.loss(
            loss.pack(fits["LogisticRegression"].coef_, fits["LogisticRegression"].intercept_)
        )
        fs = {name: loss.loss(loss.pack(est.coef_, est.intercept_)) for name, est in fits.items()}
    rows = []
    for name, est in fits.items():
        f = fs[name]
        t, n_evals, in_loss = split[name]
        rows.append(
            [
                name,
                f"{best[name]:.2f}",
                int(est.n_iter_[0]),
                n_evals,
                f"{1e3 * in_loss / n_evals:.0f}",
                f"{t - in_loss:.2f}",
                f"{f:.8f}",
                f"{(f - f_sk) / f_sk:+.1e}",
                f"{est.score(Xt, yt):.4f}",
                f"{best[name] / best['LogisticRegression']:.2f}",
            ]
        )
    return rows


if __name__ == "__main__":
    main()
