"""Each objective against a hand computation; the reverse q^r; the shared reduction."""

import math

import pytest
import torch

from unidgm.core import (Objective, elbo_eq12, iw_weights_eq16, iwae_bound, log_q, log_q_reversed,
                         loss_from, phi_objective_eq3, theta_objective_eq3)
from unidgm.errors import ConfigError


def test_reversed_discriminator_swaps_labels():
    logit = torch.tensor([-3.0, -0.5, 0.0, 2.0])
    d = torch.sigmoid(logit)
    assert torch.allclose(log_q(logit, 1), d.log())
    assert torch.allclose(log_q(logit, 0), (1 - d).log())
    assert torch.allclose(log_q_reversed(logit, 1), log_q(logit, 0))
    assert torch.allclose(log_q_reversed(logit, 0), log_q(logit, 1))


def test_phi_and_theta_objectives_by_hand():
    lr, lf = torch.tensor([1.0, -2.0]), torch.tensor([0.5, -1.0])
    phi = phi_objective_eq3(lr, lf)
    expect = torch.cat([torch.sigmoid(lr).log(), (1 - torch.sigmoid(lf)).log()])
    assert torch.allclose(phi.value, expect)
    theta = theta_objective_eq3(lf)
    assert torch.allclose(theta.value, torch.sigmoid(lf).log())  # non-saturating Eq. 5
    both = theta_objective_eq3(lf, lr)  # ADA: both domains reversed
    assert torch.allclose(both.value, torch.cat([(1 - torch.sigmoid(lr)).log(), torch.sigmoid(lf).log()]))


def test_loss_from_weights_and_normaliser():
    v = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert loss_from(Objective(v)).item() == pytest.approx(-2.5)
    w = torch.tensor([1.0, 1.0, 0.0, 0.0])
    assert loss_from(Objective(v, weight=w, normaliser=2.0)).item() == pytest.approx(-1.5)


def test_elbo_eq12_blocks_out_generated_examples():
    log_px, kl = torch.tensor([-10.0, -20.0, -99.0]), torch.tensor([1.0, 2.0, 50.0])
    w = torch.tensor([1.0, 1.0, 0.0])  # q^r_*(y=0|x): real, real, generated
    obj = elbo_eq12(log_px, kl, w, normaliser=2.0)
    assert loss_from(obj).item() == pytest.approx((11 + 22) / 2)


def test_iw_weights_by_hand():
    logits = torch.tensor([0.0, math.log(3.0), 1.0, 1.0])
    w = iw_weights_eq16(logits, k=2)
    # group 1: exp(0), exp(log 3) → 1/4, 3/4, scaled by k=2; group 2: equal logits → uniform
    assert torch.allclose(w, torch.tensor([0.5, 1.5, 1.0, 1.0]))
    assert torch.allclose(iw_weights_eq16(torch.full((6,), 0.3)), torch.ones(6))
    assert not iw_weights_eq16(logits.requires_grad_()).requires_grad
    with pytest.raises(ConfigError, match="divide"):
        iw_weights_eq16(torch.zeros(5), k=2)


def test_iw_weights_are_stable_for_large_logits():
    w = iw_weights_eq16(torch.tensor([1000.0, 0.0, -1000.0]))
    assert torch.isfinite(w).all() and w[0].item() == pytest.approx(3.0)


def test_iwae_bound_k1_is_the_elbo_and_grows_with_k():
    log_w = torch.randn(1, 4)
    assert torch.allclose(iwae_bound(log_w).value, log_w[0])
    log_w = torch.randn(50, 4)
    assert (iwae_bound(log_w).value >= log_w.mean(0)).all()  # Jensen
