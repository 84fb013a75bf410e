"""AIS (Wu et al. 2017) against an exact log p(x), bidirectional Monte Carlo, and `unidgm eval --metrics ais`.

Linear-Gaussian model: z ~ N(0, I_d), x | z ~ N(Wz + b, s²I), so p(x) = N(b, WWᵀ + s²I) exactly.
"""

import json
import math

import pytest
import torch

from unidgm import api
from unidgm.cli import main
from unidgm.errors import ConfigError
from unidgm.eval.ais import ais, beta_schedule, gaussian_log_lik
from unidgm.data import get_dataset
from unidgm.eval.run import applicable, auto_metrics, evaluate_run

D_Z, D_X, S = 4, 10, 0.3
FAST = {"n_chains": 4, "n_steps": 20, "n_leapfrog": 3, "n_bdmc": 4}
SMALL_VAE = {"steps": 100, "model.z_dim": 4, "model.hidden": "32", "threads": 1}


def linear_gaussian(n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    w, b = torch.randn(D_X, D_Z, generator=g), torch.randn(D_X, generator=g)
    z = torch.randn(n, D_Z, generator=g)
    x = z @ w.T + b + S * torch.randn(n, D_X, generator=g)
    exact = torch.distributions.MultivariateNormal(b, w @ w.T + S * S * torch.eye(D_X)).log_prob(x)
    log_prior = lambda z: -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)  # noqa: E731
    log_lik = gaussian_log_lik(lambda z, c=None: z @ w.T + b, S)
    return (log_prior, lambda n: torch.randn(n, D_Z), log_lik), x, z, exact


def test_ais_converges_to_the_exact_linear_gaussian_log_likelihood():
    """Measured (seed 0, 20 examples, 8 chains, 5 leapfrog steps): mean AIS −21.5 (T=10), −12.5 (T=50), −10.42
    (T=200) against the exact −10.49 nats."""
    parts, x, _, exact = linear_gaussian()
    torch.manual_seed(0)
    short = ais(*parts, x, n_chains=8, n_steps=10, progress=False).log_px
    long = ais(*parts, x, n_chains=8, n_steps=200, progress=False)
    assert short.mean() < exact.mean() - 3                     # too few distributions: far below
    assert abs(float(long.log_px.mean() - exact.mean())) < 0.4  # converged
    assert (long.log_px - exact).abs().max() < 2.0               # per example, not only on average
    assert 0.5 < long.accept_rate < 0.85                         # step sizes adapted towards 0.65


def test_bdmc_brackets_the_truth_with_a_gap_that_shrinks_with_T():
    """Forward AIS from p(z) (lower bound) and reverse AIS from the codes that generated x, exact posterior
    samples (upper bound). Measured: gap 15.5 (T=10), 3.4 (T=50), 0.5 (T=200)."""
    parts, x, z, exact = linear_gaussian()
    torch.manual_seed(1)
    gaps = []
    for T in (10, 200):
        lower = ais(*parts, x, n_chains=8, n_steps=T, progress=False).log_px.mean()
        upper = ais(*parts, x, n_chains=8, n_steps=T, z_init=z, reverse=True, progress=False).log_px.mean()
        assert lower < exact.mean() + 0.2 and upper > exact.mean() - 0.2  # stochastic bounds: small slack
        gaps.append(float(upper - lower))
    assert gaps[0] > 5 and gaps[1] < 1.5 and gaps[1] < gaps[0] / 5


def test_schedules_and_refusals():
    for kind in ("sigmoid", "linear", "geometric"):
        b = beta_schedule(50, kind)
        assert b[0] == 0 and b[-1] == 1 and len(b) == 51 and bool((b[1:] > b[:-1]).all())
    with pytest.raises(ConfigError, match="schedule"):
        beta_schedule(10, "cosine")
    parts, x, _, _ = linear_gaussian(n=2)
    with pytest.raises(ConfigError, match="z_init"):
        ais(*parts, x, reverse=True, progress=False)
    with pytest.raises(ConfigError, match="n_chains"):
        ais(*parts, x, n_chains=0, progress=False)
    with pytest.raises(ConfigError, match="std"):
        gaussian_log_lik(lambda z, c=None: z, 0.0)


def test_a_seed_fixes_the_estimate():
    parts, x, _, _ = linear_gaussian(n=3)
    runs = []
    for _ in range(2):
        torch.manual_seed(3)
        runs.append(ais(*parts, x, n_chains=4, n_steps=15, progress=False).log_px)
    assert torch.equal(runs[0], runs[1])


