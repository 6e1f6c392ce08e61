"""Fit SoftmaxClassifier and LogisticRegression on MNIST and compare (the README's main job).

Both estimators minimise the same objective (same C, tol, max_iter, data, dtype).  The
table reports wall time, iterations, loss+gradient evaluations (counted on both sides),
the final objective of each solution evaluated by the same float64 code, accuracies, the
time ratio, and the time SoftmaxClassifier took to first reach LogisticRegression's final
objective; it ends with one sentence per dtype saying how SoftmaxClassifier's time to that
objective compares with LogisticRegression's.  A PNG of objective vs wall time is written
next to the table, into a new temporary directory (printed at the end), ``--out DIR``, or
with ``--save`` into ``benchmarks/results/`` (the tracked results the README shows).

Two modes (benchmarks/README.md says how long each takes):

- default (lean, about 2 minutes of fits on a 2-core machine): one fit per estimator and
  dtype.  The time to LogisticRegression's objective is read from the objective values the
  solver computed anyway (checked in float64 at the point found); when SoftmaxClassifier
  stopped above that objective, a ``--tight-tol`` fit is run until it passes it and no
  further.  Writes ``fit_mnist_lean.md``.
- ``--full``: best of ``--repeats`` (default 3) fits, the ``--tight-tol`` fit run to its
  end, and every evaluated point of every fit re-scored in float64 (all threads) for the
  convergence plot.  Writes ``fit_mnist.md``.

Every phase shows progress: a live count of loss+gradient evaluations during each fit,
a bar while scoring.

Usage::

    python benchmarks/fit_mnist.py [--full] [--quick] [--data-dir DIR] [--save | --out DIR]
"""

import argparse
import os
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    load_data,
    machine_description,
    markdown_table,
    output_dir,
    progress,
    save_figure,
)

# A point "reaches" LogisticRegression's objective f_sk when its float64 objective is at
# most f_sk * (1 + REACH_RTOL).  The lean run stops the tight fit when the solver's own
# value passes f_sk * (1 + REACH_RTOL / 2): the solver's float32 evaluation may differ from
# the float64 one by about 1e-7 relative, and the margin keeps the float64 check passing.
REACH_RTOL = 1e-6


class Objective:
    """float64 objective (scikit-learn's scaling) of flat coefficient vectors, evaluated
    with the thread settings an estimator call uses (all threads)."""

    def __init__(self, X, y, classes, C):
        from sk_softmax._loss import SoftmaxLoss

        self._loss = SoftmaxLoss(
            np.asarray(X, np.float64),
            np.searchsorted(classes, y),
            len(classes),
            C=C,
            fit_intercept=True,
        )
        self.pack = self._loss.pack

    def loss(self, coef):
        from sk_softmax._threading import effective_n_threads, kernel_threads

        with kernel_threads(effective_n_threads(None)):
            return self._loss.loss(coef)


def make_objective(X, y, classes, C):
    """The :class:`Objective` of the data."""
    return Objective(X, y, classes, C)


class _Reached(Exception):
    """Raised from the traced loss to end a fit once it has passed a target objective."""


class Trace:
    """Record every ``loss_gradient`` call of a loss class made while active.

    Each call appends ``(seconds since start, copy of coef, objective value the solver
    got)`` and advances a live progress counter.  With ``stop_below``, the call whose
    value is at most ``stop_below`` is recorded and then ends the fit (``_Reached``).
    """

    def __init__(self, cls, label, stop_below=None):
        self.cls, self.label, self.stop_below = cls, label, stop_below
        self.calls = []

    def __enter__(self):
        self._original = original = self.cls.loss_gradient
        self._bar = _counter(self.label)
        self._t0 = time.perf_counter()

        def traced(est_loss, coef, *args, **kwargs):
            out = original(est_loss, coef, *args, **kwargs)
            self.calls.append(
                (time.perf_counter() - self._t0, np.array(coef, copy=True), float(out[0]))
            )
            self._bar.update()
            if self.stop_below is not None and out[0] <= self.stop_below:
                raise _Reached
            return out

        self.cls.loss_gradient = traced
        return self

    def __exit__(self, *exc):
        self.cls.loss_gradient = self._original
        self._bar.close()
        return False


