"""Array API input on PyTorch: MNIST fits and one loss+gradient evaluation, SoftmaxClassifier
vs LogisticRegression on the same tensors, and vs our NumPy/numba path, in one run.

Under ``sklearn.config_context(array_api_dispatch=True)`` (with ``SCIPY_ARRAY_API=1``,
which this script sets before importing scipy): ``SoftmaxClassifier`` (the array API
backend, ``sk_softmax/_array_api.py``) and ``LogisticRegression(solver="lbfgs")`` fit the
same torch tensors on the same device (C=1, tol=1e-4, max_iter=1000), float64 and
float32; the NumPy/numba column is ``SoftmaxClassifier`` on the NumPy arrays (dispatch
off, all cores).  The table gives the best wall time of ``--repeats`` interleaved fits,
iterations, the final objective of each solution evaluated by one float64 function, test
accuracy, the largest difference of test probabilities from the numba fit, and the
ratios; then one loss+gradient evaluation on the same coefficients (ours:
``ArrayApiLoss.loss_gradient``, scikit-learn's: ``LinearModelLoss`` with
``HalfMultinomialLossArrayAPI``, as LogisticRegression calls it; both take and return
host arrays).  PyTorch's threads are its default (printed).

Usage::

    python benchmarks/array_api.py [--device cpu|cuda] [--quick] [--repeats 2]
                                   [--data-dir DIR] [--save | --out DIR]
"""

import os

os.environ.setdefault("SCIPY_ARRAY_API", "1")  # before scipy is imported

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    finish,
    load_data,
    machine_description,
    markdown_table,
)


