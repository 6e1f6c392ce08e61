"""Where one dense evaluation's time goes, and whether numba loops beat BLAS's products.

The dense kernel (``sk_softmax/_kernels/_dense.py``) calls BLAS ``gemm`` twice per row
block: the logits ``X_b @ W.T`` and the gradient product ``X_b.T @ R_b``.  With
OpenBLAS's AVX2 kernels (what it runs on AMD Zen; emulate them on an Intel machine with
``OPENBLAS_CORETYPE=Haswell`` and numba's code with ``NUMBA_CPU_NAME=haswell``) one
evaluation is about 0.9x of scikit-learn's, against a goal of 0.6x (issue 30).  This
measures, on one thread, MNIST's shape (60000 x 784, 10 classes), best of ``--repeats``:

* scikit-learn's evaluation (``LinearModelLoss.loss_gradient``) and ours (as shipped);
* the logits product alone: BLAS on the kernel's row blocks against a numba kernel
  (rows two at a time, features four at a time, classes innermost, ``W.T`` contiguous);
* the whole evaluation with the gradient product by BLAS (as shipped) or by numba row
  updates (``add_rt_x``, the minibatch kernel's), at 63- and 128-row blocks;
* MNIST stored as CSR through the CSR kernel (19 % of its entries are non-zero).

numba's loops may use fused multiply-adds here (``fastmath={"contract"}``), which the
package's kernels do not: the most a numba loop could give.  BLAS is held at one thread
through ``OPENBLAS_NUM_THREADS=1`` set below, before NumPy loads: a
``threadpool_limits(1)`` entered before numba first compiles ``np.dot`` would miss the
OpenBLAS behind ``scipy.linalg.cython_blas``, which numba loads then, and the "one
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

    from sk_softmax._kernels._dense import add2, add_rt_x, fill1, fill2, softmax_grad_row

    @njit(fastmath={"contract"})
    def logits_numba(Xb, WT, Zb):
        # Zb = Xb @ WT: the classes innermost (vectorised), two rows and four features
        # per step so that each load of WT serves eight multiply-adds
        m, d = Xb.shape
        K = WT.shape[1]
        i = 0
        while i + 2 <= m:
            za, zb = Zb[i], Zb[i + 1]
            for k in range(K):
                za[k] = 0.0
                zb[k] = 0.0
            xa, xb = Xb[i], Xb[i + 1]
            j = 0
            while j + 4 <= d:
                a0, a1, a2, a3 = xa[j], xa[j + 1], xa[j + 2], xa[j + 3]
                b0, b1, b2, b3 = xb[j], xb[j + 1], xb[j + 2], xb[j + 3]
                w0, w1, w2, w3 = WT[j], WT[j + 1], WT[j + 2], WT[j + 3]
                for k in range(K):
                    za[k] += a0 * w0[k] + a1 * w1[k] + a2 * w2[k] + a3 * w3[k]
                    zb[k] += b0 * w0[k] + b1 * w1[k] + b2 * w2[k] + b3 * w3[k]
                j += 4
            while j < d:
                for k in range(K):
                    za[k] += xa[j] * WT[j, k]
                    zb[k] += xb[j] * WT[j, k]
                j += 1
            i += 2
        if i < m:  # an odd block's last row
            for k in range(K):
                Zb[i, k] = 0.0
            for j in range(d):
                for k in range(K):
                    Zb[i, k] += Xb[i, j] * WT[j, k]

    @njit
    def logits_blas_blocks(X, WT, Z, bs):
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            np.dot(X[lo:hi], WT, Z[lo:hi])

    @njit(fastmath={"contract"})
    def logits_numba_blocks(X, WT, Z, bs):
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            logits_numba(X[lo:hi], WT, Z[lo:hi])

    @njit(fastmath={"contract"})
    def evaluation(X, y, W, b, bs, Z, t, gW, gb, numba_gradient):
        # the shipped kernel's serial body (no sample weights), with a choice of
        # gradient product
        WT = W.T
        fill2(gW, 0.0)
        fill1(gb, 0.0)
        loss = 0.0
        for lo in range(0, X.shape[0], bs):
            hi = min(X.shape[0], lo + bs)
            Xb, Zb = X[lo:hi], Z[lo:hi]
            np.dot(Xb, WT, Zb)
            for i in range(hi - lo):
                loss += softmax_grad_row(Zb[i], b, y[lo + i], False, 1.0, gb)
            if numba_gradient:
                add_rt_x(Zb, Xb, gW)
            else:
                np.dot(Xb.T, Zb, t)
                add2(gW, t.T)
        return loss

    return logits_blas_blocks, logits_numba_blocks, evaluation


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

    logits_blas, logits_numba, evaluation = _kernels()
    Z, Z2 = np.empty((n, K)), np.empty((n, K))
    ms["logits_blas"] = best_time(lambda: logits_blas(X, W.T, Z, 63), reps)
    ms["logits_numba"] = best_time(lambda: logits_numba(X, np.ascontiguousarray(W.T), Z2, 63), reps)
    np.testing.assert_allclose(Z2, Z, rtol=1e-10, atol=1e-12)
    y64 = y_enc.astype(np.int64)
    t = np.empty((d, K))
    for bs in (63, 128):
        grads = []
        for numba_gradient in (False, True):
            gW, gb = np.empty((K, d)), np.empty(K)
            args_ = (X, y64, W, b, bs, Z, t, gW, gb, numba_gradient)
            ms[(bs, numba_gradient)] = best_time(lambda a=args_: evaluation(*a), reps)
            grads.append(gW.copy())
        np.testing.assert_allclose(grads[1], grads[0], rtol=1e-9, atol=1e-9)

    sk = ms["sk"]

    def row(what, key):
        return [what, f"{ms[key] * 1e3:.1f}", f"{ms[key] / sk:.2f}"]

    rows = [
        ["scikit-learn's evaluation", f"{sk * 1e3:.1f}", "1.00"],
        row("ours, as shipped", "ours"),
        row("logits product alone, BLAS, 63-row blocks", "logits_blas"),
        row("logits product alone, numba (contract)", "logits_numba"),
        row("evaluation, gradient product by BLAS, 63-row blocks", (63, False)),
        row("same, gradient product by numba row updates", (63, True)),
        row("evaluation, gradient product by BLAS, 128-row blocks", (128, False)),
        row("same, gradient product by numba row updates", (128, True)),
        row(f"MNIST as CSR ({100 * density:.0f} % non-zero), CSR kernel", "csr"),
    ]
    env = ", ".join(
        f"{k}={os.environ[k]}"
        for k in ("OPENBLAS_CORETYPE", "NUMBA_CPU_NAME", "OPENBLAS_NUM_THREADS")
        if k in os.environ
    )
    text = "\n".join(
        [
            "# products: one dense evaluation's products, BLAS against numba loops",
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
