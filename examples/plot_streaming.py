"""
Streaming with partial_fit: learning chunk by chunk
===================================================

When the training data do not fit in memory, or arrive over time,
:meth:`SoftmaxClassifier.partial_fit <sk_softmax.SoftmaxClassifier.partial_fit>` learns
from one chunk at a time: each call runs one epoch of minibatch SGD over the chunk and keeps
the model, the step-size schedule and the averaging state for the next call.

Here MNIST's training images are read chunk by chunk straight from the compressed IDX files
(:func:`sk_softmax.datasets.iter_mnist_chunks`), so only one chunk of 2000 images is ever in
memory; two passes go over all 60000. We follow the test accuracy after every chunk and the
memory held while streaming. (``examples/stream_mnist.py`` in the repository is a
command-line version with more passes and a comparison with the in-memory fit.) Where MNIST
is absent, the example streams scikit-learn's 8x8 digits instead and says so.
"""

import os
import time
import tracemalloc
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sk_softmax import SoftmaxClassifier
from sk_softmax.datasets import iter_mnist_chunks, load_mnist

CHUNK = 2000
PASSES = 2


def find_mnist():
    """The folder of the MNIST IDX files, or None: $SK_SOFTMAX_MNIST, else
    ../shared/data/mnist beside the repository (or the working directory)."""
    if os.environ.get("SK_SOFTMAX_MNIST"):
        return Path(os.environ["SK_SOFTMAX_MNIST"])
    here = Path(__file__).resolve().parent if "__file__" in globals() else Path.cwd()
    for root in (here.parent.parent, here.parent, Path.cwd().parent):
        folder = root / "shared" / "data" / "mnist"
        if (folder / "train-labels-idx1-ubyte.gz").exists():
            return folder
    return None


folder = find_mnist()
if folder is not None:
    X_test, y_test = load_mnist(folder, "test", dtype=np.float32)
    n_train, n_features = 60000, 784

    def chunks():
        return iter_mnist_chunks(folder, "train", chunk_size=CHUNK)

    print(f"streaming MNIST from {folder} in chunks of {CHUNK} images")
else:
    from sklearn.datasets import load_digits

    X_all, y_all = load_digits(return_X_y=True)
    X_all = (X_all / 16.0).astype(np.float32)
    X_test, y_test = X_all[1400:], y_all[1400:]
    n_train, n_features, CHUNK = 1400, 64, 100

    def chunks():
        for start in range(0, n_train, CHUNK):
            yield X_all[start : start + CHUNK], y_all[start : start + CHUNK]

    print("NOTE: MNIST not found (set SK_SOFTMAX_MNIST); streaming scikit-learn's digits.")

# %%
# Learning from the stream
# ------------------------
# ``classes`` must be given on the first call (a chunk may miss some digits). The passes go
# over the same 60000 images again, so the estimator is told the data set's size with
# ``total_sample_weight``: every call then uses the penalty of the whole data set, and the
# passes minimise the same objective as an in-memory ``fit(solver="sgd")``. (Without it,
# the penalty would be divided by the number of samples seen so far, right for a stream of
# ever new samples.)

clf = SoftmaxClassifier(solver="sgd", C=1.0, random_state=0, total_sample_weight=n_train)
classes = np.arange(10)
seen, accuracy, held = [], [], []
tracemalloc.start()
t0 = time.perf_counter()
n_seen = 0
for p in range(PASSES):
    for X, y in chunks():
        clf.partial_fit(X, y, classes=classes)
        n_seen += len(y)
        seen.append(n_seen)
        accuracy.append(clf.score(X_test, y_test))
        held.append(tracemalloc.get_traced_memory()[0])
    print(
        f"pass {p + 1}: test accuracy {accuracy[-1]:.4f} ({time.perf_counter() - t0:.1f} s so far)"
    )
peak = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
whole = n_train * n_features * 4  # the training set in float32
print(
    f"peak memory allocated while streaming: {peak / 2**20:.1f} MiB; one chunk: "
    f"{CHUNK * n_features * 4 / 2**20:.1f} MiB; the whole training set: "
    f"{whole / 2**20:.1f} MiB"
)

# %%
# Learning curve and memory
# -------------------------
# Most of the accuracy comes within the first few chunks; the rest of the pass and the
# second pass refine it as the adaptive schedule lowers the step. The memory held (the
# Python and NumPy allocations made since streaming began, traced by ``tracemalloc``; the
# test set, loaded before, is not counted) stays flat: it depends on the chunk size, not on
# how much has been streamed.

fig, axes = plt.subplots(1, 2, figsize=(10, 4))
axes[0].plot(seen, accuracy, ".-")
for p in range(1, PASSES):
    axes[0].axvline(p * n_train, color="0.6", ls=":", lw=1)
axes[0].set_xlabel("training images streamed")
axes[0].set_ylabel("test accuracy")
axes[0].set_title(f"partial_fit, chunks of {CHUNK}")
axes[0].set_ylim(min(accuracy[1:] + [0.85]) - 0.01, max(accuracy) + 0.01)
axes[1].plot(seen, np.array(held) / 2**20, ".-", label="held after each chunk")
axes[1].axhline(peak / 2**20, color="tab:orange", ls="--", label="peak while streaming")
axes[1].axhline(whole / 2**20, color="tab:red", label="whole training set (float32)")
axes[1].set_xlabel("training images streamed")
axes[1].set_ylabel("MiB")
axes[1].set_ylim(0, whole / 2**20 * 1.15)
axes[1].legend(fontsize=8)
axes[1].set_title("memory")
fig.tight_layout()
plt.show()
