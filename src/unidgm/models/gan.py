"""GAN (Goodfellow et al. 2014), non-saturating (Eq. 5), in the unified formulation.

Table 1, GAN column: x data/generations, y real/fake, z code. The implicit generator p_θ(x|y)
(Eq. 4) is the *inference* model of the unified view — generation is posterior inference over x —
and the discriminator q_φ(y|x) the generative one. θ minimises KL(p_θ(x|y) ‖ q^r(x|y)) − JSD
(Lemma 1). Techniques: importance weighting (IWGAN, Eq. 16).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, checked, one_of, positive, widths
from ..core.matching import TOOLS, check_tool
from ..errors import ConfigError
from ..core import DataSpec, Discriminator, GaussianPrior, ImplicitGenerator, Match, Phase, UnifiedModel, adam
from ..core.games import gan_phi, gan_theta
from ..nets import ARCHS, critic_net, generator_net
from ..registry import register_model

MATCH_X = Match("x", "p_θ(x|y=0)", "p_data(x)", "adversarial")


@dataclass
class GANConfig(Config):
    z_dim: int = checked(64, positive, "code size")
    arch: str = checked("auto", one_of(*ARCHS), "network family")
    hidden: tuple[int, ...] = checked((256, 256), widths, "MLP widths")
    lr: float = checked(2e-4, positive, "Adam learning rate of both phases")
    dropout: float = checked(0.0, (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
                             "dropout in the discriminator after each activation (0: none)")
    d_steps: int = checked(1, positive, "the generator updates every d_steps steps")
    g_batch_norm: bool = checked(False, help="BatchNorm in an MLP generator's hidden layers (DCGAN's always has it)")
    match_x: str = checked("adversarial", one_of(*TOOLS), "tool for p_θ(x|y=0) ~ p_data(x) (only adversarial: "
                           "neither side has a density)")


def adversarial_phases(cfg, theta_parts=("generator",)) -> list[Phase]:
    """φ recognises y, then θ recognises the reversed y (Eq. 3): the GAN family's two phases."""
    opt = adam(cfg.lr, adversarial=True)
    return [Phase("phi", ("discriminator",), gan_phi, optim=opt),
            Phase("theta", theta_parts, gan_theta, every=cfg.d_steps, optim=opt)]


def gan_parts(cfg, spec: DataSpec, *, g_cond: int = 0, d_cond: int = 0, aux_classes: int = 0, prior=None) -> dict:
    """Prior, implicit generator G_θ(z[, c]) and discriminator D_φ(x[, c]) (with an ACGAN class head)."""
    prior = prior or GaussianPrior(cfg.z_dim)
    return {"prior": prior,
            "generator": ImplicitGenerator(generator_net(cfg.arch, prior.dim, spec.x_shape, g_cond, cfg.hidden,
                                                         batch_norm=cfg.g_batch_norm)),
            "discriminator": Discriminator(critic_net(cfg.arch, spec.x_shape, 1 + aux_classes, d_cond, cfg.hidden,
                                                      dropout=cfg.dropout),
                                           aux_classes)}


def gan_model(name: str, cfg, spec: DataSpec, parts: dict, *, conditional: bool = False, **kw) -> UnifiedModel:
    """A member of the GAN family: the generator is [inference], the discriminator [generative] (Table 1)."""
    check_tool(MATCH_X, cfg.match_x, left_density=False, right_density=False, allowed=("adversarial",))
    kw.setdefault("phases", adversarial_phases(cfg))
    return UnifiedModel(name, "GAN", parts, kw.pop("phases"), x_shape=spec.x_shape, num_classes=spec.num_classes,
                        conditional=conditional, streams=("x", "c") if conditional else ("x",),
                        generative=("discriminator",), inference=("generator", "recogniser"),
                        matches=(MATCH_X,), config=cfg, **kw)


def need_labels(spec: DataSpec, name: str) -> int:
    if not spec.num_classes:
        raise ConfigError(f"{name} needs labelled data (e.g. --data digits or mnist)")
    return spec.num_classes


@register_model("gan", config=GANConfig, family="GAN")
def build_gan(cfg: GANConfig, spec: DataSpec) -> UnifiedModel:
    """GAN: implicit generator vs discriminator, non-saturating (Eq. 3/5)."""
    return gan_model("gan", cfg, spec, gan_parts(cfg, spec))


__all__ = ["GANConfig", "build_gan", "adversarial_phases", "gan_parts", "gan_model", "need_labels", "MATCH_X"]
