"""
Admissions: three classes from two features
===========================================

A university decides on applicants from two numbers: their grade point average (GPA, on a
scale to 5) and an entrance exam score (0 to 100). Each applicant was *rejected*,
*waitlisted* or *admitted*. This is the classic first example of softmax regression; the
data here are generated (no download) to look like it: three groups that overlap a little.

We fit :class:`~sk_softmax.SoftmaxClassifier` in a ``Pipeline`` after a ``StandardScaler``,
draw the decision regions, ask for the probabilities of one applicant, look at the confusion
matrix, and then answer the question this tutorial's readers ask most: what happens
without the scaler?
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier

# %%
# The data
# --------
# 120 applicants per outcome; each group is a Gaussian cloud around its own centre.

rng = np.random.default_rng(0)
centres = {"rejected": (2.9, 58.0), "waitlisted": (3.5, 71.0), "admitted": (4.0, 83.0)}
spread = (0.32, 7.0)  # GPA points, exam points
X = np.vstack([rng.normal(c, spread, size=(120, 2)) for c in centres.values()])
X[:, 0] = X[:, 0].clip(1.5, 5.0)
X[:, 1] = X[:, 1].clip(0.0, 100.0)
y = np.repeat(list(centres), 120)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# The model: standardise, then softmax regression
# -----------------------------------------------
# ``C=1.0`` as in ``LogisticRegression``; the scaler is fitted on the training rows only.

model = make_pipeline(StandardScaler(), SoftmaxClassifier(C=1.0))
model.fit(X_train, y_train)
clf = model[-1]
print(f"classes: {clf.classes_.tolist()}")
print(f"L-BFGS iterations: {clf.n_iter_[0]}, test accuracy: {model.score(X_test, y_test):.3f}")

# %%
# One applicant: GPA 4.3, exam score 79
# -------------------------------------
# ``predict_proba`` gives one probability per class, in the order of ``classes_``; they sum
# to one (the softmax of the three scores).

student = np.array([[4.3, 79.0]])
for label, p in zip(clf.classes_, model.predict_proba(student)[0]):
    print(f"P({label:10s} | GPA 4.3, exam 79) = {p:.3f}")
print(f"prediction: {model.predict(student)[0]}")

# %%
# Decision regions
# ----------------
# Each point of the plane is coloured by the predicted class, and shaded by how sure the
# model is (the largest probability). The boundaries are straight lines: the scores are
# linear in the features, and two classes tie where their scores are equal.

colours = {"rejected": "tab:red", "waitlisted": "tab:orange", "admitted": "tab:green"}


def plot_regions(ax, est, title):
    """Predicted class (colour) and its probability (shade) over the GPA-exam plane."""
    gpa, exam = np.meshgrid(np.linspace(1.8, 5.0, 300), np.linspace(30, 100, 300))
    grid = np.column_stack([gpa.ravel(), exam.ravel()])
    proba = est.predict_proba(grid)
    classes = list(est.classes_)
    best = proba.argmax(axis=1)
    for k, label in enumerate(classes):
        mask = (best == k).reshape(gpa.shape)
        shade = np.where(mask, proba[:, k].reshape(gpa.shape), np.nan)
        ax.contourf(
            gpa,
            exam,
            shade,
            levels=[0.3, 0.5, 0.7, 0.9, 1.0],
            colors=[colours[label]],
            alpha=0.12,
            antialiased=True,
        )
        ax.contourf(gpa, exam, shade, levels=[0.7, 1.0], colors=[colours[label]], alpha=0.15)
    for label in centres:
        rows = y_train == label
        ax.scatter(
            X_train[rows, 0],
            X_train[rows, 1],
            s=12,
            c=colours[label],
            label=label,
            edgecolors="k",
            linewidths=0.3,
        )
    ax.plot(*student[0], marker="*", ms=16, c="k", label="GPA 4.3, exam 79")
    ax.set_xlabel("GPA")
    ax.set_ylabel("exam score")
    ax.set_title(title, fontsize=10)


fig, ax = plt.subplots(figsize=(6.4, 4.8))
plot_regions(ax, model, "StandardScaler + SoftmaxClassifier")
ax.legend(loc="lower right", fontsize=8)
fig.tight_layout()

# %%
# Confusion matrix
# ----------------
# Rows: the true outcome, columns: the predicted one. The mistakes are between neighbours
# (rejected/waitlisted, waitlisted/admitted): the groups overlap there.

order = list(centres)
ConfusionMatrixDisplay.from_estimator(
    model, X_test, y_test, labels=order, cmap="Blues", colorbar=False
)
plt.title("Test applicants")
plt.tight_layout()

# %%
# Without standardisation
# -----------------------
# GPA varies by a few tenths, the exam score by several points, and both sit far from zero.
# The model family is the same (a weight can absorb any scale), but the optimisers see a
# badly conditioned problem:
#
# - L-BFGS still converges, in several times as many iterations. It also converges to a
#   *different* model: the L2 penalty acts on the weights of the raw features, so the GPA's
#   weight, which must be large, is penalised more.
# - SGD, with one step size for every weight (``eta0="auto"`` is set by the largest
#   curvature, the exam score's), barely moves the GPA's weight and stalls far from the
#   optimum.


def fit(est):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        est.fit(X_train, y_train)
        elapsed = time.perf_counter() - t0
    return est, elapsed, [str(w.message).split("\n")[0] for w in caught]


variants = {
    "L-BFGS, standardised": make_pipeline(StandardScaler(), SoftmaxClassifier()),
    "L-BFGS, raw features": SoftmaxClassifier(),
    "SGD, standardised": make_pipeline(
        StandardScaler(), SoftmaxClassifier(solver="sgd", random_state=0)
    ),
    "SGD, raw features": SoftmaxClassifier(solver="sgd", random_state=0),
}
fitted = {}
for name, est in variants.items():
    est, elapsed, warns = fit(est)
    fitted[name] = est
    inner = est[-1] if hasattr(est, "steps") else est
    unit = "epochs" if inner.solver == "sgd" else "iterations"
    print(
        f"{name:22s}: {inner.n_iter_[0]:3d} {unit}, test accuracy "
        f"{est.score(X_test, y_test):.3f}, {elapsed * 1e3:.0f} ms"
        + (f"; warning: {warns[0]}" if warns else "")
    )

fig, axes = plt.subplots(2, 2, figsize=(9, 7), sharex=True, sharey=True)
for ax, (name, est) in zip(axes.ravel(), fitted.items()):
    plot_regions(ax, est, f"{name} (test acc. {est.score(X_test, y_test):.2f})")
axes[0, 0].legend(loc="lower right", fontsize=7)
fig.tight_layout()
plt.show()

# %%
# Which coefficients matter: the coefficient table
# ------------------------------------------------
# The first question after the decision regions: how much does a GPA point or an exam
# point change the odds, and how sure are we? Without a penalty (``C=np.inf``: maximum
# likelihood) and on the raw features (the GPA in tenths of a point, so that a coefficient
# is per tenth of a GPA point or per exam point),
# :meth:`~sk_softmax.SoftmaxClassifier.coef_table` reports each outcome against a
# reference outcome, here *rejected*: ``exp(coef)`` is the odds ratio of being admitted
# (or waitlisted) rather than rejected for one more unit of the feature, with its 95%
# interval. These estimates and standard errors are statsmodels' ``MNLogit``'s (see the
# user guide's inference page for the formulas, the robust covariance types, and what
# standard errors of a penalised fit mean).

import pandas as pd  # noqa: E402

frame = pd.DataFrame({"gpa_tenths": X_train[:, 0] * 10, "exam": X_train[:, 1]})
mle = SoftmaxClassifier(C=np.inf).fit(frame, y_train)
table = mle.coef_table(frame, y_train, reference_class="rejected")
table["odds_ratio"] = np.exp(table["coef"])
table["or_lower"] = np.exp(table["ci_lower"])
table["or_upper"] = np.exp(table["ci_upper"])
with pd.option_context("display.width", 120, "display.float_format", "{:.4g}".format):
    print(table[["coef", "std_err", "p_value", "odds_ratio", "or_lower", "or_upper"]])
print(f"McFadden's pseudo R^2: {mle.pseudo_r2(frame, y_train):.3f}")

# %%
# A tenth of a GPA point more multiplies the odds of admission against rejection by the odds ratio
# above (the exam score held fixed); the interval says how precisely 270 applicants pin
# it down. The same table with ``cov_type="HC0"`` gives sandwich (robust) standard errors.
