"""
Choosing C: a grid search over a Pipeline
=========================================

``C`` sets how strongly the weights are pulled towards zero (:doc:`/user_guide/model`):
small ``C``, a simple model that underfits; large ``C``, one that fits the training data
closely and may overfit. It is chosen by cross-validation, exactly as for
``LogisticRegression``: here a ``GridSearchCV`` over a ``Pipeline`` of ``StandardScaler`` and
:class:`~sk_softmax.SoftmaxClassifier` on scikit-learn's digits, with two worker processes
(``n_jobs=2``).

No threads are oversubscribed: joblib lowers the number of numba threads in its workers,
so each of the two fits running at a time uses one core (:doc:`/user_guide/threads`).
:class:`~sk_softmax.SoftmaxClassifierCV` does the same search along warm-started paths, in
threads; it ends this example.
"""

import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV

X, y = load_digits(return_X_y=True)
Cs = np.logspace(-4, 2, 13)
folds = StratifiedKFold(5, shuffle=True, random_state=0)

# %%
# The search
# ----------
# The parameter of a step of a pipeline is named ``<step>__<parameter>``. The scaler is
# refitted on the training folds of every split, so no information leaks from the held-out
# fold.

pipe = make_pipeline(StandardScaler(), SoftmaxClassifier(max_iter=1000))
search = GridSearchCV(
    pipe, {"softmaxclassifier__C": Cs}, cv=folds, n_jobs=2, return_train_score=True
)
t0 = time.perf_counter()
search.fit(X, y)
print(
    f"GridSearchCV: {len(Cs)} values of C x 5 folds in {time.perf_counter() - t0:.1f} s "
    "(2 worker processes)"
)
print(
    f"best C: {search.best_params_['softmaxclassifier__C']:.3g}, "
    f"CV accuracy {search.best_score_:.4f}"
)

# %%
# CV score against C
# ------------------
# Left of the best value the model underfits (training and validation accuracy low
# together); right of it the training accuracy keeps rising while the validation accuracy
# levels off or falls.

res = search.cv_results_
fig, ax = plt.subplots(figsize=(6.4, 4.4))
for kind, colour in [("train", "tab:blue"), ("test", "tab:orange")]:
    mean, std = res[f"mean_{kind}_score"], res[f"std_{kind}_score"]
    label = "training folds" if kind == "train" else "held-out folds (CV score)"
    ax.semilogx(Cs, mean, "o-", color=colour, label=label)
    ax.fill_between(Cs, mean - std, mean + std, color=colour, alpha=0.2)
ax.axvline(search.best_params_["softmaxclassifier__C"], color="k", ls=":", lw=1, label="best C")
ax.set_xlabel("C")
ax.set_ylabel("accuracy (mean ± std over 5 folds)")
ax.set_title("StandardScaler + SoftmaxClassifier on digits")
ax.legend()
fig.tight_layout()

# %%
# The same search with SoftmaxClassifierCV
# ----------------------------------------
# The counterpart of ``LogisticRegressionCV``: for every fold the values of ``C`` are fitted
# from the smallest to the largest, each fit starting from the previous solution, and the
# folds run in threads. It needs the data already scaled (it is not a pipeline); scaling
# before the split leaks the held-out folds' means into the training, which is harmless
# here but is why the pipeline above is the general recipe.

Xs = StandardScaler().fit_transform(X)
t0 = time.perf_counter()
cv = SoftmaxClassifierCV(Cs=Cs, cv=folds, max_iter=1000, n_jobs=2).fit(Xs, y)
print(
    f"SoftmaxClassifierCV: {time.perf_counter() - t0:.1f} s, best C {cv.C_:.3g}, "
    f"CV accuracy {cv.scores_.mean(axis=0).max():.4f}"
)
plt.show()