def _counter(label):
    """A live count of evaluations (tqdm when installed, else one printed line)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        print(f"  {label} ...", flush=True)

        class _Plain:
            def update(self):
                pass

            def close(self):
                pass

        return _Plain()
    return tqdm(desc=f"  {label}", unit=" evals", file=sys.stderr, leave=False, mininterval=0.5)


def say(text):
    """A progress line (on stderr, with the time), so that no phase is silent."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def run(make, X, y, repeats, loss_cls, label, stop_below=None):
    """Best-of-``repeats`` fit: ``(estimator, seconds, trace, warnings, stopped)``;
    ``stopped`` is true when the fit was ended at ``stop_below``."""
    best = None
    for r in range(repeats):
        est = make()
        tag = f"{label} (fit {r + 1}/{repeats})" if repeats > 1 else label
        stopped = False
        with (
            warnings.catch_warnings(record=True) as caught,
            Trace(loss_cls, tag, stop_below) as trace,
        ):
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            try:
                est.fit(X, y)
            except _Reached:
                stopped = True
            elapsed = time.perf_counter() - t0
        say(
            f"{tag}: {elapsed:.1f} s, {len(trace.calls)} evaluations"
            + (" (stopped on reaching LogisticRegression's objective)" if stopped else "")
        )
        if best is None or elapsed < best[1]:
            best = (
                est,
                elapsed,
                trace.calls,
                [str(w.message).split("\n")[0] for w in caught],
                stopped,
            )
    return best


