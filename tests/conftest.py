import os

# scikit-learn's check_array_api_input is skipped unless scipy is imported with array-API
# support; set it before anything imports scipy so that no estimator check is skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(params=["kernels", "numpy"])
def evaluation(request, monkeypatch):
    """Send the loss object's full-batch evaluations through the numba kernels or the
    NumPy path of small problems, whatever the problem's size, so that a test on small
    data covers both."""
    from sk_softmax._kernels import _small

    monkeypatch.setattr(_small, "SMALL_MAX_WORK",
                        0 if request.param == "kernels" else np.inf)
    return request.param
