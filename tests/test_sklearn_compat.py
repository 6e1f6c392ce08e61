"""scikit-learn's estimator checks, with no expected failures."""

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from sk_softmax import SoftmaxClassifier, SoftmaxClassifierCV

ESTIMATORS = [
    SoftmaxClassifier(),
    # fit_intercept=False is left out: check_class_weight_classifiers needs an
    # intercept to move the decision boundary (LogisticRegression(fit_intercept=False)
    # fails it too); test_classifier.py covers fit_intercept=False against it instead.
    SoftmaxClassifier(C=0.05, class_weight="balanced"),
    SoftmaxClassifier(C=np.inf, max_iter=500),
    SoftmaxClassifier(warm_start=True, n_jobs=1),
    SoftmaxClassifier(solver="sgd", random_state=0),
    SoftmaxClassifier(C=0.5, l1_ratio=0.5, max_iter=500),
    SoftmaxClassifier(solver="sgd", C=0.5, l1_ratio=1.0, random_state=0),
    # cv=3: check_sparsify_coefficients has 3 samples per class
    SoftmaxClassifierCV(Cs=3, cv=3),
    SoftmaxClassifierCV(Cs=[0.1, 1.0], l1_ratios=(0.0, 1.0), cv=2, refit=False, n_jobs=2),
    SoftmaxClassifier(solver="sgd", average=True, learning_rate="constant", random_state=0),
    # early_stopping=True is left out: its held-out split depends on how rows are
    # repeated, so check_sample_weight_equivalence cannot hold (scikit-learn's
    # SGDClassifier marks that check as an expected failure); tests/test_sgd.py covers it.
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