def first_reach(trace, layout, loss64, target, scored=None):
    """Index of the first traced point whose float64 objective is <= ``target``, or None.

    ``scored``: the float64 objective of every point (the full run).  Otherwise the
    solver's own values pick the candidates (those within twice the float32 rounding
    margin of ``target``) and only those are scored in float64, in order, until one
    passes: a few evaluations instead of hundreds.
    """
    if scored is not None:
        hits = np.flatnonzero(scored <= target)
        return int(hits[0]) if hits.size else None
    own = np.array([f for _, _, f in trace])
    for i in np.flatnonzero(own <= target * (1 + REACH_RTOL))[:20]:
        if loss64.loss(layout(trace[i][1])) <= target:
            return int(i)
    return None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--full",
        action="store_true",
        help="best of --repeats fits, the tight fit to its end and every "
        "evaluated point scored in float64 (fit_mnist.md)",
    )
    parser.add_argument("--data-dir", help="folder with the MNIST IDX files")
    parser.add_argument("--quick", action="store_true", help="10000 training rows")
    parser.add_argument("--dtype", nargs="+", default=["float64", "float32"])
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="fits per estimator, best time kept (default 1, --full: 3)",
    )
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--tight-tol",
        type=float,
        default=1e-6,
        help="tol of the SoftmaxClassifier fit that times when it reaches "
        "LogisticRegression's objective (0 to skip)",
    )
    add_output_options(parser)
    args = parser.parse_args(argv)
    repeats = args.repeats or (3 if args.full else 1)
    t_start = time.perf_counter()
    load_start = _load_average()
    mode = "full" if args.full else "lean (default; --full for the best-of-3 run)"
    say(f"fit_mnist, {mode}: loading scikit-learn and sk_softmax")

    from sklearn.linear_model import LogisticRegression
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import SoftmaxLoss

    say("loading the data")
    X, y, Xt, yt, desc = load_data(args.data_dir, args.quick)
    say(f"{desc}: {X.shape[0]} x {X.shape[1]} train, {Xt.shape[0]} test")
    classes = np.unique(y)
    K, d = len(classes), X.shape[1]
    loss64 = make_objective(X, y, classes, args.C)
    # compile the kernels outside the timed region (a cold numba cache costs seconds)
    say("compiling the numba kernels (seconds on first use; cached afterwards)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for dt in args.dtype:
            SoftmaxClassifier(max_iter=2).fit(X[:300].astype(dt), y[:300])
        loss64.loss(np.zeros(K * (d + 1)))

    def sk_layout(coef):  # scikit-learn's multinomial vector is (K, d + 1) raveled in F order
        return np.asarray(coef, np.float64).reshape((K, d + 1), order="F").ravel()

    def our_layout(coef):
        return np.asarray(coef, np.float64)

    def score(est):
        return loss64.loss(loss64.pack(est.coef_, est.intercept_))

    common = dict(C=args.C, tol=args.tol, max_iter=args.max_iter)
    tight = f"SoftmaxClassifier tol={args.tight_tol:g}"
    names = ["LogisticRegression", "SoftmaxClassifier"]
    n_fits = len(args.dtype) * (len(names) * repeats + (args.full and args.tight_tol > 0))
    say(
        f"fitting: {n_fits} fit(s)"
        + (
            ""
            if args.full
            else ", plus a tight-tol fit where SoftmaxClassifier stops above LogisticRegression"
        )
    )
    results, f_sk = {}, {}
    for dt in args.dtype:
        Xd = X.astype(dt)
        results[dt, names[0]] = run(
            partial(LogisticRegression, **common),
            Xd,
            y,
            repeats,
            LinearModelLoss,
            f"LogisticRegression {dt}",
        )
        f_sk[dt] = score(results[dt, names[0]][0])
        results[dt, names[1]] = run(
            partial(SoftmaxClassifier, **common),
            Xd,
            y,
            repeats,
            SoftmaxLoss,
            f"SoftmaxClassifier {dt}",
        )
        if args.tight_tol <= 0:
            continue
        ours_reached = score(results[dt, names[1]][0]) <= f_sk[dt] * (1 + REACH_RTOL)
        if args.full or not ours_reached:
            stop = None if args.full else f_sk[dt] * (1 + REACH_RTOL / 2)
            results[dt, tight] = run(
                partial(SoftmaxClassifier, **{**common, "tol": args.tight_tol}),
                Xd,
                y,
                1,
                SoftmaxLoss,
                f"{tight} {dt}",
                stop_below=stop,
            )

    scored = {}
    if args.full:
        n_points = sum(len(r[2]) for r in results.values())
        say(f"scoring all {n_points} evaluated points in float64 (all threads)")
        bar = progress(range(n_points), desc="scoring")
        it = iter(bar)
        for key, (_, _, trace, _, _) in results.items():
            layout = sk_layout if key[1] == "LogisticRegression" else our_layout
            vals = []
            for _, coef, _ in trace:
                vals.append(loss64.loss(layout(coef)))
                next(it, None)
            scored[key] = np.array(vals)
        getattr(bar, "close", lambda: None)()
    else:
        say("scoring the final models in float64")

    rows, curves, summary = [], {}, []
    for dt in args.dtype:
        reached, default_fit = None, None
        t_sk = results[dt, names[0]][1]
        target = f_sk[dt] * (1 + REACH_RTOL)
        # where the tight fit exists, the time to reach comes from it (it continues the
        # default fit's iterates); else from the default fit (--full: from every fit)
        reach_key = (dt, tight) if (dt, tight) in results else (dt, names[1])
        for key in [k for k in results if k[0] == dt]:
            name = key[1]
            layout = sk_layout if name == "LogisticRegression" else our_layout
            est, elapsed, trace, warns, stopped = results[key]
            times = np.array([t for t, _, _ in trace])
            values = scored.get(key, np.array([f for _, _, f in trace]))
            curves[key] = (times, np.minimum.accumulate(values))
            f = score(est) if not stopped else None
            if name == "LogisticRegression":
                t_reach = f"{t_sk:.2f} (1.00x)"
            elif key == reach_key or key in scored:
                i = first_reach(trace, layout, loss64, target, scored.get(key))
                t_reach = (
                    f"{times[i]:.2f} ({times[i] / t_sk:.2f}x)" if i is not None else "not reached"
                )
                if key == reach_key and i is not None:
                    reached = times[i]
            else:
                t_reach = "see next row"
            if key == (dt, names[1]):
                default_fit = (elapsed, (f - f_sk[dt]) / f_sk[dt])
            if stopped:
                rows.append(
                    [
                        name,
                        dt,
                        f"stopped at {elapsed:.2f}",
                        "-",
                        len(trace),
                        "-",
                        "-",
                        "-",
                        "-",
                        "-",
                        t_reach,
                    ]
                )
            else:
                rows.append(
                    [
                        name,
                        dt,
                        f"{elapsed:.2f}",
                        int(np.ravel(est.n_iter_)[0]),
                        len(trace),
                        f"{f:.10f}",
                        f"{(f - f_sk[dt]) / f_sk[dt]:+.1e}",
                        f"{est.score(X.astype(dt), y):.4f}",
                        f"{est.score(Xt.astype(dt), yt):.4f}",
                        f"{elapsed / t_sk:.2f}",
                        t_reach,
                    ]
                )
            for w in warns:
                print(f"[{name} {dt}] warning: {w}", file=sys.stderr)
        summary.append(verdict(dt, t_sk, reached, *default_fit, args.tol))
    header = [
        "estimator",
        "dtype",
        "fit time (s)",
        "iterations",
        "loss+grad evals",
        "final objective",
        "objective vs LogisticRegression's (relative)",
        "train acc",
        "test acc",
        "time, ours / scikit-learn's",
        "time to LogisticRegression's objective (s, ours / scikit-learn's)",
    ]
    name = "fit_mnist" if args.full else "fit_mnist_lean"
    if args.quick:
        name += "_quick"
    how = (
        f"best of {repeats} fit(s), every evaluated point scored in float64"
        if args.full
        else f"{repeats} fit per estimator and dtype (lean default; --full for best of 3); "
        "the tight fit, when needed, stops once it passes LogisticRegression's "
        "objective"
    )
    text = "\n".join(
        [
            "# fit_mnist: SoftmaxClassifier vs LogisticRegression (lbfgs)",
            "",
            f"- data: {desc}: {X.shape[0]} x {d} train, {Xt.shape[0]} test, {K} classes",
            f"- C={args.C}, tol={args.tol}, max_iter={args.max_iter}; {how}; objective = mean "
            "cross-entropy + ||W||^2 / (2 C n), evaluated in float64 for both",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}; this run took "
            f"{time.perf_counter() - t_start:.0f} s (after the install); load average (1 min) "
            f"at its start and end: {load_start} and {_load_average()} (above 0 when other "
            "processes share the cores: they slow both estimators, LogisticRegression's BLAS "
            "threads more)",
            "",
            markdown_table(header, rows),
        ]
    )
    png = None
    if not args.no_plot:
        say("plotting")
        png = plot(
            curves,
            output_dir(args) / f"{name}.png",
            desc,
            "float64 objective" if args.full else "objective as each solver computed it",
        )
        text += f"\n\n![objective vs wall time]({png.name})"
    text += "\n\n" + "\n".join(f"- {line}" for line in summary)
    finish(name, text, args, figures=[png])


