"""
Grouped L1 on MNIST: select pixels, not weights
===============================================

An L1-penalised softmax model keeps a pixel's weight for some digits and drops it for
others: it selects *weights*, and the pixels it still reads are spread over the image.
``l1_groups="features"`` penalises the Euclidean norm of each pixel's ten weights
together (glmnet's grouped multinomial penalty), so a pixel is used by every digit or by
none: the model selects *pixels*.

This example fits the grouped model, then element-wise L1 models at increasing ``C``
(warm-started) until they have at least as many non-zero weights, and shows which pixels
each reads, with the test accuracy of each. To keep the gallery fast it uses the first
**3000** training images (and 5000 test images). MNIST is read as in
:ref:`sphx_glr_auto_examples_plot_mnist.py`; without it the example falls back to
scikit-learn's 8x8 digits and says so.
"""

import os
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sk_softmax import SoftmaxClassifier
from sk_softmax.datasets import load_mnist

N_TRAIN, N_TEST = 3000, 5000


def find_mnist():
    """The folder of the MNIST IDX files, or None (see plot_mnist.py)."""
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
    X_train, y_train = load_mnist(folder, "train")
    X_test, y_test = load_mnist(folder, "test")
    X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
    X_test, y_test = X_test[:N_TEST], y_test[:N_TEST]
    side = 28
    print(f"MNIST from {folder}: {len(y_train)} training, {len(y_test)} test images")
else:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    X_train, X_test, y_train, y_test = X[:1200], X[1200:], y[:1200], y[1200:]
    side = 8
    print("NOTE: MNIST not found (set SK_SOFTMAX_MNIST); using scikit-learn's 8x8 digits.")

# %%
# The grouped model
# -----------------
# The penalty is ``sum_j ||coef_[:, j]||_2 / C`` (per sample): a pixel's ten weights
# are zero together. ``C`` is chosen small enough for a sparse model.
C_grouped = 0.05
grouped = SoftmaxClassifier(C=C_grouped, l1_ratio=1.0, l1_groups="features", tol=1e-3)
grouped.fit(X_train, y_train)
used_grouped = np.any(grouped.coef_ != 0, axis=0)
nnz_grouped = np.count_nonzero(grouped.coef_)
print(
    f"grouped, C={C_grouped}: {used_grouped.sum()} pixels, {nnz_grouped} non-zero weights, "
    f"test accuracy {grouped.score(X_test, y_test):.3f}"
)

# %%
# Element-wise L1 with as many non-zero weights
# ---------------------------------------------
# The same ``C`` gives the element-wise model far fewer non-zero weights; raise ``C``
# (each fit warm-started from the previous one) until it has at least as many.
plain = SoftmaxClassifier(l1_ratio=1.0, tol=1e-3, warm_start=True)
for C in C_grouped * 2.0 ** np.arange(0, 8):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain.set_params(C=C).fit(X_train, y_train)
    if np.count_nonzero(plain.coef_) >= nnz_grouped:
        break
used_plain = np.any(plain.coef_ != 0, axis=0)
print(
    f"element-wise L1, C={plain.C:g}: {used_plain.sum()} pixels, "
    f"{np.count_nonzero(plain.coef_)} non-zero weights, "
    f"test accuracy {plain.score(X_test, y_test):.3f}"
)

# %%
# Which pixels each model reads
# -----------------------------
# Left: the grouped model reads a compact set of pixels, each by all ten digits. Right:
# the element-wise model, at a similar number of non-zero weights, reads about twice as
# many pixels, each by a few digits (the colour: how many digits use the pixel). Here
# the element-wise model scores a little higher on the test images: the grouped model
# pays for reading fewer pixels. Choose it when the features themselves cost something
# (pixels to acquire, measurements to take, columns to store), and ``C`` by
# cross-validation (:class:`~sk_softmax.SoftmaxClassifierCV` takes ``l1_groups`` too).
fig, axes = plt.subplots(1, 2, figsize=(8, 4.2))
for ax, model, title in [
    (axes[0], grouped, "grouped (l1_groups='features')"),
    (axes[1], plain, "element-wise L1"),
]:
    classes_per_pixel = np.count_nonzero(model.coef_, axis=0).reshape(side, side)
    im = ax.imshow(classes_per_pixel, cmap="viridis", vmin=0, vmax=model.coef_.shape[0])
    ax.set_title(
        f"{title}\n{np.count_nonzero(classes_per_pixel)} pixels, "
        f"{np.count_nonzero(model.coef_)} weights, "
        f"acc. {model.score(X_test, y_test):.3f}",
        fontsize=9,
    )
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(im, ax=axes, shrink=0.8, label="digits using the pixel")
plt.show()
