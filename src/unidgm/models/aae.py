"""Adversarial autoencoder (Makhzani et al. 2016): a GAN in code space, x and z swapped.

Reconstruction matches p_θ(x|z) to the data; a code discriminator q_ψ(y|z) matches the aggregate
q_η(z|x) to the prior p(z) by Eq. 3 in z-space (prior codes y=1, inferred codes y=0). It is the
VAE recipe with ``match.z=adversarial`` and a code-only discriminator (the VAE's adversarial tool
uses a joint T(x, z) for the per-example KL instead); because the adversary needs only samples of
p(z), the prior may be implicit (``prior=mixture|swissroll``).
"""

from dataclasses import dataclass

from ..config import checked, one_of
from ..core import DataSpec, GaussianPrior, ImplicitPrior, UnifiedModel
from ..errors import ConfigError
from ..registry import register_model
from .vae import VAEConfig, vae_model, vae_parts


@dataclass
class AAEConfig(VAEConfig):
    z_dim: int = checked(8, (lambda v: v >= 2, "must be >= 2"), "code size")
    match_z: str = checked("adversarial", one_of("kl", "adversarial"), "tool for q_η(z|x) ~ p(z) (CLI: match.z=...)")
    prior: str = checked("gaussian", one_of("gaussian", "mixture", "swissroll"),
                         "p(z): Gaussian, or an implicit ring mixture / swiss roll that can only be sampled")


@register_model("aae", config=AAEConfig, family="VAE")
def build_aae(cfg: AAEConfig, spec: DataSpec) -> UnifiedModel:
    """Adversarial autoencoder: reconstruction + adversarial code matching."""
    if cfg.prior == "swissroll" and cfg.z_dim != 2:
        raise ConfigError(f"prior=swissroll is a 2-D prior but z_dim={cfg.z_dim}; set model.z_dim=2 "
                          "(or use prior=mixture, which takes any z_dim >= 2)")
    prior = GaussianPrior(cfg.z_dim) if cfg.prior == "gaussian" else ImplicitPrior(cfg.z_dim, cfg.prior)
    return vae_model("aae", cfg, spec, parts=vae_parts(cfg, spec, prior=prior, joint=False))