def _timed(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        out = fn()
        return time.perf_counter() - t0, out


def _sync(torch, device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _objective(X64, y_enc, K, coef, intercept):
    """The objective at ``(coef, intercept)`` by one float64 function (SoftmaxLoss)."""
    from sk_softmax._loss import SoftmaxLoss

    loss = SoftmaxLoss(X64, y_enc, K, None, C=1.0)
    flat = loss.layout.pack(np.asarray(coef, dtype=np.float64), np.asarray(intercept))
    return loss.loss_gradient(flat)[0]


def fits(dtype, data, torch, device, repeats):
    """Best-of-``repeats`` fits of the three estimators (interleaved); a row per estimator."""
    from sklearn import config_context
    from sklearn.linear_model import LogisticRegression
    from sklearn.utils._array_api import move_to

    from sk_softmax import SoftmaxClassifier

    X64, y, Xt64, yt = data
    X, Xt = X64.astype(dtype), Xt64.astype(dtype)
    Xd, yd, Xtd = (torch.asarray(a, device=device) for a in (X, y, Xt))
    kw = {"C": 1.0, "tol": 1e-4, "max_iter": 1000}
    runs = {
        "LogisticRegression, torch": (lambda: LogisticRegression(**kw), True),
        "SoftmaxClassifier, torch": (lambda: SoftmaxClassifier(**kw), True),
        "SoftmaxClassifier, NumPy (numba)": (lambda: SoftmaxClassifier(**kw), False),
    }
    best = {name: (np.inf, None) for name in runs}
    for _ in range(repeats):
        for name, (make, on_device) in runs.items():

            def fit(make=make, on_device=on_device):
                est = make()
                if on_device:
                    with config_context(array_api_dispatch=True):
                        est.fit(Xd, yd)
                    _sync(torch, device)
                else:
                    est.fit(X, y)
                return est

            seconds, est = _timed(fit)
            if seconds < best[name][0]:
                best[name] = (seconds, est)
    classes, y_enc = np.unique(y, return_inverse=True)
    numba_proba = best["SoftmaxClassifier, NumPy (numba)"][1].predict_proba(Xt)
    rows = {}
    for name, (seconds, est) in best.items():
        on_device = runs[name][1]
        with config_context(array_api_dispatch=True):
            proba = est.predict_proba(Xtd if on_device else Xt)
            proba = move_to(proba, xp=np, device="cpu")
            coef = move_to(est.coef_, xp=np, device="cpu")
            intercept = move_to(est.intercept_, xp=np, device="cpu")
            n_iter = int(move_to(est.n_iter_, xp=np, device="cpu")[0])
        rows[name] = {
            "seconds": seconds,
            "n_iter": n_iter,
            "objective": _objective(X64, y_enc, classes.shape[0], coef, intercept),
            "accuracy": float(np.mean(classes[proba.argmax(1)] == yt)),
            "proba_diff": float(np.abs(proba - numba_proba).max()),
        }
    return rows


def evaluation(dtype, data, torch, device, repeats):
    """One loss+gradient evaluation on the same coefficients: ours on the tensors, scikit-
    learn's LinearModelLoss on the tensors, ours on NumPy; best of ``repeats`` calls."""
    from sklearn import config_context
    from sklearn._loss.loss import HalfMultinomialLossArrayAPI
    from sklearn.linear_model._linear_loss import LinearModelLoss
    from sklearn.utils._array_api import get_namespace_and_device

    from sk_softmax._array_api import ArrayApiLoss
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import kernel_threads

    X64, y, _, _ = data
    X = X64.astype(dtype)
    classes, y_enc = np.unique(y, return_inverse=True)
    K, d = classes.shape[0], X.shape[1]
    coef = 0.01 * np.random.default_rng(0).standard_normal((K, d + 1))
    l2 = 1.0 / X.shape[0]
    Xd = torch.asarray(X, device=device)

    def best(fn):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            _sync(torch, device)
            times.append(time.perf_counter() - t0)
        return min(times)

    with config_context(array_api_dispatch=True):
        xp, _, dev = get_namespace_and_device(Xd)
        ours = ArrayApiLoss(Xd, y_enc, K, None, C=1.0)
        t_ours = best(lambda: ours.loss_gradient(coef.ravel()))
        sk = LinearModelLoss(
            base_loss=HalfMultinomialLossArrayAPI(n_classes=K, xp=xp, device=dev),
            fit_intercept=True,
        )
        yd = xp.asarray(y_enc, dtype=Xd.dtype, device=dev)
        sk_coef = coef.astype(dtype).ravel(order="F")
        t_sk = best(lambda: sk.loss_gradient(sk_coef, Xd, yd, None, l2, n_threads=1))
    with kernel_threads(os.cpu_count()):
        numba = SoftmaxLoss(np.ascontiguousarray(X), y_enc, K, None, C=1.0)
        t_numba = best(lambda: numba.loss_gradient(coef.ravel()))
    return t_sk, t_ours, t_numba


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="10000 rows, one fit each")
    parser.add_argument("--repeats", type=int, default=None, help="fits each (default 2)")
    add_output_options(parser)
    args = parser.parse_args(argv)
    import torch

    device = torch.device(args.device)
    repeats = args.repeats or (1 if args.quick else 2)
    X, y, Xt, yt, desc = load_data(args.data_dir, args.quick)
    data = (X, y, Xt, yt)
    load_start = os.getloadavg()
    fit_rows, eval_rows = [], []
    for dtype in ("float64", "float32"):
        rows = fits(dtype, data, torch, device, repeats)
        lr = rows["LogisticRegression, torch"]["seconds"]
        for name, r in rows.items():
            fit_rows.append(
                [
                    dtype,
                    name,
                    f"{r['seconds']:.2f}",
                    f"**{r['seconds'] / lr:.2f}**",
                    r["n_iter"],
                    f"{r['objective']:.8f}",
                    f"{r['accuracy']:.4f}",
                    f"{r['proba_diff']:.1e}",
                ]
            )
        t_sk, t_ours, t_numba = evaluation(dtype, data, torch, device, 5 if args.quick else 10)
        eval_rows.append(
            [
                dtype,
                f"{t_sk * 1e3:.1f}",
                f"{t_ours * 1e3:.1f}",
                f"**{t_ours / t_sk:.2f}**",
                f"{t_numba * 1e3:.1f}",
                f"{t_numba / t_sk:.2f}",
            ]
        )
    fit_header = [
        "dtype",
        "estimator, input",
        "fit (s)",
        "time / LogisticRegression's",
        "iterations",
        "objective (float64)",
        "test accuracy",
        "max |P - P_numba| (test)",
    ]
    eval_header = [
        "dtype",
        "LinearModelLoss, torch (ms)",
        "ArrayApiLoss, torch (ms)",
        "ours / scikit-learn's",
        "SoftmaxLoss, NumPy/numba (ms)",
        "numba / scikit-learn's",
    ]
    text = "\n".join(
        [
            "# array_api: SoftmaxClassifier on PyTorch tensors (array API dispatch)",
            "",
            f"- data: {desc}: {X.shape[0]} x {X.shape[1]} (test {Xt.shape[0]} rows)",
            f"- device: torch {torch.__version__} on {device} "
            f"({torch.get_num_threads()} intra-op threads); numba path with all cores",
            f"- fits: C=1, tol=1e-4, max_iter=1000, best of {repeats} interleaved fits",
            f"- machine: {machine_description()}",
            f"- load average at start {load_start[0]:.2f}, at end {os.getloadavg()[0]:.2f}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            "## Fits",
            "",
            markdown_table(fit_header, fit_rows),
            "",
            "## One loss+gradient evaluation (same coefficients; host arrays in and out)",
            "",
            markdown_table(eval_header, eval_rows),
        ]
    )
    finish("array_api_quick" if args.quick else "array_api", text, args)


if __name__ == "__main__":
    main()
