"""
MNIST: what a softmax model of handwritten digits learns
========================================================

Softmax regression on the MNIST digits (28x28 grey-level images, ten classes). A linear
model has one weight per pixel and class, so its ten weight vectors can be looked at as
images: the pixels that speak for (red) and against (blue) each digit.

To keep the gallery fast this example fits on the **first 10000 of the 60000 training
images** (a second or two on 2 cores; all 60000 give about 1.5 points more test accuracy)
and tests on all 10000 test images. MNIST is read from its IDX files
(:func:`sk_softmax.datasets.load_mnist`) in ``$SK_SOFTMAX_MNIST`` or
``../shared/data/mnist`` beside the repository; where neither exists, the example falls
back to scikit-learn's 8x8 digits and says so.
"""

import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay

from sk_softmax import SoftmaxClassifier
from sk_softmax.datasets import load_mnist

N_TRAIN = 10000  # of 60000: keeps the whole gallery under 3 minutes on 2 cores


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
    X_train, y_train = load_mnist(folder, "train", dtype=np.float32)
    X_test, y_test = load_mnist(folder, "test", dtype=np.float32)
    X_train, y_train = X_train[:N_TRAIN], y_train[:N_TRAIN]
    side = 28
    print(
        f"MNIST from {folder}: {len(y_train)} training images (of 60000), {len(y_test)} test images"
    )
else:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    X_train, X_test, y_train, y_test = X[:1200], X[1200:], y[:1200], y[1200:]
    side = 8
    print("NOTE: MNIST not found (set SK_SOFTMAX_MNIST); using scikit-learn's 8x8 digits.")

# %%
# Fit
# ---
# Pixels are already in [0, 1] (divided by 255), so no scaler is needed. float32 input is
# kept in float32, which halves the memory and the time of every pass over the data.
# ``C=0.05``: on 10000 images the default ``C=1`` fits pixel noise (its weight images are
# speckled, and its test accuracy is 0.905 against 0.911 here); a stronger penalty gives
# smoother templates.

clf = SoftmaxClassifier(C=0.05, max_iter=300)
t0 = time.perf_counter()
clf.fit(X_train, y_train)
print(f"fit: {time.perf_counter() - t0:.2f} s, {clf.n_iter_[0]} L-BFGS iterations")
print(f"test accuracy: {clf.score(X_test, y_test):.4f}")

# %%
# The ten weight vectors as images
# --------------------------------
# Row ``k`` of ``coef_`` scores class ``k``: a pixel with a positive weight (red) raises the
# score when it is inked. The "0" template is a ring, the "1" a vertical stroke; blue areas
# are where ink points to another digit (the middle of a "0").

fig, axes = plt.subplots(2, 5, figsize=(9, 4))
limit = np.abs(clf.coef_).max()
for k, ax in enumerate(axes.ravel()):
    ax.imshow(clf.coef_[k].reshape(side, side), cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set_title(f"class {clf.classes_[k]}")
    ax.set_axis_off()
fig.suptitle("coef_ of SoftmaxClassifier, one 28x28 image per class")
fig.tight_layout()

# %%
# Confusion matrix on the test images
# -----------------------------------

fig, ax = plt.subplots(figsize=(6, 5.5))
ConfusionMatrixDisplay.from_estimator(clf, X_test, y_test, ax=ax, colorbar=False, cmap="Blues")
ax.set_title(f"test accuracy {clf.score(X_test, y_test):.3f}")
fig.tight_layout()

# %%
# Misclassified digits and their probabilities
# --------------------------------------------
# The most confident mistakes: each image with the model's probabilities for all ten
# classes (the true class in green, the predicted one in red).

proba = clf.predict_proba(X_test)
pred = clf.classes_[proba.argmax(axis=1)]
wrong = np.flatnonzero(pred != y_test)
worst = wrong[np.argsort(-proba[wrong].max(axis=1))][:6]
print(f"{len(wrong)} of {len(y_test)} test images misclassified")

fig, axes = plt.subplots(2, 6, figsize=(11, 4), gridspec_kw={"height_ratios": [1.3, 1]})
for col, i in enumerate(worst):
    axes[0, col].imshow(X_test[i].reshape(side, side), cmap="gray_r")
    axes[0, col].set_title(f"true {y_test[i]}, predicted {pred[i]}", fontsize=9)
    axes[0, col].set_axis_off()
    colours = ["0.7"] * len(clf.classes_)
    colours[int(np.flatnonzero(clf.classes_ == pred[i])[0])] = "tab:red"
    colours[int(np.flatnonzero(clf.classes_ == y_test[i])[0])] = "tab:green"
    axes[1, col].bar(clf.classes_, proba[i], color=colours)
    axes[1, col].set_ylim(0, 1)
    axes[1, col].set_xticks(clf.classes_)
    axes[1, col].tick_params(labelsize=7)
axes[1, 0].set_ylabel("predict_proba")
fig.tight_layout()
plt.show()
