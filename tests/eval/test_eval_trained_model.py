"""The importance-sampled log-likelihood of a *trained* model: above the ELBO and rising with k."""

import torch

from unidgm import api
from unidgm.data import binarize, get_dataset


def test_importance_sampled_estimate_rises_with_k_on_a_trained_vae():
    run = api.train("vae", "digits", overrides={"steps": 200, "model.z_dim": 8, "model.hidden": "64"}, out="r",
                    progress=False)
    x = binarize(get_dataset("digits", "test").x[:100], "fixed")
    torch.manual_seed(0)
    elbo = run.model.elbo(x).mean().item()
    ll = {k: run.model.log_likelihood(x, k=k).mean().item() for k in (1, 10, 100, 1000)}
    assert abs(ll[1] - elbo) < 1.0  # k=1 is an unbiased single-sample ELBO
    assert ll[1] < ll[10] and ll[1] + 0.1 < ll[1000]
    # on this small model the bound is tight by k≈10: larger k only removes noise (measured ±0.02)
    assert ll[100] > ll[10] - 0.05 and ll[1000] > ll[100] - 0.05
    assert ll[1000] > elbo + 0.2