def test_eval_ais_on_a_vae_lies_above_its_elbo():
    run = api.train("vae", "digits", overrides=SMALL_VAE, out="v", progress=False)
    res = evaluate_run(run.path, ["elbo", "ais"], max_test=20, progress=False,
                       ais={"n_chains": 4, "n_steps": 30, "n_leapfrog": 3, "n_bdmc": 4})
    a = res["ais"]
    assert "bernoulli" in a["observation"] and "sigma" not in a
    assert a["value"] > res["elbo"]["value"] and a["n_steps"] == 30 and a["n_test"] == 20
    assert a["bdmc"]["lower"] <= a["bdmc"]["upper"] + 0.5 and a["bdmc"]["n_simulated"] == 4
    assert json.loads((run.path / "metrics.json").read_text())["ais"]["value"] == a["value"]


def test_eval_ais_on_a_gan_chooses_sigma_on_training_images_and_states_it(monkeypatch):
    import unidgm.eval.run as run_mod
    run = api.train("gan", "digits", overrides={"steps": 20, "threads": 1, "model.hidden": "32"}, out="g",
                    progress=False)
    seen = []
    original = run_mod.validation_images
    monkeypatch.setattr(run_mod, "validation_images", lambda *a, **k: seen.append(1) or original(*a, **k))
    res = evaluate_run(run.path, ["ais"], max_test=10, progress=False, ais={**FAST, "n_val": 10})
    a = res["ais"]
    assert seen and a["sigma"] in a["sigma_selection"]["grid"] and "Gaussian" in a["observation"]
    assert a["sigma_selection"]["n_val"] == 10 and "training" in a["sigma_selection"]["validation"]
    scores = dict(zip(a["sigma_selection"]["grid"], a["sigma_selection"]["val_log_px"]))
    assert scores[a["sigma"]] == max(scores.values())
    fixed = evaluate_run(run.path, ["ais"], max_test=10, progress=False, ais={**FAST, "sigma": 0.1})["ais"]
    assert fixed["sigma"] == 0.1 and "sigma_selection" not in fixed


def test_critic_based_estimates_are_named_elbo_T_beside_the_true_bound():
    """AVB: no 'elbo' at all (q_η has no density), 'elbo_T' instead; the adversarial VAE: the closed-form
    'elbo' beside 'elbo_T'; the training logs name the critic's figure elbo_T too."""
    small = {"steps": 30, "model.z_dim": 4, "model.hidden": "32", "threads": 1}
    avb = api.train("avb", "digits", overrides=small, out="a", progress=False)
    adv = api.train("vae", "digits", overrides={**small, "match.z": "adversarial"}, out="adv", progress=False)
    for run in (avb, adv):
        assert "theta_eta/elbo_T" in run.metrics and "theta_eta/elbo" not in run.metrics, sorted(run.metrics)
    test = get_dataset("digits", "test")
    auto = auto_metrics(avb.model, test)
    assert "elbo_T" in auto and "elbo" not in auto and "ais" not in auto  # AIS is asked for by name
    assert "ais" in applicable(avb.model, test)
    assert {"elbo", "elbo_T", "log_likelihood"} <= set(auto_metrics(adv.model, test))
    res = evaluate_run(avb.path, ["elbo_T"], max_test=20, progress=False)
    assert "not a bound" in res["elbo_T"]["note"] and math.isfinite(res["elbo_T"]["value"])
    with pytest.raises(ConfigError, match="elbo"):
        evaluate_run(avb.path, ["elbo"], max_test=20, progress=False)
    res = evaluate_run(adv.path, ["elbo", "elbo_T", "log_likelihood", "ais"], k=50, max_test=20, progress=False,
                       ais=FAST)
    assert {"elbo", "elbo_T", "log_likelihood", "ais"} <= set(res)
    kl = api.train("vae", "digits", overrides=small, out="kl", progress=False)
    assert "theta_eta/elbo" in kl.metrics and "theta_eta/elbo_T" not in kl.metrics


def test_cli_eval_ais_flags_and_bad_values(capsys):
    run = api.train("vae", "digits", overrides=SMALL_VAE, out="c", progress=False)
    assert main(["eval", str(run.path), "--metrics", "ais", "--max-test", "5", "--ais-chains", "2",
                 "--ais-steps", "10", "--ais-leapfrog", "2", "--ais-bdmc", "0"]) == 0
    out = capsys.readouterr().out
    assert "ais" in out and "T=10" in out
    saved = json.loads((run.path / "metrics.json").read_text())["ais"]
    assert saved["n_chains"] == 2 and saved["n_leapfrog"] == 2 and "bdmc" not in saved
    assert main(["eval", str(run.path), "--metrics", "ais", "--max-test", "5", "--ais-chains", "0"]) == 2
    assert main(["eval", str(run.path), "--metrics", "ais", "--max-test", "5", "--ais-observation", "gaussian",
                 "--ais-sigma", "-1"]) == 2
    assert "n_chains" in capsys.readouterr().err


def test_ais_does_not_apply_to_an_implicit_prior():
    run = api.train("aae", "digits", overrides={"steps": 5, "model.prior": "mixture", "model.hidden": "32",
                                                "threads": 1}, out="aae", progress=False)
    with pytest.raises(ConfigError, match="ais"):
        evaluate_run(run.path, ["ais"], max_test=5, progress=False)
