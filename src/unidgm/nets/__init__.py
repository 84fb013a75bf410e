"""Network blocks and the automatic choice of architecture from the data's shape."""

from __future__ import annotations

from ..errors import ConfigError
from .blocks import MLP, DCGANDiscriminator, DCGANGenerator, Shape

ARCHS = ("auto", "mlp", "dcgan")


def use_dcgan(arch: str, image_shape: Shape) -> bool:
    """'auto' picks DCGAN for 28x28/32x32 images and MLPs for 8x8 images, vectors and toy data."""
    if arch not in ARCHS:
        raise ConfigError(f"unknown arch {arch!r}; valid: {', '.join(ARCHS)}")
    is_big_image = len(image_shape) == 3 and image_shape[-1] in (28, 32)
    if arch == "dcgan" and not is_big_image:
        raise ConfigError(f"arch=dcgan needs 28x28 or 32x32 images, data has shape {image_shape}: use arch=mlp")
    return arch == "dcgan" or (arch == "auto" and is_big_image)


def generator_net(arch: str, z_dim: int, x_shape: Shape, cond_dim: int = 0, hidden=(256, 256),
                  out_act: str | None = "sigmoid", batch_norm: bool = False):
    """G_θ(z[, c]) → x: DCGAN or MLP by the data's shape. Images are in [0, 1]; toy data is unbounded.
    ``batch_norm``: BatchNorm in the MLP's hidden layers (the DCGAN generator always has it)."""
    if use_dcgan(arch, x_shape):
        return DCGANGenerator(z_dim, x_shape, cond_dim, out_act=out_act)
    if len(x_shape) == 1:
        out_act = None
    return MLP((z_dim,), x_shape, hidden, cond_dim, act="relu", out_act=out_act, batch_norm=batch_norm)


def critic_net(arch: str, x_shape: Shape, out_dim: int = 1, cond_dim: int = 0, hidden=(256, 256), noise_dim: int = 0,
               dropout: float = 0.0):
    """x[, c] → ``out_dim`` outputs: DCGAN discriminator or a LeakyReLU MLP (also encoders/classifiers)."""
    if use_dcgan(arch, x_shape) and not noise_dim:
        return DCGANDiscriminator(x_shape, out_dim, cond_dim, dropout=dropout)
    return MLP(x_shape, (out_dim,), hidden, cond_dim, act="leaky", noise_dim=noise_dim, dropout=dropout)


__all__ = ["MLP", "DCGANGenerator", "DCGANDiscriminator", "generator_net", "critic_net", "use_dcgan", "ARCHS"]
