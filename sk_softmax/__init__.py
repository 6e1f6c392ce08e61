"""sk_softmax: fast, scikit-learn-compatible softmax regression.

The estimators are imported on first access (PEP 562), so ``import sk_softmax`` stays cheap
(it does not import scikit-learn's estimators, nor numba) and compiles nothing; numba kernels
compile on their first call.
"""

__version__ = "0.1.0"

__all__ = ["SoftmaxClassifier", "SoftmaxClassifierCV", "__version__"]


def __getattr__(name):
    if name == "SoftmaxClassifier":
        from ._classifier import SoftmaxClassifier

        return SoftmaxClassifier
    if name == "SoftmaxClassifierCV":
        from ._cv import SoftmaxClassifierCV

        return SoftmaxClassifierCV
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
