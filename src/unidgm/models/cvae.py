"""Conditional VAE (Sohn et al. 2015): Eq. 12 with decoder p_θ(x|z,c,y) and encoder q_η(z|x,c,y).

Table 1, VAE column, every part conditioned on the label c. Techniques: adversary activation
(AA-CVAE, Eq. 17: generated samples carry the labels they were generated with).
"""

from ..core import DataSpec, UnifiedModel
from ..registry import register_model
from .gan import need_labels
from .vae import VAEConfig, vae_model


@register_model("cvae", config=VAEConfig, family="VAE")
def build_cvae(cfg: VAEConfig, spec: DataSpec) -> UnifiedModel:
    """Conditional VAE: label-conditioned encoder and decoder."""
    need_labels(spec, "cvae")
    return vae_model("cvae", cfg, spec, conditional=True)
