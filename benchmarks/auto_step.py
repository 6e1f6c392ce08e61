"""eta0="auto" on unscaled data: does the 2/L_b step diverge or stall, and does a margin help?

``SoftmaxClassifier(solver="sgd")`` sets ``eta0="auto"`` to ``2 / L_b`` (``L_b`` an
estimate of the expected smoothness of minibatch gradients from a short power iteration
on a subsample), gradient descent's stability limit.  This benchmark multiplies that step
by ``m`` (by wrapping ``sk_softmax._solvers._sgd.auto_eta0``): 1 (the default), 0.5 and
0.25, and, to probe the distance to divergence, 2 and 4.  For each ``m``, dataset and
seed, with all other parameters at their defaults:

* ``SoftmaxClassifier(solver="sgd", random_state=s, max_iter=50, tol=1e-4)``: whether the
  divergence guard fired (a ``UserWarning`` containing "diverged"), whether a
  ``ValueError`` was raised, the epochs run, the wall time of the fit and the final
  objective relative to the optimum, ``(f - f*) / f*``;
* the same with ``max_iter=5, tol=None``: ``(f - f*) / f*`` after 5 epochs (speed of
  progress).

``f`` is the training objective (mean cross-entropy + ||W||^2 / (2 C n), C=1) evaluated in
float64 by ``sk_softmax._loss.SoftmaxLoss``; ``f*`` is the lowest objective of
``SoftmaxClassifier(solver="lbfgs", tol=1e-8, max_iter=5000)``, of scikit-learn's
``LogisticRegression(solver="newton-cholesky")`` on dense data (L-BFGS stalls on badly
scaled columns) and of the best SGD fit.  Datasets: wine, breast_cancer,
make_classification with column scales 1e-3..1e3, synthetic tf-idf (CSR) and raw term
counts (CSR), unscaled, and the same data scaled (StandardScaler; MaxAbsScaler for the
CSR ones).  No downloads.

Usage::

    python benchmarks/auto_step.py [--quick]
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
    machine_description,
    markdown_table,
    progress,
)

MULTIPLIERS = (1.0, 0.5, 0.25)
PROBE = (2.0, 4.0)  # above the default: how far is the step from divergence?


# -- data ---------------------------------------------------------------------------------
def synthetic_text(n_docs=3000, vocab=5000, n_classes=5, mean_len=80, seed=0):
    """Random "documents": words drawn from a Zipf-like vocabulary, per-class tilted.

    Returns ``(documents, labels)``; each class's word probabilities are the shared Zipf
    ones times ``exp(0.5 * N(0, 1))`` per word (renormalised), so the classes differ a bit.
    """
    rng = np.random.default_rng(seed)
    base = 1.0 / (np.arange(vocab) + 2.7) ** 1.1
    probs = []
    for _ in range(n_classes):
        p = base * np.exp(0.5 * rng.standard_normal(vocab))
        probs.append(p / p.sum())
    y = rng.integers(0, n_classes, n_docs)
    lengths = np.maximum(5, rng.poisson(mean_len, n_docs))
    words = np.array([f"w{j}" for j in range(vocab)])
    docs = [" ".join(words[rng.choice(vocab, size=k, p=probs[c])]) for k, c in zip(lengths, y)]
    return docs, y


def datasets():
    """``[(name, X, y)]``: each dataset unscaled, then scaled."""
    from sklearn.datasets import load_breast_cancer, load_wine, make_classification
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.preprocessing import MaxAbsScaler, StandardScaler

    out = []
    for name, loader in [("wine", load_wine), ("breast_cancer", load_breast_cancer)]:
        X, y = loader(return_X_y=True)
        out.append((name, np.ascontiguousarray(X, dtype=np.float64), y))
    X, y = make_classification(
        n_samples=5000, n_features=20, n_informative=10, n_classes=4, random_state=0
    )
    X = X * 10.0 ** (-3 + 6 * np.arange(20) / 19)
    out.append(("make_classification, col scales 1e-3..1e3", np.ascontiguousarray(X), y))
    scaled = [
        (f"{name} + StandardScaler", StandardScaler().fit_transform(X), y) for name, X, y in out
    ]
    docs, y = synthetic_text()
    tfidf = TfidfVectorizer().fit_transform(docs).tocsr().astype(np.float64)
    counts = CountVectorizer().fit_transform(docs).tocsr().astype(np.float64)
    out.append(("tf-idf (CSR, l2 rows)", tfidf, y))
    out.append(("term counts (CSR)", counts, y))
    scaled.append(("tf-idf (CSR) + MaxAbsScaler", MaxAbsScaler().fit_transform(tfidf), y))
    scaled.append(("term counts (CSR) + MaxAbsScaler", MaxAbsScaler().fit_transform(counts), y))
    return out + scaled


# -- measurement ---------------------------------------------------------------------------
def objective(est, X, y):
    """The float64 training objective (C=1) of a fitted estimator."""
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import effective_n_threads, kernel_threads

    X64 = X.astype(np.float64) if X.dtype != np.float64 else X
    y_enc = np.searchsorted(est.classes_, y)
    with kernel_threads(effective_n_threads(None)):
        loss = SoftmaxLoss(X64, y_enc, len(est.classes_), C=1.0)
        return float(loss.loss(loss.pack(est.coef_, est.intercept_)))


class step_multiplier:
    """Context: ``eta0="auto"`` returns its step times ``m``; records the steps used."""

    def __init__(self, m):
        self.m = m
        self.steps = []

    def __enter__(self):
        from sk_softmax._solvers import _sgd

        self._module, self._original = _sgd, _sgd.auto_eta0

        def wrapped(*args, **kwargs):
            eta0, ratio = self._original(*args, **kwargs)
            self.steps.append(eta0 * self.m)
            return eta0 * self.m, ratio

        _sgd.auto_eta0 = wrapped
        return self

    def __exit__(self, *exc):
        self._module.auto_eta0 = self._original
        return False


def sgd_fit(X, y, m, seed, **params):
    """One SGD fit with the auto step times ``m``: a dict of what happened."""
    from sk_softmax import SoftmaxClassifier

    est = SoftmaxClassifier(solver="sgd", random_state=seed, **params)
    rec = {
        "guard": False,
        "error": False,
        "epochs": None,
        "obj": np.nan,
        "time": np.nan,
        "eta0": np.nan,
    }
    with step_multiplier(m) as sm, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        try:
            est.fit(X, y)
        except ValueError:
            rec["error"] = True
        rec["time"] = time.perf_counter() - t0
    rec["eta0"] = sm.steps[0] if sm.steps else np.nan
    rec["guard"] = any(
        issubclass(w.category, UserWarning) and "diverged" in str(w.message) for w in caught
    )
    if not rec["error"]:
        rec["epochs"] = int(est.n_iter_[0])
        finite = np.all(np.isfinite(est.coef_)) and np.all(np.isfinite(est.intercept_))
        rec["obj"] = objective(est, X, y) if finite else np.inf
    return rec


def optimum(X, y):
    """L-BFGS reference: (objective, iterations, converged)."""
    from sklearn.exceptions import ConvergenceWarning

    from sk_softmax import SoftmaxClassifier

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est = SoftmaxClassifier(solver="lbfgs", tol=1e-8, max_iter=5000).fit(X, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return objective(est, X, y), int(np.max(est.n_iter_)), converged


def newton_optimum(X, y):
    """scikit-learn's Newton solver (same objective at C=1), dense data only: its
    objective by our float64 code, or NaN.  L-BFGS stalls on badly scaled columns."""
    import scipy.sparse as sp
    from sklearn.linear_model import LogisticRegression

    if sp.issparse(X):  # a (K d)^2 Hessian: too big for the text data
        return np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = LogisticRegression(solver="newton-cholesky", C=1.0, tol=1e-10, max_iter=1000).fit(
            X, y
        )
    return objective(est, X, y)


# -- formatting ----------------------------------------------------------------------------
def fmt_gap(values):
    """Median and max of relative gaps over seeds: 'med (max)'."""
    v = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(v)):
        return f"{int(np.sum(~np.isfinite(v)))}x non-finite"
    med, mx = np.median(v), np.max(v)
    return f"{med:.1e} ({mx:.1e})" if len(v) > 1 else f"{med:.1e}"


def fmt_range(values, spec="d"):
    v = [x for x in values if x is not None]
    if not v:
        return "-"
    lo, hi = min(v), max(v)
    return f"{lo:{spec}}" if lo == hi else f"{lo:{spec}}-{hi:{spec}}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one seed instead of three")
    add_output_options(parser)
    args = parser.parse_args(argv)
    seeds = [0] if args.quick else [0, 1, 2]

    from sk_softmax import SoftmaxClassifier

    data = datasets()
    with warnings.catch_warnings():  # compile the kernels (dense and CSR) outside timing
        warnings.simplefilter("ignore")
        for _, X, y in (data[0], data[3]):
            SoftmaxClassifier(solver="sgd", max_iter=1, tol=None).fit(X[:200], y[:200])

    rows, refs = [], []
    for name, X, y in progress(data, desc="datasets"):
        f_lbfgs, it, conv = optimum(X, y)
        f_newton = newton_optimum(X, y)
        fits = {}
        for m in MULTIPLIERS + PROBE:
            fits[m] = [
                (
                    sgd_fit(X, y, m, s, max_iter=50, tol=1e-4),
                    sgd_fit(X, y, m, s, max_iter=5, tol=None),
                )
                for s in seeds
            ]
        best_sgd = min(
            r["obj"]
            for runs in fits.values()
            for pair in runs
            for r in pair
            if np.isfinite(r["obj"])
        )
        f_opt = np.nanmin([f_lbfgs, f_newton, best_sgd])
        refs.append(
            [
                name,
                f"{X.shape[0]} x {X.shape[1]}",
                len(np.unique(y)),
                f"{f_opt:.8g}",
                f"{(f_lbfgs - f_opt) / f_opt:.1e}",
                it,
                "yes" if conv else "no",
                "-" if np.isnan(f_newton) else f"{(f_newton - f_opt) / f_opt:.1e}",
                f"{(best_sgd - f_opt) / f_opt:.1e}",
            ]
        )
        for m in MULTIPLIERS + PROBE:
            full = [a for a, _ in fits[m]]
            five = [b for _, b in fits[m]]
            n = len(seeds)
            rows.append(
                [
                    name,
                    f"{m:g}" + (" (probe)" if m in PROBE else ""),
                    f"{np.median([r['eta0'] for r in full]):.3g}",
                    f"{sum(r['guard'] for r in full)}/{n}, {sum(r['guard'] for r in five)}/{n}",
                    f"{sum(r['error'] for r in full + five)}/{2 * n}",
                    fmt_range([r["epochs"] for r in full]),
                    fmt_gap([(r["obj"] - f_opt) / f_opt for r in full]),
                    fmt_gap([(r["obj"] - f_opt) / f_opt for r in five]),
                    f"{np.median([r['time'] for r in full]):.3f}",
                ]
            )
            print(" | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)

    name = "auto_step_quick" if args.quick else "auto_step"
    text = "\n".join(
        [
            "# auto_step: eta0='auto' (2/L_b) times m, on unscaled and scaled data",
            "",
            "- fit: `SoftmaxClassifier(solver='sgd', random_state=s, max_iter=50, tol=1e-4)`, "
            "other parameters default (batch_size=128, learning_rate='adaptive', C=1); the "
            "auto step multiplied by m by wrapping `sk_softmax._solvers._sgd.auto_eta0`; "
            f"seeds s in {seeds}; float64",
            "- m = 2 and 4 (probe): steps above the default, to see how far it is from divergence",
            "- 5 epochs: the same with `max_iter=5, tol=None` (the step stays eta0: no "
            "reductions without tol)",
            "- gap: (f - f*) / f*, f the float64 training objective (mean cross-entropy + "
            "||W||^2 / (2 C n)) of the fitted coef_/intercept_, f* the lowest of L-BFGS "
            "(`solver='lbfgs', tol=1e-8, max_iter=5000`), scikit-learn's "
            "`LogisticRegression(solver='newton-cholesky', C=1, tol=1e-10)` (dense data only; "
            "same objective, evaluated by the same code) and the best SGD fit; shown as median "
            "(max) over seeds",
            "- guard: fits in which the divergence guard's UserWarning ('diverged') fired "
            "(max_iter=50 fits, 5-epoch fits); ValueError: fits that raised (both kinds)",
            "- eta0: the step used (auto step times m; median over seeds), before any "
            "reduction by the guard or the adaptive schedule; fit time: median over seeds, "
            "max_iter=50 fits",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(
                [
                    "dataset",
                    "m",
                    "eta0",
                    "guard fired",
                    "ValueError",
                    "epochs",
                    "gap after fit",
                    "gap after 5 epochs",
                    "fit time (s)",
                ],
                rows,
            ),
            "",
            "Reference optima:",
            "",
            markdown_table(
                [
                    "dataset",
                    "shape",
                    "classes",
                    "f*",
                    "L-BFGS gap",
                    "L-BFGS iterations",
                    "L-BFGS converged",
                    "Newton gap",
                    "best SGD gap",
                ],
                refs,
            ),
        ]
    )
    finish(name, text, args)


if __name__ == "__main__":
    main()
