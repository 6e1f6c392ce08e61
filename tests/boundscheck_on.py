"""Exit non-zero unless numba checks bounds in this process (run by ``tox -e boundscheck``
before its tests, so that the env cannot pass with the checks silently off)."""

import numba
import numpy as np


@numba.njit
def _read(a, i):
    return a[i]


if __name__ == "__main__":
    try:
        _read(np.zeros(2), 5)
    except IndexError:
        print("numba bounds checking is on")
    else:
        raise SystemExit("NUMBA_BOUNDSCHECK is not in effect: an out-of-bounds read passed")
