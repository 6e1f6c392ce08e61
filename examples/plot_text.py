"""
Sparse text classification: tf-idf, L-BFGS and SGD
===================================================

Text turned into tf-idf vectors gives a sparse matrix: tens of thousands of columns (one per
word), a few dozen non-zeros per row. :class:`~sk_softmax.SoftmaxClassifier` takes the
``scipy.sparse`` CSR matrix as it is; its kernels visit only the stored entries.

The corpus is generated here (no download): short "articles" on four subjects, each a bag of
common words, words of its subject, some words of other subjects, and rare filler words that
make the vocabulary large. We fit a ``TfidfVectorizer`` + ``SoftmaxClassifier`` pipeline
with both solvers and compare their time and accuracy, then look at the words each class's
weights favour.
"""

import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from sk_softmax import SoftmaxClassifier

rng = np.random.default_rng(0)
subjects = {
    "sport": "match goal team season coach league player score win referee stadium cup "
    "transfer injury striker defence final title fans training",
    "finance": "market shares bank rates inflation investor profit bond stock trading "
    "earnings fund dividend currency debt growth quarter revenue price loan",
    "science": "research study cells energy physics climate data experiment theory lab "
    "species genome particle telescope results model journal protein carbon orbit",
    "cooking": "recipe flour oven butter sauce garlic salt dough bake onion pepper roast "
    "dinner taste pan cheese sugar lemon soup herbs",
}
common = (
    "the a of to and in is that for on with as was it by this be are from at his "
    "have new said one more after their about year people over time also first last "
    "two could would most than"
).split()
subject_words = {s: words.split() for s, words in subjects.items()}
filler = [f"w{i:05d}" for i in range(20000)]  # rare words: a large, sparse vocabulary


def article(subject):
    """A bag of words: mostly common words, some of its subject, a few of others."""
    n = rng.integers(30, 90)
    others = [w for s, ws in subject_words.items() if s != subject for w in ws]
    parts = [
        rng.choice(common, int(n * 0.6)),
        rng.choice(subject_words[subject], int(n * 0.05)),
        rng.choice(others, int(n * 0.05)),
        rng.choice(filler, int(n * 0.2)),
    ]
    return " ".join(np.concatenate(parts))


labels = rng.choice(list(subjects), size=8000)
texts = [article(s) for s in labels]
X_train, X_test, y_train, y_test = train_test_split(texts, labels, test_size=0.25, random_state=0)
vectorizer = TfidfVectorizer().fit(X_train)
n_stored = vectorizer.transform(X_train[:200]).nnz / 200
print(
    f"{len(X_train)} training articles, vocabulary of {len(vectorizer.vocabulary_)} words, "
    f"about {n_stored:.0f} non-zeros per row"
)

# %%
# L-BFGS and SGD on the same pipeline
# -----------------------------------
# tf-idf rows are L2-normalised, a scale on which ``eta0="auto"`` needs no tuning. Both
# minimise the same objective: L-BFGS to ``tol``, SGD for a fixed budget of 10 epochs
# (``tol=None``), which is where it shines: a model nearly as good as the optimum for a
# few passes over the data.

solvers = {"lbfgs": dict(solver="lbfgs"), "sgd": dict(solver="sgd", max_iter=10, tol=None)}
results = {}
for solver, params in solvers.items():
    model = make_pipeline(TfidfVectorizer(), SoftmaxClassifier(C=10.0, random_state=0, **params))
    with warnings.catch_warnings():
        # a first fit compiles the CSR kernels (seconds, once); the second one is timed
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    t0 = time.perf_counter()
    model.fit(X_train, y_train)
    elapsed = time.perf_counter() - t0
    clf = model[-1]
    results[solver] = (elapsed, model.score(X_test, y_test), model)
    unit = "iterations" if solver == "lbfgs" else "epochs"
    print(
        f"{solver:5s}: fit {elapsed:.2f} s (vectorizer included), {clf.n_iter_[0]} {unit}, "
        f"test accuracy {results[solver][1]:.4f}"
    )

fig, axes = plt.subplots(1, 2, figsize=(8, 3.4))
names = list(results)
axes[0].bar(names, [results[s][0] for s in names], color=["tab:blue", "tab:orange"])
axes[0].set_ylabel("fit time (s), vectorizer included")
axes[1].bar(names, [results[s][1] for s in names], color=["tab:blue", "tab:orange"])
axes[1].set_ylim(min(results[s][1] for s in names) - 0.05, 1)
axes[1].set_ylabel("test accuracy")
fig.suptitle("TfidfVectorizer + SoftmaxClassifier, sparse CSR input")
fig.tight_layout()

# %%
# What the weights say
# --------------------
# Each class's row of ``coef_`` has one weight per word. The largest are the subject's own
# words; common words, present in every class, get weights near zero.

model = results["lbfgs"][2]
words = model[0].get_feature_names_out()
clf = model[-1]
fig, axes = plt.subplots(1, 4, figsize=(11, 3.6))
for ax, label, row in zip(axes, clf.classes_, clf.coef_):
    top = np.argsort(row)[-8:]
    ax.barh(words[top], row[top], color="tab:green")
    ax.set_title(label)
    ax.tick_params(labelsize=8)
fig.suptitle("largest weights per class (L-BFGS model)")
fig.tight_layout()
plt.show()
