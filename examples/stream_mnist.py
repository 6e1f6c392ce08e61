"""Out-of-core softmax regression: partial_fit over MNIST streamed from its IDX files.

The training images are never loaded whole: each pass reads the gzip-compressed IDX
files chunk by chunk (``sk_softmax.datasets.iter_mnist_chunks``) and calls
``partial_fit`` once per chunk.  The script prints the test accuracy after every pass,
compares it with an in-memory ``fit`` of the same number of epochs, and reports the peak
of Python/NumPy memory allocated while streaming (tracemalloc) next to the size of one
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
    args = parser.parse_args(argv)

    from sk_softmax import SoftmaxClassifier
    from sk_softmax.datasets import default_mnist_dir, iter_mnist_chunks, load_mnist

    data_dir = Path(args.data_dir) if args.data_dir else default_mnist_dir()
    if data_dir is None:
        sys.exit("MNIST IDX files not found: pass --data-dir (or set SK_SOFTMAX_MNIST).")
    X_test, y_test = load_mnist(data_dir, "test", dtype=np.float32)
    classes = np.arange(10)
    # compile the kernels before measuring
    SoftmaxClassifier(solver="sgd", max_iter=1, tol=None).fit(X_test[:300], y_test[:300])

    clf = SoftmaxClassifier(solver="sgd", random_state=0)
    tracemalloc.start()
    t0 = time.perf_counter()
    n_rows = 0
    for p in range(args.passes):
        for X, y in iter_mnist_chunks(data_dir, chunk_size=args.chunk_size):
            clf.partial_fit(X, y, classes=classes)
            n_rows += X.shape[0] if p == 0 else 0
        print(f"pass {p + 1}: test accuracy {clf.score(X_test, y_test):.4f} "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    chunk_bytes = args.chunk_size * 784 * 4
    print(f"peak memory allocated while streaming: {peak / 2**20:.1f} MiB "
          f"(one float32 chunk: {chunk_bytes / 2**20:.1f} MiB, whole training set: "
          f"{n_rows * 784 * 4 / 2**20:.1f} MiB)")

    X, y = load_mnist(data_dir, "train", dtype=np.float32)
    full = SoftmaxClassifier(solver="sgd", random_state=0, max_iter=args.passes, tol=None)
    full.fit(X, y)
    print(f"in-memory fit, {args.passes} epochs: test accuracy {full.score(X_test, y_test):.4f}")


if __name__ == "__main__":
    main()
