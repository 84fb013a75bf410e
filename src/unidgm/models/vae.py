"""VAE (Kingma & Welling 2014) in the discriminator-weighted form of Eq. 12.

Table 1, VAE column: z is latent and x visible; the decoder p_θ(x|z,y) (Eq. 13) is generative,
the encoder q_η(z|x,y) and the perfect discriminator q_*(y|x) are inference. One phase, the
paper's wake phase extended (Eq. 14), maximises Eq. 12 in θ and η, minimising
KL(q_η(z|x,y) q^r_*(y|x) ‖ p_θ(z,y|x)) (Lemma 2). Techniques: adversary activation (AA-VAE, Eq. 17).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, checked, one_of, positive
from ..core import (DataSpec, ExplicitGenerator, GaussianEncoder, GaussianPrior, Match, PerfectDiscriminator,
                    Phase, UnifiedModel)
from ..core.games import vae_eq12
from ..nets import MLP
from ..registry import register_model

VAE_MEANING = {"x": "data / generations", "y": "real/fake indicator (degenerate)", "z": "code vector"}
MATCH_Z_KL = Match("z", "q_η(z|x)", "p(z)", "kl")
MATCH_X_RECON = Match("x", "p_θ(x|z)", "p_data(x)", "reconstruction")


@dataclass
class VAEConfig(Config):
    z_dim: int = checked(50, positive, "code size (the paper's MNIST VAE: 50)")
    hidden: tuple[int, ...] = checked((500, 500), (lambda v: all(h > 0 for h in v), "sizes must be > 0"),
                                      "MLP widths (the paper's MNIST VAE: 500-500)")
    likelihood: str = checked("bernoulli", one_of("bernoulli", "gaussian"), "decoder likelihood")
    lr: float = checked(1e-3, positive, "Adam learning rate")


def vae_parts(cfg, spec: DataSpec, cond: int = 0) -> dict:
    """Prior, explicit decoder, Gaussian encoder and the perfect discriminator q_*."""
    return {"prior": GaussianPrior(cfg.z_dim),
            "decoder": ExplicitGenerator(MLP((cfg.z_dim,), spec.x_shape, cfg.hidden, cond), cfg.likelihood, spec.x_shape),
            "encoder": GaussianEncoder(MLP(spec.x_shape, (2 * cfg.z_dim,), cfg.hidden, cond), cfg.z_dim),
            "discriminator": PerfectDiscriminator()}


def vae_model(name: str, cfg, spec: DataSpec, *, conditional: bool = False, objective=vae_eq12,
              role="eq12", **kw) -> UnifiedModel:
    """The VAE family's one phase, ``theta_eta``, moving the decoder (θ) and the encoder (η)."""
    cond = spec.num_classes if conditional else 0
    phase = Phase("theta_eta", ("decoder", "encoder"), objective, role, optim={"lr": cfg.lr, "betas": (0.9, 0.999)})
    kw.setdefault("streams", ("x", "c") if conditional else ("x",))
    return UnifiedModel(name, "VAE", kw.pop("parts", None) or vae_parts(cfg, spec, cond), [phase],
                        x_shape=spec.x_shape, num_classes=spec.num_classes, conditional=conditional,
                        meaning=VAE_MEANING, generative=("decoder",), inference=("encoder", "discriminator"),
                        matches=(MATCH_X_RECON, MATCH_Z_KL), config=cfg, **kw)


@register_model("vae", config=VAEConfig, family="VAE")
def build_vae(cfg: VAEConfig, spec: DataSpec) -> UnifiedModel:
    """VAE: Eq. 12 with the perfect discriminator q_* (the textbook ELBO, Lemma 2)."""
    return vae_model("vae", cfg, spec)
