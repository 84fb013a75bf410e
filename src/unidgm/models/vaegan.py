"""VAE/GAN (Larsen et al. 2016): a VAE whose decoder is also a GAN generator — both KL directions.

The θ,η phase maximises Eq. 12 (the VAE's KL(q_η q^r_* ‖ p_θ), mode covering) plus γ times Eq. 3's
θ term on decoded prior samples (the GAN's KL(p_θ ‖ q^r), mode seeking); the φ phase trains a
discriminator on data vs decoded samples. Data is not binarised so that real and decoded images
live in the same space.
"""

from dataclasses import dataclass

import torch

from ..config import checked, positive
from ..core import DataSpec, Discriminator, Objective, Phase, UnifiedModel, elbo_eq12, phi_objective_eq3
from ..core.games import elbo_terms, theta_objective_eq3
from ..nets import critic_net
from ..registry import register_model
from .gan import MATCH_X
from .vae import VAEConfig, vae_model, vae_parts


@dataclass
class VAEGANConfig(VAEConfig):
    gamma: float = checked(1.0, positive, "weight of the adversarial term on decoded samples")
    lr_phi: float = checked(2e-4, positive, "discriminator learning rate")


def decoded(model: UnifiedModel, n: int):
    return model["decoder"].mean(model["prior"].sample(n))


def vaegan_phi(model: UnifiedModel, batch) -> Objective:
    """Eq. 3 for φ: data vs decoded prior samples (held fixed)."""
    with torch.no_grad():
        x_fake = decoded(model, batch["x"].shape[0])
    return phi_objective_eq3(model["discriminator"](batch["x"]), model["discriminator"](x_fake))


def vaegan_theta_eta(model: UnifiedModel, batch) -> Objective:
    """Eq. 12 on data (q_*: every example real) + γ · Eq. 3's θ term on decoded prior samples."""
    x = batch["x"]
    log_px, kl, _ = elbo_terms(model, x, None, model.config.match_z)
    adversarial = theta_objective_eq3(model["discriminator"](decoded(model, x.shape[0])))
    obj = elbo_eq12(log_px, kl)
    obj.value = obj.value + model.config.gamma * adversarial.value
    obj.terms.update(adversarial.terms)
    return obj


@register_model("vaegan", config=VAEGANConfig, family="VAE+GAN")
def build_vaegan(cfg: VAEGANConfig, spec: DataSpec) -> UnifiedModel:
    """VAE/GAN: VAE plus a GAN on the decoder (both KL directions)."""
    parts = vae_parts(cfg, spec)
    parts["discriminator"] = Discriminator(critic_net("auto", spec.x_shape, 1, 0, (256, 256)))
    model = vae_model("vaegan", cfg, spec, parts=parts, objective=vaegan_theta_eta, role=("eq12", "eq3_theta"),
                      binary_data=False)
    model.matches = (*model.matches, MATCH_X)  # the code pair's tool follows match_z
    model.phases.insert(0, Phase("phi", ("discriminator",), vaegan_phi, "eq3_phi",
                                 optim={"lr": cfg.lr_phi, "betas": (0.5, 0.999)}))
    model.family = "VAE+GAN"
    return model



