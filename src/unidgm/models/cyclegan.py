"""CycleGAN (Zhu et al. 2017): two ADA/GAN games in opposite directions plus cycle reconstruction.

G_ab maps domain A (stream x) to B (stream x_t) and G_ba back; D_b and D_a recognise real from
translated examples (Eq. 3, φ); the generators recognise the reversed labels (Eq. 3, θ) and
reconstruct each example through the cycle, −λ‖G_ba(G_ab(a)) − a‖₁ − λ‖G_ab(G_ba(b)) − b‖₁, the L1 norm
summed over pixels (``cycle_reduction=sum``, the default) or averaged as Zhu et al. do (``mean``).
"""

import math
from dataclasses import dataclass

import torch

from ..config import Config, checked, one_of, positive, widths
from ..core import (DataSpec, Discriminator, ImplicitGenerator, Match, Objective, Phase, PhaseObjective, UnifiedModel,
                    adam, objective, phi_objective_eq3, theta_objective_eq3)
from ..nets import ARCHS, critic_net, generator_net
from ..registry import register_model


@dataclass
class CycleGANConfig(Config):
    hidden: tuple[int, ...] = checked((128, 128), widths, "MLP widths")
    arch: str = checked("mlp", one_of(*ARCHS), "discriminator family")
    cycle: float = checked(10.0, positive, "weight λ of the cycle reconstruction")
    lr: float = checked(2e-4, positive, "Adam learning rate")
    # Zhu et al. average |·| over pixels; summing (the default, kept so earlier runs and λ read the same) makes
    # the effective weight numel times larger: cycle_reduction=mean with λ=10 is the paper's setting
    cycle_reduction: str = checked("sum", one_of("sum", "mean"), "cycle L1 over pixels: sum, or mean (Zhu et al.)")


def translations(model: UnifiedModel, batch):
    a, b = batch["x"], batch["x_t"]
    return a, b, model["generator"](a), model["generator_ba"](b)


@objective("eq3_phi")
def cyclegan_phi(model: UnifiedModel, batch) -> Objective:
    """Eq. 3 for φ, twice: D_b on real B vs G_ab(A), D_a on real A vs G_ba(B) (translations held fixed)."""
    with torch.no_grad():
        a, b, ab, ba = translations(model, batch)
    return Objective.cat(phi_objective_eq3(model["discriminator"](b), model["discriminator"](ab)),
                         phi_objective_eq3(model["discriminator_a"](a), model["discriminator_a"](ba)))


def cyclegan_theta(cycle: float, reduction: str) -> PhaseObjective:
    """Eq. 3 for θ on both translations + the cycle reconstruction term, weighted by λ = ``cycle``."""
    reduce = (lambda d: d.abs().flatten(1).mean(1)) if reduction == "mean" else (lambda d: d.abs().flatten(1).sum(1))

    def theta(model: UnifiedModel, batch) -> Objective:
        """Eq. 3 for θ on both translations + the cycle term. Each example's entry holds two generated samples'
        Eq. 3 terms, G_ab(a) judged by D_b (group 0) and G_ba(b) by D_a (group 1): the fields importance
        weighting (Eq. 16) reads, each translator's samples normalised among themselves."""
        a, b, ab, ba = translations(model, batch)
        logit_b = model["discriminator"](ab)
        adv_b = theta_objective_eq3(logit_b).value
        logit_a = model["discriminator_a"](ba)
        adv_a = theta_objective_eq3(logit_a).value
        cyc_a, cyc_b = reduce(model["generator_ba"](ab) - a), reduce(model["generator"](ba) - b)
        value = adv_a + adv_b - cycle * (cyc_a + cyc_b)
        n = len(value)
        at = torch.arange(n, device=value.device)
        return Objective(value, terms={"cycle_l1": (cyc_a + cyc_b).mean().detach(),
                                       "log_qr_phi": (adv_a + adv_b).mean().detach()},
                         logit_fake=torch.cat([logit_b, logit_a]), adversarial=torch.cat([adv_b, adv_a]),
                         groups=torch.cat([torch.zeros_like(at), torch.ones_like(at)]), fake_at=torch.cat([at, at]))
    return PhaseObjective(theta, ("eq3_theta", "cycle"), over="both",
                          provides=("logit_fake", "adversarial", "groups", "fake_at"))


@register_model("cyclegan", config=CycleGANConfig, family="GAN")
def build_cyclegan(cfg: CycleGANConfig, spec: DataSpec) -> UnifiedModel:
    """CycleGAN: two GAN games in opposite directions + cycle reconstruction."""
    gen = lambda: ImplicitGenerator(generator_net("mlp", math.prod(spec.x_shape), spec.x_shape, 0, cfg.hidden))  # noqa: E731
    disc = lambda: Discriminator(critic_net(cfg.arch, spec.x_shape, 1, 0, cfg.hidden))  # noqa: E731
    parts = {"generator": gen(), "generator_ba": gen(), "discriminator": disc(), "discriminator_a": disc()}
    parts["generator"].description, parts["generator_ba"].description = "translator G_ab: A → B", "translator G_ba: B → A"
    opt = adam(cfg.lr, adversarial=True)
    phases = [Phase("phi", ("discriminator", "discriminator_a"), cyclegan_phi, optim=opt),
              Phase("theta", ("generator", "generator_ba"), cyclegan_theta(cfg.cycle, cfg.cycle_reduction), optim=opt)]
    translate = lambda m, x: m["generator"](x)  # noqa: E731
    return UnifiedModel("cyclegan", "GAN", parts, phases, x_shape=spec.x_shape, num_classes=spec.num_classes,
                        streams=("x", "x_t"), meaning={"x": "translations", "y": "real/translated", "z": "source-domain example"},
                        generative=("discriminator", "discriminator_a"), inference=("generator", "generator_ba"),
                        config=cfg, methods={"translate": translate},
                        matches=(Match("B", "G_ab(A)", "p_B", "adversarial"), Match("A", "G_ba(B)", "p_A", "adversarial"),
                                 Match("A", "G_ba(G_ab(a))", "a", "reconstruction")))
