"""Lemma 1 (Eq. 6) and Eq. 8 in float64: the library's generator-loss gradient equals ∇[E KL − JSD]."""

import math
import re

import numpy as np
import pytest
import torch
from scipy.integrate import quad

import unidgm.core.objectives as objectives
from unidgm.errors import ConfigError
from unidgm.theory import Lemma1Result, lemma1_check, run_lemma1
from unidgm.theory.densities import GaussianMixture1D
from unidgm.theory.lemma1 import fixed_poly_logit

THETAS = [(0.0, 0.0), (0.5, math.log(0.8)), (-1.5, math.log(1.5)), (2.5, math.log(0.4))]


def sine_logit(x):
    """A third non-optimal discriminator, passed as a callable."""
    return 1.2 * torch.sin(0.7 * x) - 0.3


@pytest.mark.parametrize("theta0", THETAS)
@pytest.mark.parametrize("disc", ["fixed", "poly", sine_logit, "optimal"])
def test_eq6_left_equals_right(theta0, disc):
    r = lemma1_check(theta0, disc)
    assert isinstance(r, Lemma1Result)
    assert np.linalg.norm(r.left) > 1e-4          # a real, non-trivial gradient
    assert r.rel_diff <= 1e-10
    np.testing.assert_allclose(r.left, r.right, rtol=0, atol=1e-10 * np.linalg.norm(r.left))


@pytest.mark.parametrize("theta0", THETAS)
def test_eq8_optimal_discriminator(theta0):
    r = lemma1_check(theta0, "optimal")
    assert r.eq8 is not None and r.eq8_rel_diff <= 1e-10
    assert np.linalg.norm(r.eq8 - r.right) <= 1e-10 * np.linalg.norm(r.right)


@pytest.mark.parametrize("theta0", THETAS)
def test_uniform_discriminator_gradients_cancel(theta0):
    r = lemma1_check(theta0, "uniform")
    assert np.linalg.norm(r.left) < 1e-10                     # exactly zero: log D is constant
    assert np.linalg.norm(r.right) < 1e-10                    # ∇½KL and ∇JSD cancel ...
    assert np.linalg.norm(r.grad_kl) > 1e-2                   # ... although each is far from zero
    np.testing.assert_allclose(r.grad_kl, r.grad_jsd, atol=1e-12)


def test_matched_generator_and_optimal_discriminator_stop_learning():
    data = GaussianMixture1D((1.0,), (0.3,), (0.9,))          # p_data = p_gθ0 ⇒ D* ≡ ½
    r = lemma1_check((0.3, math.log(0.9)), "optimal", data=data)
    assert np.linalg.norm(r.left) < 1e-12 and np.linalg.norm(r.right) < 1e-10
    assert np.linalg.norm(r.eq8) < 1e-10


def test_left_matches_hand_written_formula():
    """−½ E_ε[(1 − σ(l(x))) l'(x) · (1, σε)], x = μ + σε, by adaptive quadrature (independent of the library)."""
    mu, log_s = 0.5, math.log(0.8)
    s = math.exp(log_s)

    def integrand(eps, k):
        x = mu + s * eps
        lg = 0.3 + 0.4 * x - 0.25 * x * x
        dl = 0.4 - 0.5 * x
        phi = math.exp(-0.5 * eps * eps) / math.sqrt(2 * math.pi)
        return -0.5 * phi * dl / (1 + math.exp(lg)) * (1.0 if k == 0 else s * eps)

    hand = np.array([quad(integrand, -40, 40, args=(k,), epsabs=1e-14, epsrel=1e-13, limit=200)[0] for k in (0, 1)])
    r = lemma1_check((mu, log_s), fixed_poly_logit)
    np.testing.assert_allclose(r.left, hand, rtol=1e-10)


def test_left_goes_through_library_objective(monkeypatch):
    base = lemma1_check((0.5, math.log(0.8)), "fixed")
    original = objectives.log_q_reversed
    monkeypatch.setattr(objectives, "log_q_reversed", lambda logit, y: 2.0 * original(logit, y))
    doubled = lemma1_check((0.5, math.log(0.8)), "fixed")
    np.testing.assert_allclose(doubled.left, 2.0 * base.left, rtol=1e-12)
    np.testing.assert_allclose(doubled.right, base.right, rtol=1e-12)   # the right side does not use it


def test_unknown_discriminator():
    with pytest.raises(ConfigError, match="optimal"):
        lemma1_check((0.0, 0.0), "optimall")


def test_run_lemma1_prints_table(capsys):
    results = run_lemma1(verbose=True, thetas=THETAS[:3])
    out = capsys.readouterr().out
    assert len(results) == 12 and "Eq.8" in out and "uniform" in out
    rel = [float(v) for v in re.findall(r"\s(\d\.\de[-+]\d\d)$", out, flags=re.M)]
    assert len(rel) == 16 and max(rel) <= 1e-8          # 12 Eq. 6 rows + 3 Eq. 8 rows + the summary line
    worst = re.search(r"max rel.diff Eq. 6: (\S+)\s+max rel.diff Eq. 8: (\S+)", out)
    assert float(worst.group(1)) <= 1e-8 and float(worst.group(2)) <= 1e-8
