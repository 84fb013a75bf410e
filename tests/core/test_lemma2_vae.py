"""Lemma 2 in the library's own VAE: Eq. 12 with q_* equals the textbook ELBO, loss and gradient."""

import torch

from unidgm.api import build_model
from unidgm.core import DataSpec, GaussianEncoder, Generated, loss_from
from unidgm.core.games import vae_objective

vae_eq12 = vae_objective("kl")


def _textbook_loss(model, x):
    z, mean, log_var = model["encoder"].rsample(x)
    elbo = model["decoder"].log_prob(x, z) - GaussianEncoder.kl_to_standard_normal(mean, log_var)
    return -elbo.mean()


def test_eq12_with_perfect_discriminator_equals_textbook_elbo():
    torch.manual_seed(0)
    model = build_model("vae", {"z_dim": 4, "hidden": (16,)}, spec=DataSpec((1, 8, 8)))
    x = torch.bernoulli(torch.rand(32, 1, 8, 8))
    torch.manual_seed(1)
    ours = loss_from(vae_eq12(model, {"x": x}))
    g_ours = torch.autograd.grad(ours, list(model.parameters()), allow_unused=True)
    torch.manual_seed(1)
    ref = _textbook_loss(model, x)
    g_ref = torch.autograd.grad(ref, list(model.parameters()), allow_unused=True)
    assert torch.allclose(ours, ref, rtol=0, atol=1e-6)
    for a, b in zip(g_ours, g_ref):
        assert (a is None and b is None) or torch.allclose(a, b, atol=1e-6)


def test_generated_samples_are_blocked_out_by_q_star():
    torch.manual_seed(0)
    model = build_model("vae", {"z_dim": 4, "hidden": (16,)}, spec=DataSpec((1, 8, 8)))
    x = torch.bernoulli(torch.rand(8, 1, 8, 8))
    fake = torch.rand(8, 1, 8, 8, requires_grad=True)
    torch.manual_seed(1)
    base = loss_from(vae_eq12(model, {"x": x}))
    torch.manual_seed(1)
    mixed = loss_from(vae_eq12(model, {"x": x}, Generated(fake)))
    assert torch.allclose(base, mixed, atol=1e-5)
    (g,) = torch.autograd.grad(mixed, [fake])
    assert g.abs().max() == 0