def verdict(dtype, t_sk, t_reach, t_fit, rel_objective, tol):
    """One plain sentence: how long SoftmaxClassifier took to reach LogisticRegression's
    objective, as a fraction of LogisticRegression's time, and where its own fit stopped."""

    def faster(ratio):
        return (
            f"{1 / ratio:.1f}x faster"
            if ratio < 1
            else "the same time"
            if ratio == 1
            else f"{ratio:.1f}x slower"
        )

    stop = f"at tol={tol:g} it stopped after {t_fit / t_sk:.2f}x LogisticRegression's time, " + (
        f"at an objective {abs(rel_objective):.1e} "
        f"{'higher' if rel_objective > 0 else 'lower'} (relative)"
        if rel_objective
        else "at the same objective"
    )
    if t_reach is None:
        return (
            f"On {dtype}, SoftmaxClassifier did not reach LogisticRegression's objective "
            f"in this run; {stop}."
        )
    ratio = t_reach / t_sk
    return (
        f"On {dtype}, SoftmaxClassifier reached LogisticRegression's objective in "
        f"{ratio:.2f}x its time ({faster(ratio)}: {t_reach:.2f} s vs {t_sk:.2f} s); "
        f"{stop}."
    )


def _load_average():
    """The 1-minute load average, or "n/a" where the OS has none."""
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (AttributeError, OSError):
        return "n/a"


def plot(curves, path, desc, what):
    """Objective (best so far) vs wall time for every (dtype, estimator)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    f_min = min(c[1].min() for c in curves.values())
    for (dt, name), (times, best) in curves.items():
        style = "-" if name == "SoftmaxClassifier" else (":" if "tol=" in name else "--")
        ax.semilogy(times, best - f_min + 1e-7, style, label=f"{name} {dt}")
    ax.set_xlabel("wall time (s)")
    ax.set_ylabel(f"{what} - lowest seen (+1e-7)")
    ax.set_title(f"Convergence on {desc.split(':')[0]}", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


if __name__ == "__main__":
    main()
