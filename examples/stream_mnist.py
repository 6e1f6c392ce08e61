"""Out-of-core softmax regression: partial_fit over MNIST streamed from its IDX files.

The training images are never loaded whole: each pass reads the gzip-compressed IDX
files chunk by chunk (``sk_softmax.datasets.iter_mnist_chunks``) and calls
``partial_fit`` once per chunk.  The passes go over the same 60000 rows again and again,
so the estimator is told the data set's size (``total_sample_weight=60000``): every
call then penalises with ``||W||^2 / (2 C * 60000)``, and the passes minimise the same
objective as the in-memory ``fit(solver="sgd")`` at the same ``C`` (without it, the
penalty would fade with each pass, as for a stream of ever new samples).  The script
prints the test accuracy and the training objective after every pass, compares them
with an in-memory ``fit`` of the same number of epochs, and reports the peak of
Python/NumPy memory allocated while streaming (tracemalloc) next to the size of one
chunk and of the whole training set.

Usage::

    python examples/stream_mnist.py [--data-dir DIR] [--chunk-size 5000] [--passes 5]
"""

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir")
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--passes", type=int, default=5)
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args(argv)

    from benchmarks._common import default_mnist_dir
    from sk_softmax import SoftmaxClassifier
    from sk_softmax.datasets import iter_mnist_chunks, load_mnist

    data_dir = Path(args.data_dir) if args.data_dir else default_mnist_dir()
    if data_dir is None:
        sys.exit("MNIST IDX files not found: pass --data-dir (or set SK_SOFTMAX_MNIST).")
    X_test, y_test = load_mnist(data_dir, "test", dtype=np.float32)
    n_train = 60000  # the data set the passes go over (its total sample weight)
    classes = np.arange(10)
    # compile the kernels before measuring
    SoftmaxClassifier(solver="sgd", max_iter=1, tol=None).fit(X_test[:300], y_test[:300])

    clf = SoftmaxClassifier(solver="sgd", C=args.C, random_state=0, total_sample_weight=n_train)
    tracemalloc.start()
    t0 = time.perf_counter()
    n_rows = 0
    epoch_losses = []
    for p in range(args.passes):
        for X, y in iter_mnist_chunks(data_dir, chunk_size=args.chunk_size):
            clf.partial_fit(X, y, classes=classes)
            n_rows += X.shape[0] if p == 0 else 0
        elapsed = time.perf_counter() - t0
        # the mean of the chunks' epoch losses: the pass's running training objective
        n_chunks = -(-n_train // args.chunk_size)
        epoch_losses.append(float(np.mean(clf.loss_curve_[-n_chunks:])))
        print(
            f"pass {p + 1}: test accuracy {clf.score(X_test, y_test):.4f}, running "
            f"training objective {epoch_losses[-1]:.5f} ({elapsed:.1f} s)",
            flush=True,
        )
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    chunk_bytes = args.chunk_size * 784 * 4
    print(
        f"peak memory allocated while streaming: {peak / 2**20:.1f} MiB "
        f"(one float32 chunk: {chunk_bytes / 2**20:.1f} MiB, whole training set: "
        f"{n_rows * 784 * 4 / 2**20:.1f} MiB)"
    )

    X, y = load_mnist(data_dir, "train", dtype=np.float32)
    full = SoftmaxClassifier(solver="sgd", C=args.C, random_state=0, max_iter=args.passes, tol=None)
    full.fit(X, y)
    print(
        f"in-memory fit, {args.passes} epochs: test accuracy "
        f"{full.score(X_test, y_test):.4f}, last epoch's objective "
        f"{full.loss_curve_[-1]:.5f}"
    )
    objective = _objective(X, y, args.C)
    print(
        f"training objective (float64, all rows) after streaming: "
        f"{objective(clf):.5f}; after the in-memory fit: {objective(full):.5f}"
    )


def _objective(X, y, C):
    """The objective both minimise, evaluated exactly on all the training rows."""
    from sk_softmax._loss import SoftmaxLoss
    from sk_softmax._threading import kernel_threads

    loss = SoftmaxLoss(np.asarray(X, np.float64), y.astype(np.intp), 10, C=C)

    def value(est):
        with kernel_threads(2):
            return loss.loss(loss.pack(est.coef_, est.intercept_))

    return value


if __name__ == "__main__":
    main()
