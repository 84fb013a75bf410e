"""BiGAN / ALI (Donahue et al. 2017; Dumoulin et al. 2017): the symmetric view of the supplement.

A discriminator q_φ(y|x,z) over joint pairs tells data with its inferred code, (x, E_η(x)), y=1,
from generated pairs, (G_θ(z), z), y=0. Eq. 3 in the joint space: φ recognises y, θ and η
recognise the reversed y on both halves — generation and inference matched by one adversary.
"""

import math

import torch

from ..core import (CodeDiscriminator, DataSpec, GaussianPrior, ImplicitEncoder, ImplicitGenerator, Match, Objective,
                    Phase, UnifiedModel, adam, objective, phi_step, theta_objective_eq3)
from ..nets import MLP, generator_net
from ..registry import register_model
from .gan import GANConfig


def _pairs(model: UnifiedModel, x):
    """The discriminator's inputs (z, x): real pairs (E(x), x), generated pairs (z, G(z))."""
    z = model["prior"].sample(x.shape[0])
    return (model["encoder"](x), x), (z, model["generator"](z))


@objective("eq3_phi")
def bigan_phi(model: UnifiedModel, batch) -> Objective:
    """Eq. 3 for φ over (x, z): real pairs (x, E(x)) vs generated pairs (G(z), z), both held fixed."""
    return phi_step(model["discriminator"], lambda: _pairs(model, batch["x"]))


@objective("eq3_theta", over="both", provides=("logit_fake", "fake_at"))
def bigan_theta_eta(model: UnifiedModel, batch) -> Objective:
    """Eq. 3 for θ, η: both halves with the reversed label (the encoder fools D too). The generated pairs'
    entries (``fake_at``, the second half) are their Eq. 3 terms alone: importance weighting (Eq. 16) reweights them."""
    d, ((z_real, x_real), (z_fake, x_fake)) = model["discriminator"], _pairs(model, batch["x"])
    logit_fake = d(z_fake, x_fake)
    obj = theta_objective_eq3(logit_fake, d(z_real, x_real))
    n = len(logit_fake)
    obj.logit_fake, obj.fake_at = logit_fake, torch.arange(n, 2 * n, device=logit_fake.device)
    return obj


@register_model("bigan", config=GANConfig, family="GAN")
def build_bigan(cfg: GANConfig, spec: DataSpec) -> UnifiedModel:
    """BiGAN/ALI: discriminator over (x, z) pairs."""
    disc = CodeDiscriminator(MLP((cfg.z_dim,), (1,), cfg.hidden, cond_dim=math.prod(spec.x_shape), act="leaky"),
                             joint=True)
    disc.symbol, disc.description = "q_φ(y|x,z)", "joint discriminator over (x, z)"
    parts = {"prior": GaussianPrior(cfg.z_dim),
             "generator": ImplicitGenerator(generator_net("mlp", cfg.z_dim, spec.x_shape, 0, cfg.hidden)),
             "encoder": ImplicitEncoder(MLP(spec.x_shape, (cfg.z_dim,), cfg.hidden, act="leaky"), cfg.z_dim),
             "discriminator": disc}
    opt = adam(cfg.lr, adversarial=True)
    phases = [Phase("phi", ("discriminator",), bigan_phi, optim=opt),
              Phase("theta_eta", ("generator", "encoder"), bigan_theta_eta, optim=opt)]
    return UnifiedModel("bigan", "GAN", parts, phases, x_shape=spec.x_shape, num_classes=spec.num_classes,
                        generative=("discriminator",), inference=("generator", "encoder"), config=cfg,
                        matches=(Match("x,z", "p_data(x) q_η(z|x)", "p(z) p_θ(x|z)", "adversarial"),))
