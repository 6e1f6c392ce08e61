"""One dense evaluation's two products: BLAS against the package's register-blocked kernels.

The dense kernel (``sk_softmax/_kernels/_dense.py``) runs two products per row block: the
logits ``X_b @ W.T`` and the gradient product ``R_b.T @ X_b``, with the package's own
register-blocked numba kernels (``_kernels/_products.py``, on 256-bit vectors).  Until
2026-12-05 both were BLAS ``gemm`` calls; with OpenBLAS's AVX2 kernels (what it runs on AMD
Zen; emulate them on an Intel machine with ``OPENBLAS_CORETYPE=Haswell`` and numba's code
with ``NUMBA_CPU_NAME=haswell``) one evaluation was about 0.9x scikit-learn's, against a
goal of 0.6x (issue 30).  This measures, on one thread, MNIST's shape (60000 x 784, 10
classes), float64, best of ``--repeats``:

* scikit-learn's evaluation (``LinearModelLoss.loss_gradient``) and ours (as shipped);
* each product alone over all rows, in the shipped kernel's row blocks: BLAS (numba's
  ``np.dot`` on the blocks) against ``logits_block`` / ``grad_block``;
* the whole evaluation with BLAS products on 63-row blocks (the kernel before the change,
  its block size then) against the same body with the shipped products;
* MNIST stored as CSR through the CSR kernel (19 % of its entries are non-zero).

BLAS is held at one thread through ``OPENBLAS_NUM_THREADS=1`` set below, before NumPy
loads: a ``threadpool_limits(1)`` entered before numba first compiles ``np.dot`` would miss
the OpenBLAS behind ``scipy.linalg.cython_blas``, which numba loads then, and the "one
thread" BLAS products would run on all cores.

Usage::

    OPENBLAS_CORETYPE=Haswell NUMBA_CPU_NAME=haswell python benchmarks/products.py
    python benchmarks/products.py   # the machine's own kernels

The results go to ``products_haswell.md`` and ``products.md``.
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (  # noqa: E402
    add_output_options,
    best_time,
    finish,
    load_data,
    machine_description,
    markdown_table,
)


def _kernels():
    from numba import njit

    from sk_softmax._kernels._dense import add2, fill1, fill2, softmax_grad_row
    from sk_softmax._kernels._products import grad_block, logits_block

    @njit
    def logits_blas(X, WT, Z, bs):
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            np.dot(X[lo:hi], WT, Z[lo:hi])

    @njit
    def logits_ours(X, WTp, Z, bs):
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            logits_block(X[lo:hi], WTp, Z[lo:hi])

    @njit
    def grad_blas(X, R, t, G, bs):
        fill2(G, 0.0)
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            np.dot(X[lo:hi].T, R[lo:hi], t)
            add2(G, t.T)

    @njit
    def grad_ours(X, R, T, G, bs):
        fill2(G, 0.0)
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            grad_block(R[lo:hi], X[lo:hi], T)
            add2(G, T)

    @njit
    def evaluation(X, y, W, WTp, b, bs, Z, t, T, gW, gb, ours):
        # the kernel's serial body (no sample weights), with either kind of products
        WT = W.T
        fill2(gW, 0.0)
        fill1(gb, 0.0)
        loss = 0.0
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            Xb, Zb = X[lo:hi], Z[lo:hi]
            if ours:
                logits_block(Xb, WTp, Zb)
            else:
                np.dot(Xb, WT, Zb)
            for i in range(hi - lo):
                loss += softmax_grad_row(Zb[i], b, y[lo + i], False, 1.0, gb)
            if ours:
                grad_block(Zb, Xb, T)
                add2(gW, T)
            else:
                np.dot(Xb.T, Zb, t)
                add2(gW, t.T)
        return loss

    return logits_blas, logits_ours, grad_blas, grad_ours, evaluation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--quick", action="store_true", help="10000 rows")
    parser.add_argument("--repeats", type=int, default=5)
    add_output_options(parser)
    args = parser.parse_args(argv)

    import numba
    import scipy.sparse as sp
    from sklearn._loss.loss import HalfMultinomialLoss
    from sklearn.linear_model._linear_loss import LinearModelLoss

    from sk_softmax._kernels import dense_block_size, padded_classes
    from sk_softmax._kernels._products import pack_wt
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import kernel_threads

    numba.set_num_threads(1)
    X, y, _, _, desc = load_data(args.data_dir, args.quick)
    X = np.ascontiguousarray(X, dtype=np.float64)
    classes, y_enc = np.unique(y, return_inverse=True)
    n, d = X.shape
    K = len(classes)
    rng = np.random.default_rng(0)
    coef = 0.01 * rng.standard_normal((K, d + 1))
    W, b = np.ascontiguousarray(coef[:, :-1]), coef[:, -1].copy()
    reps = args.repeats
    ms = {}

    sk_loss = LinearModelLoss(base_loss=HalfMultinomialLoss(n_classes=K), fit_intercept=True)
    ms["sk"] = best_time(
        lambda: sk_loss.loss_gradient(
            coef.ravel(order="F"), X, y_enc.astype(np.float64), None, 1.0 / n, n_threads=1
        ),
        reps,
    )
    with kernel_threads(1):
        loss = SoftmaxLoss(X, y_enc, K, None, C=1.0)
        ms["ours"] = best_time(lambda: loss.loss_gradient(coef.ravel()), reps)
        csr = SoftmaxLoss(sp.csr_matrix(X), y_enc, K, None, C=1.0)
        ms["csr"] = best_time(lambda: csr.loss_gradient(coef.ravel()), reps)
    density = sp.csr_matrix(X).nnz / X.size

    logits_blas, logits_ours, grad_blas, grad_ours, evaluation = _kernels()
    bs = dense_block_size(d, X.itemsize)
    WTp = np.empty((d, padded_classes(K, X.dtype)))
    pack_wt(W, WTp)
    Z, Z2 = np.empty((n, K)), np.empty((n, K))
    ms["logits_blas"] = best_time(lambda: logits_blas(X, W.T, Z, bs), reps)
    ms["logits_ours"] = best_time(lambda: logits_ours(X, WTp, Z2, bs), reps)
    np.testing.assert_allclose(Z2, Z, rtol=1e-10, atol=1e-12)
    R = rng.standard_normal((n, K))
    t, T = np.empty((d, K)), np.empty((K, d))
    G, G2 = np.empty((K, d)), np.empty((K, d))
    ms["grad_blas"] = best_time(lambda: grad_blas(X, R, t, G, bs), reps)
    ms["grad_ours"] = best_time(lambda: grad_ours(X, R, T, G2, bs), reps)
    np.testing.assert_allclose(G2, G, rtol=1e-10, atol=1e-9)
    y64 = y_enc.astype(np.int64)
    grads = []
    for ours, blocks in ((False, 63), (True, bs)):
        gW, gb = np.empty((K, d)), np.empty(K)
        args_ = (X, y64, W, WTp, b, blocks, Z, t, T, gW, gb, ours)
        ms[("eval", ours)] = best_time(lambda a=args_: evaluation(*a), reps)
        grads.append(gW.copy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-9, atol=1e-9)

    sk = ms["sk"]

    def row(what, key):
        return [what, f"{ms[key] * 1e3:.1f}", f"{ms[key] / sk:.2f}"]

    rows = [
        ["scikit-learn's evaluation", f"{sk * 1e3:.1f}", "1.00"],
        row("ours, as shipped", "ours"),
        row(f"logits product alone, BLAS, {bs}-row blocks", "logits_blas"),
        row("logits product alone, logits_block (shipped)", "logits_ours"),
        row(f"gradient product alone, BLAS, {bs}-row blocks", "grad_blas"),
        row("gradient product alone, grad_block (shipped)", "grad_ours"),
        row("evaluation with BLAS products, 63-row blocks (before)", ("eval", False)),
        row(f"evaluation with the shipped products, {bs}-row blocks", ("eval", True)),
        row(f"MNIST as CSR ({100 * density:.0f} % non-zero), CSR kernel", "csr"),
    ]
    env = ", ".join(
        f"{k}={os.environ[k]}"
        for k in ("OPENBLAS_CORETYPE", "NUMBA_CPU_NAME", "OPENBLAS_NUM_THREADS")
        if k in os.environ
    )
    text = "\n".join(
        [
            "# products: one dense evaluation's products, BLAS against the shipped kernels",
            "",
            f"- data: {desc}: {n} x {d}, {K} classes, float64; one thread; best of {reps}",
            f"- environment: {env}",
            f"- machine: {machine_description()}",
            f"- date: {time.strftime('%Y-%m-%d')}",
            "",
            markdown_table(["what", "ms", "/ scikit-learn's evaluation"], rows),
        ]
    )
    name = "products" + (
        f"_{os.environ['OPENBLAS_CORETYPE'].lower()}" if "OPENBLAS_CORETYPE" in os.environ else ""
    )
    finish(name + ("_quick" if args.quick else ""), text, args)


if __name__ == "__main__":
    main()
