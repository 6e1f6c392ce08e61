"""
Class weights on an imbalanced problem
======================================

When one class is rare, the cross-entropy is dominated by the common ones, and a model that
rarely predicts the rare class scores well on average. ``class_weight`` turns the objective
into a *weighted* cross-entropy (:doc:`/user_guide/model`): each sample counts with its
class's weight, so errors on a rare class cost more. ``class_weight="balanced"`` gives
every class the same total weight (``n / (n_classes * n_k)`` per sample of class ``k``).

We generate a three-class problem (no download) in which the classes make up 85%, 12% and
3% of the samples, and compare the recall of each class with and without class weights.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split

from sk_softmax import SoftmaxClassifier

X, y = make_classification(
    n_samples=6000,
    n_features=20,
    n_informative=6,
    n_redundant=2,
    n_classes=3,
    n_clusters_per_class=1,
    weights=[0.85, 0.12, 0.03],
    class_sep=0.8,
    flip_y=0.01,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
print("training samples per class:", np.bincount(y_train).tolist())

# %%
# Three weightings
# ----------------
# No weights; "balanced"; and a hand-set dictionary in between.

weightings = {"none": None, "{0: 1, 1: 3, 2: 10}": {0: 1, 1: 3, 2: 10}, "balanced": "balanced"}
recalls = {}
for name, class_weight in weightings.items():
    clf = SoftmaxClassifier(class_weight=class_weight).fit(X_train, y_train)
    pred = clf.predict(X_test)
    recalls[name] = recall_score(y_test, pred, average=None)
    print(
        f"class_weight={name:20s} accuracy {np.mean(pred == y_test):.3f}, balanced "
        f"accuracy {balanced_accuracy_score(y_test, pred):.3f}, per-class recall "
        + ", ".join(f"{r:.2f}" for r in recalls[name])
    )

# %%
# Per-class recall
# ----------------
# Without weights the rare class is missed more often than found; weights raise its recall
# at the cost of some recall (and precision) on the common class: the accuracy drops, the
# balanced accuracy (the mean of the recalls) rises.

fig, ax = plt.subplots(figsize=(6.4, 4.2))
width = 0.8 / len(recalls)
shares = np.bincount(y_train) / len(y_train)
for j, (name, rec) in enumerate(recalls.items()):
    ax.bar(np.arange(3) + (j - 1) * width, rec, width, label=f"class_weight={name}")
ax.set_xticks(np.arange(3), [f"class {k}\n({s:.0%} of samples)" for k, s in enumerate(shares)])
ax.set_ylabel("recall on the test set")
ax.set_ylim(0, 1.05)
ax.legend(fontsize=8, loc="lower left")
ax.set_title("SoftmaxClassifier on an imbalanced three-class problem")
fig.tight_layout()
plt.show()
