"""VAE/GAN (Larsen et al. 2016): a VAE whose decoder is also a GAN generator — both KL directions.

The θ,η phase maximises Eq. 12 (the VAE's KL(q_η q^r_* ‖ p_θ), mode covering) plus γ times Eq. 3's
θ term on decoded prior samples (the GAN's KL(p_θ ‖ q^r), mode seeking); the φ phase trains a
discriminator on data vs decoded samples — with ``adv_on_recon=true`` also vs reconstructions
Dec(Enc(x)), as Larsen et al. do (off by default). Data is not binarised so that real and decoded images
live in the same space.
"""

from dataclasses import dataclass

import torch

from ..config import checked, one_of, positive
from ..core import (DataSpec, Discriminator, Objective, Phase, PhaseObjective, UnifiedModel, adam, elbo_eq12,
                    phi_objective_eq3)
from ..core.games import elbo_terms, theta_objective_eq3
from ..nets import ARCHS, critic_net
from ..registry import register_model
from .gan import MATCH_X
from .vae import VAEConfig, vae_model, vae_parts


@dataclass
class VAEGANConfig(VAEConfig):
    gamma: float = checked(1.0, positive, "weight of the adversarial term on decoded samples")
    lr_phi: float = checked(2e-4, positive, "discriminator learning rate")
    # Larsen et al. show D reconstructions x̃ = Dec(Enc(x)) as well as decoded prior samples; off by default
    # (the default numbers stay those of prior samples only)
    adv_on_recon: bool = checked(False, help="the adversarial term also on reconstructions (Larsen et al.)")
    d_arch: str = checked("auto", one_of(*ARCHS), "discriminator network: auto (DCGAN on images), dcgan, mlp")


def decoded(model: UnifiedModel, n: int):
    return model["decoder"].mean(model["prior"].sample(n))


def reconstructed(model: UnifiedModel, x):
    """x̃ = the decoder's mean at z ~ q_η(z|x) (reparameterised): Larsen et al.'s second kind of fake."""
    return model["decoder"].mean(model["encoder"].rsample(x)[0])


def vaegan_phi(adv_on_recon: bool) -> PhaseObjective:
    """Eq. 3 for φ: data vs decoded prior samples, and reconstructions if ``adv_on_recon``."""
    def phi(model: UnifiedModel, batch) -> Objective:
        """Eq. 3 for φ: data vs decoded prior samples (held fixed), and reconstructions if ``adv_on_recon``."""
        x, d = batch["x"], model["discriminator"]
        with torch.no_grad():
            x_fake = decoded(model, x.shape[0])
            x_recon = reconstructed(model, x) if adv_on_recon else None
        logit_real = d(x)
        obj = phi_objective_eq3(logit_real, d(x_fake))
        if x_recon is not None:  # the two fakes' terms averaged: real and generated keep equal weight
            on_recon = phi_objective_eq3(logit_real, d(x_recon))
            obj.value = 0.5 * (obj.value + on_recon.value)
            obj.terms["log_q_phi_recon"] = on_recon.terms["log_q_phi_fake"]
        return obj
    return PhaseObjective(phi, "eq3_phi")


def vaegan_theta_eta(gamma: float, match_z: str, adv_on_recon: bool) -> PhaseObjective:
    """Eq. 12 + γ · Eq. 3's θ term, the code pair matched by ``match_z``."""
    def theta_eta(model: UnifiedModel, batch) -> Objective:
        """Eq. 12 on data (q_*: every example real) + γ · Eq. 3's θ term on decoded prior samples (and, with
        ``adv_on_recon``, on reconstructions: both fakes' terms averaged, so γ keeps its scale). Entry i holds
        real example i's ELBO and generated sample i's γ-weighted Eq. 3 term (``adversarial``), which importance
        weighting (Eq. 16) may reweight: the decoder's GAN half."""
        x = batch["x"]
        log_px, kl, _, _ = elbo_terms(model, x, None, match_z)
        logit_fake = model["discriminator"](decoded(model, x.shape[0]))
        adversarial = theta_objective_eq3(logit_fake)
        if adv_on_recon:
            on_recon = theta_objective_eq3(model["discriminator"](reconstructed(model, x)))
            adversarial.value = 0.5 * (adversarial.value + on_recon.value)
            adversarial.terms["log_qr_phi_recon"] = on_recon.value.mean().detach()
        obj = elbo_eq12(log_px, kl)
        gan_half = gamma * adversarial.value
        obj.value = obj.value + gan_half
        obj.terms.update(adversarial.terms)
        if not adv_on_recon:  # with two kinds of fakes per entry the weights of Eq. 16 are not defined
            obj.logit_fake, obj.adversarial = logit_fake, gan_half
        return obj
    return PhaseObjective(theta_eta, ("eq12", "eq3_theta"),
                          provides=() if adv_on_recon else ("logit_fake", "adversarial"))


@register_model("vaegan", config=VAEGANConfig, family="VAE+GAN")
def build_vaegan(cfg: VAEGANConfig, spec: DataSpec) -> UnifiedModel:
    """VAE/GAN: VAE plus a GAN on the decoder (both KL directions)."""
    parts = vae_parts(cfg, spec)
    parts["discriminator"] = Discriminator(critic_net(cfg.d_arch, spec.x_shape, 1, 0, (256, 256)))
    model = vae_model("vaegan", cfg, spec, parts=parts, objective=vaegan_theta_eta(cfg.gamma, cfg.match_z, cfg.adv_on_recon),
                      binary_data=False)
    model.matches = (*model.matches, MATCH_X)  # the code pair's tool follows match_z
    model.phases.insert(0, Phase("phi", ("discriminator",), vaegan_phi(cfg.adv_on_recon),
                                 optim=adam(cfg.lr_phi, adversarial=True)))
    model.family = "VAE+GAN"
    return model



