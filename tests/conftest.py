import os

# scikit-learn's check_array_api_input is skipped unless scipy is imported with array-API
# support; set it before anything imports scipy so that no estimator check is skipped.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)
