"""BiGAN / ALI (Donahue et al. 2017; Dumoulin et al. 2017): the symmetric view of the supplement.

A discriminator q_φ(y|x,z) over joint pairs tells data with its inferred code, (x, E_η(x)), y=1,
from generated pairs, (G_θ(z), z), y=0. Eq. 3 in the joint space: φ recognises y, θ and η
recognise the reversed y on both halves — generation and inference matched by one adversary.
"""

from ..core import (CodeDiscriminator, DataSpec, GaussianPrior, ImplicitEncoder, ImplicitGenerator, Match, Objective,
                    Phase, UnifiedModel, phi_objective_eq3, theta_objective_eq3)
from ..nets import MLP, generator_net
from ..registry import register_model
from .gan import ADAM_DCGAN, GANConfig


def _pairs(model: UnifiedModel, x):
    z = model["prior"].sample(x.shape[0])
    d = model["discriminator"]
    return d, (model["encoder"](x), x), (z, model["generator"](z))


def bigan_phi(model: UnifiedModel, batch) -> Objective:
    """Eq. 3 for φ over (x, z): real pairs (x, E(x)) vs generated pairs (G(z), z), both held fixed."""
    import torch
    with torch.no_grad():
        d, (z_real, x_real), (z_fake, x_fake) = _pairs(model, batch["x"])
    return phi_objective_eq3(d(z_real, x_real), d(z_fake, x_fake))


def bigan_theta_eta(model: UnifiedModel, batch) -> Objective:
    """Eq. 3 for θ, η: both halves with the reversed label (the encoder fools D too)."""
    d, (z_real, x_real), (z_fake, x_fake) = _pairs(model, batch["x"])
    return theta_objective_eq3(d(z_fake, x_fake), d(z_real, x_real))


@register_model("bigan", config=GANConfig, family="GAN")
def build_bigan(cfg: GANConfig, spec: DataSpec) -> UnifiedModel:
    """BiGAN/ALI: discriminator over (x, z) pairs."""
    numel = 1
    for s in spec.x_shape:
        numel *= s
    disc = CodeDiscriminator(MLP((cfg.z_dim,), (1,), cfg.hidden, cond_dim=numel, act="leaky"), joint=True)
    disc.symbol, disc.description = "q_φ(y|x,z)", "joint discriminator over (x, z)"
    parts = {"prior": GaussianPrior(cfg.z_dim),
             "generator": ImplicitGenerator(generator_net("mlp", cfg.z_dim, spec.x_shape, 0, cfg.hidden)),
             "encoder": ImplicitEncoder(MLP(spec.x_shape, (cfg.z_dim,), cfg.hidden, act="leaky"), cfg.z_dim),
             "discriminator": disc}
    adam = {**ADAM_DCGAN, "lr": cfg.lr}
    phases = [Phase("phi", ("discriminator",), bigan_phi, "eq3_phi", optim=adam),
              Phase("theta_eta", ("generator", "encoder"), bigan_theta_eta, "eq3_theta", optim=adam, over="both")]
    return UnifiedModel("bigan", "GAN", parts, phases, x_shape=spec.x_shape, num_classes=spec.num_classes,
                        generative=("discriminator",), inference=("generator", "encoder"), config=cfg,
                        matches=(Match("x,z", "p_data(x) q_η(z|x)", "p(z) p_θ(x|z)", "adversarial"),))
