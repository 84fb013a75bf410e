"""Conditional GAN (Mirza & Osindero 2014): Eq. 3 with labels given to G_θ(z, c) and D_φ(x, c).

Table 1, GAN column, with every part conditioned on the label c. KL: as GAN (Lemma 1), per label.
Techniques: importance weighting (IW-CGAN, Eq. 16).
"""

from ..core import DataSpec, UnifiedModel
from ..registry import register_model
from .gan import GANConfig, gan_model, gan_parts, need_labels


@register_model("cgan", config=GANConfig, family="GAN")
def build_cgan(cfg: GANConfig, spec: DataSpec) -> UnifiedModel:
    """Conditional GAN: label-conditioned generator and discriminator."""
    k = need_labels(spec, "cgan")
    return gan_model("cgan", cfg, spec, gan_parts(cfg, spec, g_cond=k, d_cond=k), conditional=True)
