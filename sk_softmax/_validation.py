"""Validation of labels, sample weights and class weights, with their messages: one path
for the estimator, CV and the dask backend (which checks the same things block by
block)."""

import numpy as np
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets

from ._compat import check_sample_weight

__all__ = [
    "check_block_weight",
    "check_class_totals",
    "check_n_classes",
    "check_weight_sum",
    "encode_known_labels",
    "encode_labels",
    "fit_sample_weight",
    "partial_fit_classes",
]


def check_n_classes(classes, owner):
    """``classes`` (sorted, unique) of classification targets, at least two.

    Raises
    ------
    ValueError
        With one class only; ``owner`` names the estimator.
    """
    check_classification_targets(classes)
    if classes.shape[0] < 2:
        raise ValueError(
            f"{owner} needs samples of at least 2 classes in the data, but "
            f"the data contains only one class: {classes[0]!r}."
        )
    return classes


def encode_labels(y, owner):
    """``(classes, y_enc)`` of classification targets, at least two classes.

    ``y_enc`` is an intp array of indices into ``classes`` (sorted); ``owner`` names the
    estimator in the error message.
    """
    check_classification_targets(y)
    classes, y_enc = np.unique(y, return_inverse=True)
    check_n_classes(classes, owner)
    return classes, y_enc.astype(np.intp, copy=False).reshape(-1)


def partial_fit_classes(classes, fitted_classes):
    """The classes of a ``partial_fit`` call.

    Parameters
    ----------
    classes : array-like or None
        The ``classes`` argument (required on the first call).
    fitted_classes : ndarray or None
        ``classes_`` of the fitted model, None on the first call.

    Returns
    -------
    all_classes : ndarray of shape (n_classes,)

    Raises
    ------
    ValueError
        On a missing or changed set of classes, or fewer than two classes.
    """
    if fitted_classes is None:
        if classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        all_classes = np.unique(classes)
        if all_classes.shape[0] < 2:
            raise ValueError(
                f"partial_fit needs at least 2 classes in `classes`, got {all_classes!r}."
            )
        return all_classes
    if classes is not None and not np.array_equal(np.unique(classes), fitted_classes):
        raise ValueError(
            f"`classes={np.unique(classes)!r}` is not the same as the classes of "
            f"the model ({fitted_classes!r}); a fitted model cannot change its classes."
        )
    return fitted_classes


def encode_known_labels(y, classes):
    """``y`` as indices into ``classes``, every label of ``y`` being one of them.

    Returns
    -------
    y_enc : ndarray of shape (n_samples,), intp

    Raises
    ------
    ValueError
        On labels outside ``classes``.
    """
    check_classification_targets(y)
    unseen = np.setdiff1d(np.unique(y), classes)
    if unseen.size:
        raise ValueError(
            f"y contains labels not in classes: {list(unseen)!r} (classes: {list(classes)!r})."
        )
    return np.searchsorted(classes, y).astype(np.intp, copy=False)


def check_class_totals(classes, totals):
    """For ``class_weight="balanced"``: every class needs a positive total weight."""
    if np.any(totals <= 0):
        raise ValueError(
            "class_weight='balanced' needs a positive total sample weight in "
            f"every class; the sample weights of class(es) {list(classes[totals <= 0])!r} "
            "sum to zero."
        )


def check_weight_sum(total):
    """The weights (times the class weights) must not all be zero."""
    if not total > 0:
        raise ValueError(
            "The sum of the sample weights (times the class weights) is zero: "
            "at least one sample must have a positive weight."
        )


def check_block_weight(sample_weight):
    """A block of sample weights checked as ``check_sample_weight`` checks all of them,
    except that a block may weigh zero (only the total must be positive)."""
    sample_weight = np.asarray(sample_weight, dtype=np.float64)
    if not np.isfinite(sample_weight).all():
        raise ValueError("Input sample_weight contains NaN or infinity.")
    if (sample_weight < 0).any():
        raise ValueError("Negative values in data passed to `sample_weight`")
    return sample_weight


def fit_sample_weight(X, y, classes, sample_weight, class_weight, allow_zero_sum=False):
    """Validated float64 sample weights with class weights folded in, or None
    (used by SoftmaxClassifier and SoftmaxClassifierCV)."""
    if sample_weight is None and class_weight is None:
        return None
    sw = check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
    if isinstance(class_weight, str):  # "balanced"
        totals = np.bincount(np.searchsorted(classes, y), weights=sw, minlength=classes.shape[0])
        check_class_totals(classes, totals)
    if class_weight is not None:
        cw = compute_class_weight(class_weight, classes=classes, y=y, sample_weight=sample_weight)
        sw = sw * cw[np.searchsorted(classes, y)]
    if not allow_zero_sum:
        check_weight_sum(sw.sum())
    return sw
