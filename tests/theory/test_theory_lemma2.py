"""Lemma 2 (Eq. 12 with the perfect discriminator) on a linear-Gaussian VAE, float64."""

import pytest

from unidgm.theory import lemma2_check, run_lemma2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lemma2_identities_exact(seed):
    r = lemma2_check(seed=seed, n_mc=20_000)
    for key in ("diff_textbook", "diff_evidence", "diff_joint", "max_per_example_diff"):
        assert r[key] <= 1e-10, key
    assert r["mean_kl_posterior"] > 1e-3                 # the encoder is not the posterior: the bound is loose
    assert r["eq12_library"] < r["mean_log_px"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lemma2_generated_samples_blocked_and_monte_carlo(seed):
    r = lemma2_check(seed=seed, n_mc=50_000)
    assert r["grad_norm_generated"] == 0.0 and r["grad_norm_real"] > 1e-3
    assert abs(r["mc_z_score"]) < 4.0
    assert abs(r["eq12_monte_carlo"] - r["textbook_elbo"]) < 0.2


def test_run_lemma2_prints(capsys):
    r = run_lemma2(verbose=True)
    out = capsys.readouterr().out
    assert "Lemma 2" in out and "log p(x) - KL(q||p(z|x))" in out and "Monte Carlo" in out
    assert r["diff_textbook"] <= 1e-10
