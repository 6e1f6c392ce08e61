"""The L-BFGS solver wrapper, on loss objects with known minimisers."""

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sk_softmax._loss import SoftmaxLoss
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
    _, n_iter, _ = minimize_lbfgs(loss, np.zeros(loss.n_params), tol=1e-8,
                                  callback=lambda coef, f: seen.append(f))
    assert len(seen) == n_iter
    assert all(b <= a for a, b in zip(seen, seen[1:]))  # monotone objective


def test_verbose_prints_gradient_norm(capsys):
    rng = np.random.default_rng(0)
    q = Quadratic(rng.standard_normal(5), np.ones(5))
    minimize_lbfgs(q, np.zeros(5), verbose=1)
    assert "|grad|_inf" in capsys.readouterr().out
