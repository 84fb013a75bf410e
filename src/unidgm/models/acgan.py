"""Auxiliary-classifier GAN (Odena et al. 2017): G_θ(z, c), and D_φ(x) with a class head q(c|x).

Both phases add log q(c|x) of the labels (real labels for data, sampled labels for generations)
to Eq. 3, so the discriminator also reconstructs the visible label. Techniques: IW-ACGAN (Eq. 16).
"""

from ..core import DataSpec, UnifiedModel
from ..registry import register_model
from .gan import GANConfig, gan_model, gan_parts, need_labels


@register_model("acgan", config=GANConfig, family="GAN")
def build_acgan(cfg: GANConfig, spec: DataSpec) -> UnifiedModel:
    """ACGAN: conditional generator, discriminator with an auxiliary classifier."""
    k = need_labels(spec, "acgan")
    return gan_model("acgan", cfg, spec, gan_parts(cfg, spec, g_cond=k, aux_classes=k), conditional=True)
