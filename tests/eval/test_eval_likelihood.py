"""Importance-sampled log-likelihood and ELBO on a model with a closed-form marginal."""

import math

import pytest
import torch

from unidgm.errors import DataError, NonFiniteError
from unidgm.eval import elbo_estimate, importance_sampled_log_likelihood

S2 = 0.25  # x | z ~ N(z, S2), z ~ N(0, 1)  =>  x ~ N(0, 1 + S2)


def log_normal(v, mean, var):
    return -0.5 * (math.log(2 * math.pi * var) + (v - mean) ** 2 / var)


class LinearGaussian:
    """q(z|x) = N(0.5 x, 1): deliberately not the posterior N(0.8 x, 0.2), but with heavier tails."""

    def __init__(self, seed=0):
        self.gen = torch.Generator().manual_seed(seed)

    def log_weights(self, x, n):
        qm, qv = 0.5 * x, 1.0
        z = qm + math.sqrt(qv) * torch.randn(n, x.shape[0], generator=self.gen, dtype=torch.float64)
        return log_normal(z, 0.0, 1.0) + log_normal(x, z, S2) - log_normal(z, qm, qv)


@pytest.fixture(scope="module")
def xs():
    return torch.randn(200, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * math.sqrt(1 + S2)


def test_large_k_matches_closed_form(xs):
    est = importance_sampled_log_likelihood(LinearGaussian(0), xs, k=5000, chunk=1000, batch_size=64, progress=False)
    exact = log_normal(xs, 0.0, 1.0 + S2)
    assert est.shape == (200,) and est.dtype == torch.float64
    assert (est - exact).abs().max() < 0.15
    assert abs(float((est - exact).mean())) < 0.02


def test_bound_tightens_with_k():
    xs = torch.randn(2000, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * math.sqrt(1 + S2)
    model = LinearGaussian(2)
    elbo = float(elbo_estimate(model, xs, k=1, progress=False).mean())
    iw = [float(importance_sampled_log_likelihood(model, xs, k=k, progress=False).mean()) for k in (1, 3, 10, 30, 300)]
    exact = float(log_normal(xs, 0.0, 1.0 + S2).mean())
    # analytic ELBO: exact - KL(q || posterior), posterior N(0.8 x, 0.2), q N(0.5 x, 1)
    kl = 0.5 * (math.log(0.2) + 1 / 0.2 + float(((0.3 * xs) ** 2).mean()) / 0.2 - 1)
    assert elbo == pytest.approx(exact - kl, abs=0.1)
    assert iw[0] == pytest.approx(elbo, abs=0.1)  # k = 1 importance sampling is the single-sample ELBO
    assert elbo < iw[-1]
    assert all(a < b for a, b in zip(iw, iw[1:])), iw  # non-decreasing in k (on average over x)
    assert iw[-1] < exact + 0.01 and iw[-1] == pytest.approx(exact, abs=0.02)


class TableWeights:
    """Deterministic log-weights: sample i of example j is table[i, j] whatever the chunking."""

    def __init__(self, table):
        self.table, self.offsets = table, {}

    def __call__(self, x, n):
        key = tuple(x.long().tolist())
        start = self.offsets.get(key, 0)
        self.offsets[key] = start + n
        return self.table[start:start + n, x.long()]


def test_chunked_equals_unchunked_and_is_stable():
    gen = torch.Generator().manual_seed(0)
    k, n = 37, 10
    table = -1000.0 + 30.0 * torch.randn(k, n, generator=gen, dtype=torch.float64)  # huge negative log-weights
    x = torch.arange(n, dtype=torch.float64)
    exact = torch.logsumexp(table, 0) - math.log(k)
    whole = importance_sampled_log_likelihood(TableWeights(table), x, k=k, chunk=k, batch_size=n, progress=False)
    parts = importance_sampled_log_likelihood(TableWeights(table), x, k=k, chunk=7, batch_size=3, progress=False)
    assert torch.isfinite(whole).all()
    assert torch.allclose(whole, exact, rtol=0, atol=1e-9)
    assert torch.allclose(parts, exact, rtol=0, atol=1e-9)
    elbo = elbo_estimate(TableWeights(table), x, k=k, chunk=5, batch_size=4, progress=False)
    assert torch.allclose(elbo, table.mean(0), atol=1e-9)
    assert (whole >= elbo).all()  # Jensen


def test_bad_log_weights_are_reported():
    x = torch.zeros(4)
    with pytest.raises(DataError, match="n_samples"):
        importance_sampled_log_likelihood(lambda xb, n: torch.zeros(xb.shape[0], n), x, k=3, progress=False)
    with pytest.raises(NonFiniteError):
        importance_sampled_log_likelihood(lambda xb, n: torch.full((n, xb.shape[0]), float("nan")), x, k=3,
                                          progress=False)
    # -inf log-weights are zero weights, not errors
    lw = lambda xb, n: torch.cat([torch.full((1, xb.shape[0]), -math.inf), torch.zeros(n - 1, xb.shape[0])])
    out = importance_sampled_log_likelihood(lw, x, k=4, chunk=4, progress=False)
    assert torch.allclose(out, torch.full((4,), math.log(3 / 4), dtype=torch.float64))
