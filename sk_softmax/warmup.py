"""Compile every kernel into numba's cache, ahead of time: ``python -m sk_softmax.warmup``.

The kernels compile lazily, on first use, and numba caches the machine code (next to the
package, or in ``NUMBA_CACHE_DIR``).  A Docker image, a CI job or a docs build that wants
to pay that once, up front, runs this module after installing: it fits tiny models that
reach every kernel in every variant this machine can run (float32 and float64; dense and
CSR with int32 and int64 indices; L-BFGS, SGD with and without averaging, ``partial_fit``;
serial and parallel variants; predictions), so that later processes load everything from
the cache and compile nothing.
"""

import argparse
import time
import warnings

__all__ = ["warmup"]


def warmup(verbose=False):
    """Compile (or load from numba's cache) every kernel variant.

    The fits run on data just large enough for every kernel call to take the numba
    kernels (not the NumPy evaluations of small problems) and, with two threads, their
    parallel variants; with one thread (``n_jobs=1``) they take the serial variants.  No
    setting of the package is changed on the way: fits running at the same time in
    other threads are not affected.

    Parameters
    ----------
    verbose : bool, default=False
        Print what is being compiled and how long it took.

    Returns
    -------
    seconds : float
        Wall time spent.
    """
    import numba
    import numpy as np
    import scipy.sparse as sp
    from sklearn.datasets import load_digits

    from . import _threading
    from ._classifier import SoftmaxClassifier
    from ._kernels import _small

    t0 = time.perf_counter()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    # The smallest call of a fit below is a binary CSR evaluation (nnz multiply-adds), of
    # a prediction 16 per row (a probability costs 8, binary models have 2 columns): enough
    # rows that these reach both limits (read here, never changed), and minibatches of all
    # the rows, so that SGD's steps reach them too.
    limit = max(_threading.PARALLEL_MIN_WORK, _small.SMALL_MAX_WORK)
    reps = max(-(-limit // np.count_nonzero(X)), -(-limit // (16 * X.shape[0])))
    X, y = np.tile(X, (reps, 1)), np.tile(y, reps)
    # one thread: the serial variants; two (where numba has two): the parallel ones
    variants = {"serial": 1}
    if numba.config.NUMBA_NUM_THREADS > 1:
        variants["parallel"] = 2
    for variant, n_jobs in variants.items():
        for dtype in (np.float64, np.float32):
            Xd = X.astype(dtype)
            data = {"dense": Xd, "csr int32": sp.csr_matrix(Xd)}
            wide = sp.csr_matrix(Xd)
            wide.indices = wide.indices.astype(np.int64)
            wide.indptr = wide.indptr.astype(np.int64)
            data["csr int64"] = wide
            for name, Xv in data.items():
                t1 = time.perf_counter()
                _fit_everything(SoftmaxClassifier, Xv, y, n_jobs)
                if verbose:
                    print(
                        f"{variant:8s} {np.dtype(dtype).name:7s} {name:9s} "
                        f"{time.perf_counter() - t1:6.2f} s",
                        flush=True,
                    )
    return time.perf_counter() - t0


def _fit_everything(cls, X, y, n_jobs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for yy in (y, y > 4):  # multinomial and binary share the kernels' signatures
            cls(max_iter=3, n_jobs=n_jobs).fit(X, yy).predict_log_proba(X)
        model = cls(max_iter=3, n_jobs=n_jobs).fit(X, y)
        model.predict_proba(X)
        for average in (False, True):
            sgd = cls(
                solver="sgd",
                max_iter=1,
                tol=None,
                average=average,
                n_jobs=n_jobs,
                batch_size=X.shape[0],
                random_state=0,
            )
            sgd.fit(X, y).partial_fit(X, y)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m sk_softmax.warmup",
        description="Compile every sk_softmax kernel into numba's cache.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    args = parser.parse_args(argv)
    import numba

    if not args.quiet:
        print(
            f"numba cache: {numba.config.CACHE_DIR or 'next to the package (__pycache__)'}",
            flush=True,
        )
    seconds = warmup(verbose=not args.quiet)
    if not args.quiet:
        print(f"sk_softmax kernels compiled and cached in {seconds:.1f} s")


if __name__ == "__main__":
    main()
