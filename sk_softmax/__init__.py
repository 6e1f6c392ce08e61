"""sk_softmax: fast, scikit-learn-compatible softmax regression."""

from ._classifier import SoftmaxClassifier

__version__ = "0.1.0"

__all__ = ["SoftmaxClassifier", "__version__"]
