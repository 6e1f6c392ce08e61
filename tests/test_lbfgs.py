"""The L-BFGS solver wrapper, on loss objects with known minimisers."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sk_softmax._loss import SoftmaxLoss
from sk_softmax._precision import precision_stages
from sk_softmax._solvers import minimize_lbfgs


class Quadratic:
    """f(x) = 0.5 (x - a)^T D (x - a): minimiser a."""

    def __init__(self, a, d):
        self.a, self.d, self.calls = a, d, 0

    def loss_gradient(self, x):
        self.calls += 1
        r = x - self.a
        return 0.5 * float(r @ (self.d * r)), self.d * r


def test_finds_the_minimiser():
    rng = np.random.default_rng(0)
    q = Quadratic(rng.standard_normal(20), rng.uniform(1, 50, 20))
    x, n_iter, result = minimize_lbfgs(q, np.zeros(20), max_iter=500, tol=1e-10)
    np.testing.assert_allclose(x, q.a, atol=1e-6)
    assert 0 < n_iter <= 500
    assert result.nfev == q.calls


def test_warns_and_names_max_iter():
    rng = np.random.default_rng(0)
    q = Quadratic(rng.standard_normal(50), np.logspace(0, 4, 50))
    match = r"Increase the number of iterations \(max_iter=2\)"
    with pytest.warns(ConvergenceWarning, match=match):
        _, n_iter, _ = minimize_lbfgs(q, np.zeros(50), max_iter=2, tol=1e-12)
    assert n_iter == 2


def test_callback_once_per_iteration():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 4))
    y = rng.integers(0, 3, 100)
    loss = SoftmaxLoss(X, y, 3)
    seen = []
    _, n_iter, _ = minimize_lbfgs(
        loss, np.zeros(loss.n_params), tol=1e-8, callback=lambda coef, f: seen.append(f)
    )
    assert len(seen) == n_iter
    assert all(b <= a for a, b in zip(seen, seen[1:]))  # monotone objective


def test_verbose_prints_gradient_norm(capsys):
    rng = np.random.default_rng(0)
    q = Quadratic(rng.standard_normal(5), np.ones(5))
    minimize_lbfgs(q, np.zeros(5), verbose=1)
    assert "|grad|_inf" in capsys.readouterr().out


# -- two precisions: a float32 stage, then a float64 one ------------------------------


class Shifted(Quadratic):
    """A coarse stand-in whose minimiser is off by ``shift``: only a float64 stage that
    checks the stopping test on the exact loss can end at ``a``."""

    def __init__(self, a, d, shift, nan_after=None):
        super().__init__(a + shift, d)
        self.nan_after = nan_after

    def loss_gradient(self, x):
        value, grad = super().loss_gradient(x)
        if self.nan_after is not None and self.calls > self.nan_after:
            return np.nan, np.full_like(grad, np.nan)
        return value, grad


def _problem(seed=0, n=20):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(n), rng.uniform(1, 50, n)


def test_two_stages_end_on_the_exact_loss():
    a, d = _problem()
    exact, coarse = Quadratic(a, d), Shifted(a, d, 1e-2)
    x, n_iter, result = minimize_lbfgs(
        exact, np.zeros(20), max_iter=500, tol=1e-10, float32_loss=coarse
    )
    # the coarse minimiser is 1e-2 away; scipy's ftol test ends both solves near 1e-8
    np.testing.assert_allclose(x, a, atol=1e-6)
    assert 0 < result.float32_nit < n_iter  # both stages iterated
    assert result.nfev == exact.calls + coarse.calls


def test_float32_stage_stops_at_the_floor():
    from sk_softmax._precision import FLOAT32_STAGE_TOL_FLOOR

    a, d = _problem()
    grads = []

    class Recording(Shifted):
        def loss_gradient(self, x):
            value, grad = super().loss_gradient(x)
            grads.append(np.max(np.abs(grad)))
            return value, grad

    exact = Quadratic(a, d)
    _, _, result = minimize_lbfgs(
        exact, np.zeros(20), max_iter=500, tol=1e-12, float32_loss=Recording(a, d, 0.0)
    )
    # the float32 stage ended on its first gradient below the floor, not at tol
    assert grads[-1] <= FLOAT32_STAGE_TOL_FLOOR < min(grads[:-1])
    assert exact.calls >= 1


def test_a_float32_stage_that_meets_tol_costs_one_float64_evaluation():
    a, d = _problem()
    exact = Quadratic(a, d)
    x, n_iter, result = minimize_lbfgs(
        exact, np.zeros(20), max_iter=500, tol=1e-4, float32_loss=Shifted(a, d, 0.0)
    )
    assert exact.calls == 1
    assert n_iter == result.float32_nit > 0
    assert result.status == 0


def test_non_finite_float32_evaluation_hands_over_to_float64():
    a, d = _problem()
    coarse = Shifted(a, d, 0.0, nan_after=4)
    accepted, starts = [np.zeros(20)], []

    class Exact(Quadratic):
        def loss_gradient(self, x):
            if not starts:
                starts.append(np.array(x))
            return super().loss_gradient(x)

    exact = Exact(a, d)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # neither scipy nor we warn about the NaN
        x, n_iter, result = minimize_lbfgs(
            exact,
            np.zeros(20),
            max_iter=500,
            tol=1e-10,
            float32_loss=coarse,
            callback=lambda coef, f: accepted.append(np.array(coef)),
        )
    # the float64 stage starts from the last iterate the float32 stage accepted, not
    # from the point whose evaluation overflowed
    assert 0 < result.float32_nit <= 4
    assert coarse.calls == 5  # the first overflow ends the stage (scipy would retry ~35x)
    np.testing.assert_array_equal(starts[0], accepted[result.float32_nit])
    np.testing.assert_allclose(x, a, atol=1e-6)
    assert n_iter > result.float32_nit


def test_max_iter_spent_in_the_float32_stage_warns_once():
    a, d = np.zeros(50), np.logspace(0, 4, 50)
    exact = Quadratic(a + 1.0, d)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, n_iter, result = minimize_lbfgs(
            exact, np.zeros(50), max_iter=3, tol=1e-12, float32_loss=Shifted(a + 1.0, d, 0.0)
        )
    messages = [str(w.message) for w in caught if w.category is ConvergenceWarning]
    assert len(messages) == 1 and "max_iter=3" in messages[0]
    assert n_iter == 3 and exact.calls == 1  # only the float64 stopping test


def test_callback_stop_in_the_float32_stage_ends_the_solve():
    a, d = _problem()
    exact, seen = Quadratic(a, d), []

    def stop_at_two(coef, f):
        seen.append(f)
        if len(seen) == 2:
            raise StopIteration

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        _, n_iter, _ = minimize_lbfgs(
            exact, np.zeros(20), tol=1e-12, callback=stop_at_two, float32_loss=Shifted(a, d, 0.0)
        )
    assert n_iter == 2 and exact.calls == 0


def test_the_float32_stage_reaches_the_float64_objective(rng):
    # digits-sized: the kernels evaluate (not NumPy), so a float32 stage is made
    X = rng.standard_normal((1500, 40))
    y = (X[:, :3] @ rng.standard_normal((3, 4))).argmax(axis=1)
    y = np.where(rng.random(1500) < 0.2, rng.integers(0, 4, 1500), y)
    loss = SoftmaxLoss(X, y, 4, C=0.5)
    twin = precision_stages(loss).float32
    assert twin is not None and twin.X.dtype == np.float32
    x64, _, r64 = minimize_lbfgs(loss, np.zeros(loss.n_params), max_iter=2000, tol=1e-9)
    xmp, _, rmp = minimize_lbfgs(
        loss, np.zeros(loss.n_params), max_iter=2000, tol=1e-9, float32_loss=twin
    )
    assert rmp.float32_nit > 0
    f64, fmp = loss.loss(x64), loss.loss(xmp)
    assert r64.status == rmp.status == 0
    assert abs(fmp - f64) <= 1e-8 * f64
    np.testing.assert_allclose(xmp, x64, atol=1e-6)


# -- the Jacobi scaling ------------------------------------------------------------------
def _data(rng, n=300, d=6, n_classes=3):
    X = rng.standard_normal((n, d)) * np.logspace(-2, 2, d)  # columns of scales 1e-2..1e2
    X[:, 0] = 0.0  # a column of zeros: no curvature at all at C = inf
    y = rng.integers(0, n_classes, n)
    y[:5] = np.arange(5) % n_classes
    return X, y


@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_curvature_diagonal_is_the_hessian_diagonal_at_the_start(n_classes, sparse, weighted):
    """At zero weights and the intercepts at the class shares' logits (where the optimum
    of the intercepts alone is) the estimate is the exact Hessian diagonal."""
    import scipy.sparse as sp

    from . import reference as ref

    rng = np.random.default_rng(0)
    X, y = _data(rng, n_classes=n_classes)
    X[rng.random(X.shape) < 0.3] = 0.0
    sw = rng.uniform(0.2, 3.0, X.shape[0]) if weighted else None
    factor = np.linspace(0.0, 2.0, X.shape[1])
    C = 0.3
    loss = SoftmaxLoss(sp.csr_array(X) if sparse else X, y, n_classes, sw, C=C,
                       penalty_factor=factor)  # fmt: skip
    shares = np.bincount(y, weights=sw, minlength=n_classes)
    shares = shares / shares.sum()
    binary = n_classes == 2
    b = np.log(shares[1:] / shares[0]) if binary else np.log(shares)
    W = np.zeros((loss.layout.K, X.shape[1]))
    h_W, h_b = ref.hessian_diagonal(X, y, W, b, C, sw, binary, factor)
    h = loss.curvature_diagonal().reshape(loss.layout.coef_shape)
    np.testing.assert_allclose(h[:, :-1], h_W, rtol=1e-12, atol=0)
    np.testing.assert_allclose(h[:, -1], h_b, rtol=1e-12)


def test_scaling_converges_on_badly_scaled_columns():
    """Columns of scales 1e-2..1e2: unscaled L-BFGS is far from the optimum after 300
    iterations; scaled, it meets tol on the unscaled gradient well before."""
    rng = np.random.default_rng(1)
    X, y = _data(rng, n=2000)
    loss = SoftmaxLoss(X, y, 3, C=10.0)
    h = loss.curvature_diagonal()
    tol = 1e-6
    x, n_iter, result = minimize_lbfgs(loss, np.zeros(loss.n_params), max_iter=300, tol=tol,
                                       curvature=h)  # fmt: skip
    assert result.message == "CONVERGENCE: NORM OF PROJECTED GRADIENT <= PGTOL"
    assert n_iter < 100
    assert np.max(np.abs(loss.loss_gradient(x)[1])) <= tol  # the test on coef, not coef / s
    with pytest.warns(ConvergenceWarning):
        minimize_lbfgs(loss, np.zeros(loss.n_params), max_iter=300, tol=tol)


@pytest.mark.parametrize("precond", ["diagonal", "kronecker"])
def test_preconditioned_solve_at_its_optimum_takes_no_iteration(precond):
    rng = np.random.default_rng(2)
    X, y = _data(rng)
    loss = SoftmaxLoss(X, y, 3, C=1.0)
    if precond == "diagonal":
        kw = {"curvature": loss.curvature_diagonal()}
    else:
        kw = {"kronecker": loss.curvature_kronecker()}
    x, _, _ = minimize_lbfgs(loss, np.zeros(loss.n_params), tol=1e-9, **kw)
    calls = []
    x2, n_iter, result = minimize_lbfgs(
        loss, x, tol=1e-6, callback=lambda c, f: calls.append(f), **kw
    )
    assert n_iter == 0 and result.nfev == 1 and result.status == 0 and not calls
    np.testing.assert_array_equal(x2, x)


def test_jacobi_scale_guards():
    from sk_softmax._solvers._lbfgs import jacobi_scale

    assert jacobi_scale(None) is None
    assert jacobi_scale(np.zeros(4)) is None
    # spread below MIN_CURVATURE_SPREAD: no scaling; above: scaled
    assert jacobi_scale(np.array([1.0, 2.0, 300.0, 3.0])) is None
    assert jacobi_scale(np.array([1.0, 2.0, 300.0, 1e-6])) is not None
    s = jacobi_scale(np.array([4.0, 1.0, 0.0, 0.25]))
    assert np.all(np.isfinite(s)) and np.median(s) == pytest.approx(1.0)
    # a curvature of 0 is raised to 1e-12 of the largest: finite, the largest scale
    assert s[2] == s.max() and s[2] / s[1] == pytest.approx(1.0 / np.sqrt(1e-12 * 4.0))


# -- the two-loop recursion (L-BFGS's, and OWL-QN's on the free coordinates) ----------------
def _bfgs_inverse(pairs, n):
    """The dense inverse-Hessian estimate the recursion applies: ``(s.y / y.y) I`` from
    the newest pair, then the BFGS update by each pair, oldest first."""
    s, y = pairs[-1]
    H = float(s @ y) / float(y @ y) * np.eye(n)
    for s, y in pairs:
        rho = 1.0 / float(s @ y)
        V = np.eye(n) - rho * np.outer(y, s)
        H = V.T @ H @ V + rho * np.outer(s, s)
    return H


def test_two_loop_is_the_bfgs_matrix():
    from sk_softmax._solvers._lbfgs import two_loop

    rng = np.random.default_rng(0)
    A = rng.standard_normal((6, 6))
    A = A @ A.T + np.eye(6)
    pairs = [(s, A @ s) for s in rng.standard_normal((4, 6))]
    g = rng.standard_normal(6)
    got = two_loop(g, [(s, y, 1.0 / float(s @ y)) for s, y in pairs])
    np.testing.assert_allclose(got, _bfgs_inverse(pairs, 6) @ g, rtol=1e-12)
    np.testing.assert_array_equal(two_loop(g, []), g)  # no pair: the identity


def test_owlqn_two_loop_runs_on_the_free_coordinates():
    from sk_softmax._solvers._owlqn import _two_loop

    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 6))
    A = A @ A.T + np.eye(6)
    pairs = [(s, A @ s) for s in rng.standard_normal((4, 6))]
    free = np.array([True, False, True, True, False, True])
    # a pair whose restricted curvature is negative is left out
    bad = (np.where(free, 1.0, 5.0), -np.where(free, 1.0, 7.0))
    g = rng.standard_normal(6)
    got = _two_loop(g, pairs[:2] + [bad] + pairs[2:], free)
    sub = [(s[free], y[free]) for s, y in pairs]
    sub = [(s, y) for s, y in sub if s @ y > 1e-10 * (y @ y)]
    assert len(sub) >= 2  # (with this seed one of the four pairs is left out too)
    expected = np.zeros(6)
    expected[free] = _bfgs_inverse(sub, int(free.sum())) @ g[free]
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.all(got[~free] == 0.0)


# -- L-BFGS without bounds (lbfgs_unbounded) -----------------------------------------------
def _recorded(fun, values):
    def wrapped(x):
        value, grad = fun(x)
        values.append(value)
        return value, grad

    return wrapped


@pytest.mark.parametrize("data", ["iris", "digits"])
def test_unbounded_lbfgs_is_lbfgsb_without_bounds(data):
    """The same objective values, evaluation for evaluation, as scipy's L-BFGS-B until
    rounding parts them (iris: the whole solve)."""
    from scipy import optimize
    from sklearn.datasets import load_digits, load_iris

    from sk_softmax._solvers._lbfgs import _FTOL, lbfgs_unbounded

    X, y = (load_iris if data == "iris" else load_digits)(return_X_y=True)
    loss = SoftmaxLoss(X / X.max(), y, len(np.unique(y)), C=1.0)
    x0 = np.zeros(loss.n_params)
    theirs, ours = [], []
    opts = dict(maxiter=1000, gtol=1e-6, ftol=_FTOL, maxls=50)
    ref = optimize.minimize(
        _recorded(loss.loss_gradient, theirs), x0, method="L-BFGS-B", jac=True, options=opts
    )
    res = lbfgs_unbounded(_recorded(loss.loss_gradient, ours), x0, None, **opts)
    n = 36 if data == "iris" else 60  # digits: rounding parts them after ~70 evaluations
    np.testing.assert_allclose(ours[:n], theirs[:n], rtol=1e-12)
    assert res.status == ref.status == 0
    assert np.max(np.abs(res.jac)) <= 1e-6
    assert res.fun == pytest.approx(ref.fun, rel=1e-7)  # both stopped at |g| <= 1e-6
    if data == "iris":
        assert (res.nit, res.nfev) == (ref.nit, ref.nfev)


def test_unbounded_lbfgs_statuses():
    from sk_softmax._solvers._lbfgs import _FTOL, lbfgs_unbounded

    rng = np.random.default_rng(0)
    q = Quadratic(rng.standard_normal(30), np.logspace(0, 3, 30))
    opts = dict(maxls=50, gtol=1e-10, ftol=_FTOL)
    assert lbfgs_unbounded(q.loss_gradient, np.zeros(30), None, maxiter=3, **opts).status == 1

    def stop(result):
        raise StopIteration

    r = lbfgs_unbounded(q.loss_gradient, np.zeros(30), stop, maxiter=100, **opts)
    assert (r.status, r.nit) == (99, 1)
    r = lbfgs_unbounded(q.loss_gradient, q.a.copy(), None, maxiter=100, **opts)
    assert (r.status, r.nit, r.nfev) == (0, 0, 1)  # at the minimiser: no iteration
    # the relative decrease test ends a solve whose gradient test cannot be met
    r = lbfgs_unbounded(q.loss_gradient, np.zeros(30), None, maxiter=1000,
                        maxls=50, gtol=0.0, ftol=_FTOL)  # fmt: skip
    assert r.status == 0 and "REDUCTION" in r.message


def test_unbounded_lbfgs_line_search_failure_restarts_then_stops():
    """A gradient that is not the objective's: the line search fails, the memory is
    cleared and steepest descent tried once more, then the solve stops (status 2)."""
    from sk_softmax._solvers._lbfgs import _FTOL, lbfgs_unbounded

    calls = []

    def wrong(x):  # f increases along -g everywhere
        calls.append(1)
        return float(x @ x), -2.0 * x + 1.0

    r = lbfgs_unbounded(wrong, np.ones(4), None, maxiter=100, maxls=5, gtol=1e-8, ftol=_FTOL)
    assert r.status == 2 and not r.success and "LINE SEARCH" in r.message
    assert r.nit == 0 and len(calls) == r.nfev <= 1 + 2 * 5


# -- the Kronecker preconditioner --------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 4])
@pytest.mark.parametrize("weighted", [False, True])
def test_kronecker_curvature_is_the_hessians_class_blocks_at_the_start(n_classes, weighted):
    """With all rows in the second moment (n below KRONECKER_MIN_ROWS), ``c_k S +
    diag(p)`` is the Hessian's block of class k at the fit's start."""
    from . import reference as ref

    rng = np.random.default_rng(3)
    X, y = _data(rng, n_classes=n_classes)
    sw = rng.uniform(0.2, 3.0, X.shape[0]) if weighted else None
    factor = np.linspace(0.0, 2.0, X.shape[1])
    C = 0.3
    loss = SoftmaxLoss(X, y, n_classes, sw, C=C, penalty_factor=factor)
    c, S, p = loss.curvature_kronecker()
    shares = np.bincount(y, weights=sw, minlength=n_classes)
    shares = shares / shares.sum()
    binary = n_classes == 2
    b = np.log(shares[1:] / shares[0]) if binary else np.log(shares)
    W = np.zeros((loss.layout.K, X.shape[1]))
    blocks = ref.hessian_class_blocks(X, y, W, b, C, sw, binary, factor)
    ours = c[:, None, None] * S[None] + np.stack([np.diag(p)] * len(c))
    np.testing.assert_allclose(ours, blocks, rtol=1e-10, atol=1e-13 * np.abs(blocks).max())


def test_kronecker_curvature_rows_and_refusals():
    import scipy.sparse as sp

    from sk_softmax import _loss

    rng = np.random.default_rng(4)
    n = 3 * _loss.KRONECKER_MIN_ROWS
    X = rng.standard_normal((n, 5))
    y = rng.integers(0, 3, n)
    # the correlations of every third row (evenly spaced, deterministic), the scales of
    # all rows; no intercept column
    loss = SoftmaxLoss(X, y, 3, fit_intercept=False)
    rows = np.arange(0, n, 3)
    sample = X[rows].T @ X[rows] / rows.size
    corr = sample / np.sqrt(np.outer(np.diag(sample), np.diag(sample)))
    scale = np.sqrt(np.mean(X * X, axis=0))
    np.testing.assert_allclose(loss.curvature_kronecker().second_moment,
                               corr * np.outer(scale, scale), rtol=1e-12)  # fmt: skip
    assert SoftmaxLoss(sp.csr_array(X), y, 3).curvature_kronecker() is None
    wide = np.zeros((4, _loss.KRONECKER_MAX_FEATURES + 1))
    assert SoftmaxLoss(wide, np.arange(4) % 2, 2).curvature_kronecker() is None
    zero = SoftmaxLoss(X[:50], y[:50], 3, np.zeros(50), penalty_weight_sum=1.0)
    assert zero.curvature_kronecker() is None


def test_kronecker_change_of_variables_and_its_adjoint():
    from sk_softmax._solvers._lbfgs import kronecker_preconditioner

    rng = np.random.default_rng(5)
    X, y = _data(rng, n_classes=3)
    loss = SoftmaxLoss(X, y, 3, C=np.inf)  # a zero column, no penalty: the floor applies
    pre = kronecker_preconditioner(loss.curvature_kronecker())
    coef, v, g = (rng.standard_normal(loss.n_params) for _ in range(3))
    np.testing.assert_allclose(pre.to_coef(pre.to_v(coef)), coef, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(pre.grad_coef(pre.grad_v(g)), g, rtol=1e-9, atol=1e-12)
    # grad_v is the adjoint of to_coef: the chain rule of f(to_coef(v))
    assert pre.grad_v(g) @ v == pytest.approx(g @ pre.to_coef(v), rel=1e-10)


def test_kronecker_preconditioner_refusals():
    from sk_softmax._loss import KroneckerCurvature
    from sk_softmax._solvers._lbfgs import kronecker_preconditioner

    S = np.eye(3)
    assert kronecker_preconditioner(KroneckerCurvature(np.zeros(2), S, np.zeros(3))) is None
    assert kronecker_preconditioner(KroneckerCurvature(np.ones(2), 0 * S, np.zeros(3))) is None
    bad = S.copy()
    bad[0, 1] = np.nan
    assert kronecker_preconditioner(KroneckerCurvature(np.ones(2), bad, np.zeros(3))) is None


def test_kronecker_solve_needs_fewer_iterations_and_stops_on_coef_gradient():
    """Correlated, uncentred columns (digits' pixels): far fewer iterations than
    unpreconditioned L-BFGS, the same optimum, and the stopping test on coef's
    gradient."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    loss = SoftmaxLoss(X / 16.0, y, 10, C=1.0)
    tol = 1e-6
    x0 = np.zeros(loss.n_params)
    plain, it_plain, _ = minimize_lbfgs(loss, x0, max_iter=1000, tol=tol)
    x, n_iter, result = minimize_lbfgs(loss, x0, max_iter=1000, tol=tol,
                                       kronecker=loss.curvature_kronecker())  # fmt: skip
    assert result.status == 0 and n_iter < it_plain / 2
    assert np.max(np.abs(loss.loss_gradient(x)[1])) <= tol
    # both within tol of the optimum: the objectives agree to about tol^2 / curvature
    assert loss.loss(x) == pytest.approx(loss.loss(plain), rel=1e-6)


def test_kronecker_refresh_rule():
    """The factor is refreshed once the objective falls below ``phi / 4`` of half the
    classes' curvature, with ``c`` scaled by ``phi = 2 f / sum(c)``; never without a
    penalty (the factor would be the same)."""
    from sk_softmax._loss import KroneckerCurvature
    from sk_softmax._solvers._lbfgs import (
        _KRONECKER_REFRESH,
        kronecker_preconditioner,
        refreshed,
    )

    rng = np.random.default_rng(3)
    B = rng.standard_normal((50, 4))
    curvature = KroneckerCurvature(np.array([0.2, 0.25]), B.T @ B / 50, np.full(4, 0.01))
    first = kronecker_preconditioner(curvature)
    below = first.refresh_below()
    assert below == pytest.approx(0.45 / 2 / _KRONECKER_REFRESH)
    assert refreshed(first, 1.01 * below) is first
    value = 0.5 * below
    new = refreshed(first, value)
    phi = 2 * value / 0.45
    assert new.phi == pytest.approx(phi)
    expected = kronecker_preconditioner(
        curvature._replace(class_curvature=curvature.class_curvature * phi)
    )
    np.testing.assert_allclose(new.L, expected.L, rtol=1e-12)
    assert new.refresh_below() == pytest.approx(phi * below)
    # the penalty weighs more in the new factor: its share of A's diagonal grew
    assert not np.allclose(new.L, first.L)
    no_penalty = kronecker_preconditioner(curvature._replace(penalty_curvature=np.zeros(4)))
    assert no_penalty.refresh_below() is None
    assert refreshed(no_penalty, 0.0) is no_penalty


def test_kronecker_refresh_on_separable_data(monkeypatch):
    """Digits at a weak penalty (nearly separable): the start's estimate weighs the data
    as if every row still contributed curvature; refreshing it as the objective falls
    reaches the optimum in far fewer iterations, each iterate seen once by the callback,
    the classes' intercepts still summing to zero."""
    from sklearn.datasets import load_digits

    from sk_softmax._solvers import _lbfgs

    X, y = load_digits(return_X_y=True)
    loss = SoftmaxLoss(X / 16.0, y, 10, C=100.0)
    tol = 1e-6
    x0 = np.zeros(loss.n_params)
    kw = dict(max_iter=2000, tol=tol, kronecker=loss.curvature_kronecker())
    phis = []
    original = _lbfgs.kronecker_preconditioner

    def spy(curvature, phi=1.0):
        phis.append(phi)
        return original(curvature, phi)

    seen = []
    with monkeypatch.context() as patch:
        patch.setattr(_lbfgs, "kronecker_preconditioner", spy)
        x, n_iter, result = minimize_lbfgs(
            loss, x0, callback=lambda coef, value: seen.append(value), **kw
        )
    assert result.status == 0 and np.max(np.abs(loss.loss_gradient(x)[1])) <= tol
    assert len(phis) >= 3 and phis[0] == 1.0 and all(np.diff(phis) < 0)  # refreshed
    assert len(seen) == n_iter
    with monkeypatch.context() as patch:
        patch.setattr(_lbfgs, "_KRONECKER_REFRESH", np.inf)  # never refreshed
        x_kept, n_kept, _ = minimize_lbfgs(loss, x0, **kw)
    assert n_iter < 0.75 * n_kept
    # both within tol of the optimum; the objective is flat at this weak penalty
    assert loss.loss(x) == pytest.approx(loss.loss(x_kept), rel=1e-5)
    intercepts = x.reshape(loss.layout.coef_shape)[:, -1]
    assert abs(intercepts.sum()) < 1e-10 * np.abs(intercepts).max()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_kronecker_refresh_at_a_warm_start(monkeypatch):
    """A warm start already below the refresh level (a path of C) starts with the
    refreshed factor, not with the start's estimate for one iteration."""
    from sklearn.datasets import load_digits

    from sk_softmax._solvers import _lbfgs

    X, y = load_digits(return_X_y=True)
    loss = SoftmaxLoss(X / 16.0, y, 10, C=100.0)
    kronecker = loss.curvature_kronecker()
    below = _lbfgs.kronecker_preconditioner(kronecker).refresh_below()
    warm, _, _ = minimize_lbfgs(loss, np.zeros(loss.n_params), max_iter=40, tol=1e-6)
    value = loss.loss(warm)
    assert value < below
    phis = []
    original = _lbfgs.kronecker_preconditioner

    def spy(curvature, phi=1.0):
        phis.append(phi)
        return original(curvature, phi)

    monkeypatch.setattr(_lbfgs, "kronecker_preconditioner", spy)
    x, n_iter, result = minimize_lbfgs(loss, warm, max_iter=2000, tol=1e-6, kronecker=kronecker)
    assert result.status == 0 and n_iter > 0
    assert phis[:2] == [1.0, pytest.approx(2 * value / kronecker.class_curvature.sum())]


def test_kronecker_refresh_bookkeeping(monkeypatch):
    """Across refreshes: every evaluation counted once and none repeated (a restart's
    point is not evaluated again), max_iter respected exactly (a refresh asked on the
    last iteration ends as the limit), and the float64 stage starts with the factor the
    float32 stage refreshed."""
    from sklearn.datasets import load_digits

    from sk_softmax._solvers import _lbfgs

    X, y = load_digits(return_X_y=True)
    loss = SoftmaxLoss(X / 16.0, y, 10, C=100.0)
    x0 = np.zeros(loss.n_params)
    kronecker = loss.curvature_kronecker()
    calls = []

    class Counted:
        def loss_gradient(self, coef):
            calls.append(coef.copy())
            return loss.loss_gradient(coef)

    phis = []
    original = _lbfgs.kronecker_preconditioner
    monkeypatch.setattr(
        _lbfgs,
        "kronecker_preconditioner",
        lambda curvature, phi=1.0: phis.append(phi) or original(curvature, phi),
    )
    x, n_iter, result = minimize_lbfgs(Counted(), x0, max_iter=500, tol=1e-6, kronecker=kronecker)
    assert result.status == 0 and len(phis) >= 3
    assert result.nfev == len(calls)
    assert not any(np.allclose(a, b, rtol=1e-12, atol=0) for a, b in zip(calls, calls[1:]))
    # the iterations at which the factor was refreshed: stop one short of each
    for max_iter in range(1, 16):
        phis.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, n, res = minimize_lbfgs(loss, x0, max_iter=max_iter, tol=1e-6, kronecker=kronecker)
        assert n == max_iter and res.status == 1
        assert any(issubclass(w.category, ConvergenceWarning) for w in caught)
    # two stages: the float64 stage goes on with the float32 stage's last factor
    X32 = SoftmaxLoss((X / 16.0).astype(np.float32), y, 10, C=100.0)
    phis.clear()
    x, n_iter, result = minimize_lbfgs(
        loss, x0, max_iter=500, tol=1e-6, kronecker=kronecker, float32_loss=X32
    )
    assert result.status == 0 and result.float32_nit > 0
    assert phis[0] == 1.0 and all(np.diff(phis) < 0)  # never back to the start's factor


def test_bounds_take_the_diagonal_scaling():
    """A box is no box after the Kronecker change of variables: with bounds the
    estimate is ignored and the diagonal scaling (if any) used."""
    from sk_softmax._solvers._lbfgs import _Diagonal, _Kronecker, _stages

    rng = np.random.default_rng(7)
    X, y = _data(rng)
    loss = SoftmaxLoss(X, y, 3, C=1.0)
    kw = dict(kronecker=loss.curvature_kronecker(), curvature=loss.curvature_diagonal())
    n = loss.n_params
    assert isinstance(_stages(np.zeros(n), **kw)[3], _Kronecker)
    bounds = (np.full(n, -1.0), np.full(n, 1.0))
    assert isinstance(_stages(np.zeros(n), bounds=bounds, **kw)[3], _Diagonal)


@pytest.mark.parametrize("precond", ["kronecker", "diagonal"])
def test_preconditioned_solves_keep_the_classes_sum(precond):
    """The softmax's gradient sums to zero over the classes, so unpreconditioned L-BFGS
    from zero keeps the sum of the intercepts (which the objective leaves free) at zero,
    as LogisticRegression does; the preconditioners scale every class alike to keep it
    (imbalanced classes: per-class curvatures would move it)."""
    rng = np.random.default_rng(8)
    X, _ = _data(rng, n=600)
    y = np.minimum(rng.geometric(0.5, X.shape[0]) - 1, 3)  # shares ~ 1/2, 1/4, 1/8, 1/8
    loss = SoftmaxLoss(X, y, 4, C=1.0)
    kw = {"n_class_rows": loss.layout.K}
    if precond == "kronecker":
        kw["kronecker"] = loss.curvature_kronecker()
    else:
        kw["curvature"] = loss.curvature_diagonal()
    x, _, result = minimize_lbfgs(loss, np.zeros(loss.n_params), tol=1e-8, max_iter=500, **kw)
    assert result.status == 0
    coef = x.reshape(loss.layout.coef_shape)
    assert abs(coef[:, -1].sum()) < 1e-12 * np.abs(coef[:, -1]).max() * 10


def test_kronecker_scales_come_from_all_rows():
    """A column that is zero on every sampled row (a periodic one: every 4th row is
    sampled here) keeps its scale from all the rows; from the sample alone it would get no
    curvature, and the solve would stall far from tol (review of the preconditioner:
    max |grad| 2.4e-2 at a 'converged' stop)."""
    from sk_softmax import SoftmaxClassifier
    from sk_softmax._loss import KRONECKER_MIN_ROWS

    rng = np.random.default_rng(0)
    n = 4 * KRONECKER_MIN_ROWS
    X = rng.standard_normal((n, 5))
    X[:, 0] = np.arange(n) % 2  # zero on the even rows, the only ones sampled
    y = (X[:, 1] + 2 * X[:, 0] + rng.standard_normal(n) > 0.5).astype(int)
    loss = SoftmaxLoss(X, y, 2, C=np.inf)
    S = loss.curvature_kronecker().second_moment
    assert S[0, 0] == pytest.approx(0.5)  # mean(x_0^2) over all rows
    clf = SoftmaxClassifier(C=np.inf).fit(X, y)
    coef = loss.pack(clf.coef_, clf.intercept_)
    assert np.max(np.abs(loss.loss_gradient(coef)[1])) <= 1e-4
