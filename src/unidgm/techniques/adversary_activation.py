"""Adversary activation (Eq. 17), transferred from GANs to every Eq. 12 phase weighted by the perfect q_*: AA-VAE,
AA-CVAE, AA-SVAE, and — through the objectives' declared Eq. 17 hook — AA-IWAE (each example's k-sample bound
weighted), AA-AAE and AA-AVB. VAE/GAN is refused: its q(y|x) is already a learned discriminator.

The perfect discriminator q_* of Eq. 12 becomes a learned q_φ with its own ``phi`` phase (trained
as in GANs on real vs generated samples). In the θ,η phase, each real example and an equal number
of generated ones — drawn from the current model and held fixed as data, with the labels they
were generated with — contribute their ELBO weighted by q^r_φ(y=0|x) = D_φ(x). With q_* it is the
base model exactly.

Choices (defaults): the discriminator's real examples are every real image of the batch (for M2 the labelled
and the unlabelled ones; ``real=labelled`` for the labelled stream only); fakes are decoder *samples* (binary
like the binarised data; 'mean' for the decoder's means); weights are D_φ(x) as is ('mean' divides by their
batch mean); the discriminator is an MLP of ``hidden`` widths trained by Adam at ``lr_phi``; for the first
``warmup`` steps the generated samples weigh 0 (the base model) while the discriminator already trains;
``ratio`` generated examples join each real one (the paper: one).

Beyond the paper (``agree=true``, models with a classifier q(c|x), i.e. the AA-SVAE): a generated example
joins only if the model's own classifier assigns it the label it was generated with. Conditional samples
that do not show their label would otherwise train the classifier on wrong labels. Either way the θ,η log
records the share that agrees (``aa_label_agreement``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..config import Config, checked, non_negative, one_of, positive, widths
from ..core import Discriminator, Generated, Phase, PerfectDiscriminator, PhaseObjective, UnifiedModel, adam, phi_step
from ..nets import critic_net
from ..errors import ConfigError
from .base import TECHNIQUES, Technique


@dataclass
class AAConfig(Config):
    fake: str = checked("sample", one_of("sample", "mean"), "generated examples: decoder samples or means")
    normalise: str = checked("none", one_of("none", "mean"), "weights D(x) as is, or divided by their batch mean")
    hidden: tuple[int, ...] = checked((256, 256), widths,
                                      "discriminator MLP widths")
    lr_phi: float = checked(2e-4, positive, "discriminator learning rate (Adam, betas 0.5/0.999)")
    warmup: int = checked(0, non_negative, "steps during which generated samples weigh 0")
    ratio: float = checked(1.0, positive, "generated examples per real one in the θ,η phase (the paper: 1)")
    real: str = checked("all", one_of("all", "labelled"),
                        "the discriminator's real examples: every real image of the batch (a semi-supervised model's "
                        "labelled and unlabelled ones), or the labelled stream only (before 2026-12-07: D memorised "
                        "the labelled images and down-weighted every unlabelled one)")
    agree: bool = checked(False, (lambda v: isinstance(v, bool), "must be true/false"),
                          "beyond the paper: keep only generated examples whose label the model's classifier q(c|x) "
                          "agrees with (models with a classifier, e.g. svae)")


class LearnedAdversary(Discriminator):
    """q_φ(y|x) replacing q_*: weights D_φ(x) (Eq. 17), optionally mean-normalised, after a warm-up."""

    def __init__(self, net, cfg: AAConfig):
        super().__init__(net)
        self.normalise, self.warmup = cfg.normalise, cfg.warmup
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))  # saved: resume-safe warm-up

    def q_r_y0(self, x, c=None, is_real=None):
        w = super().q_r_y0(x, c, is_real)
        if self.normalise == "mean":
            w = w / w.mean().clamp_min(1e-6)
        if is_real is not None and int(self.updates) < self.warmup:
            w = torch.where(is_real.bool(), w, torch.zeros_like(w))
        return w


@TECHNIQUES.register("aa", config=AAConfig, family="technique",
                     summary="Eq. 17: a learned discriminator replaces q_*, weighting each ELBO by D(x)")
class AdversaryActivation(Technique):
    title = "adversary activation"
    needs = ("is_real", "q_r_y0")

    @classmethod
    def targets(cls, model: UnifiedModel):
        # Eq. 17 rewrites Eq. 12 — and IWAE's bound, Eq. 12 with k samples — wherever the perfect q_* routes
        # the examples: the phases whose objectives compute those equations
        if not (model.has("discriminator") and isinstance(model["discriminator"], PerfectDiscriminator)
                and model.has("decoder")):
            return []
        return [ph for ph in model.phases if set(ph.roles) & {"eq12", "iwae"}]

    @classmethod
    def wanted(cls, model: UnifiedModel) -> str:
        has_eq12 = model.has("decoder") and any(set(ph.roles) & {"eq12", "iwae"} for ph in model.phases)
        if has_eq12 and model.has("discriminator") and not isinstance(model["discriminator"], PerfectDiscriminator):
            return (f"the perfect discriminator q_* to replace, but {model.name}'s q(y|x) is already a learned "
                    "discriminator playing its own game (Eq. 3)")
        return "an Eq. 12 (or IWAE) phase of an explicit decoder weighted by the perfect discriminator q_*"

    @classmethod
    def refusal(cls, model: UnifiedModel) -> str | None:
        why = super().refusal(model)
        if why is None:
            lacking = [ph.name for ph in cls.targets(model) if not ph.objective.takes_generated]
            if lacking:
                return f"phase {lacking[0]!r} takes no generated examples (its objective has no Eq. 17 hook)"
        return why

    @classmethod
    def apply(cls, model: UnifiedModel, cfg: AAConfig) -> UnifiedModel:
        if cfg.agree and not (model.conditional and model.has("classifier")):
            raise ConfigError(f"aa.agree=true filters generated examples by the model's classifier q(c|x); "
                              f"{model.name} has none (it applies to svae); leave aa.agree=false")
        targets = cls.targets(model)
        model.parts["discriminator"] = LearnedAdversary(critic_net("mlp", model.x_shape, 1, 0, cfg.hidden), cfg)
        phi = Phase("phi", ("discriminator",), _discriminator_objective(cfg), optim=adam(cfg.lr_phi, adversarial=True))
        phases = [replace(ph, objective=_with_fakes(ph.objective, cfg)) if ph in targets else ph
                  for ph in model.phases]
        return model.with_phases([phi, *phases])


@torch.no_grad()
def generate_fixed(model: UnifiedModel, n: int, fake: str):
    """n examples from the current p_θ0(x|z,y=0), with their labels, held fixed as data."""
    labels = torch.randint(model.num_classes, (n,), device=model.device) if model.conditional else None
    c = model.onehot(labels, n)
    z = model["prior"].sample(n)
    dec = model["decoder"]
    return (dec.sample(z, c) if fake == "sample" else dec.mean(z, c)), labels


def _discriminator_objective(cfg: AAConfig) -> PhaseObjective:
    def aa_phi(model, batch):
        """Eq. 3 for φ: real examples vs generated ones, as in GANs. The real ones are every real image the θ,η
        phase weights by D(x): for a semi-supervised model the unlabelled stream too, else D would learn the
        few labelled images as "real" and weigh every unlabelled one down (measured: D ≈ 0.84 on M2's 600
        labelled images, 0.24 on its unlabelled and held-out ones)."""
        d = model["discriminator"]
        d.updates += 1
        real = batch["x"]
        if cfg.real == "all" and model.semi_supervised:
            real = torch.cat([real, batch["x_u"]])
        return phi_step(d, lambda: ((real,), (generate_fixed(model, batch["x"].shape[0], cfg.fake)[0],)))
    return PhaseObjective(aa_phi, "eq3_phi")


@torch.no_grad()
def label_agreement(model: UnifiedModel, x, labels):
    """Whether the model's classifier q(c|x) assigns each generated example the label it was generated with."""
    return model["classifier"](x).argmax(-1) == labels


def _with_fakes(base: PhaseObjective, cfg: AAConfig) -> PhaseObjective:
    def objective(model, batch):
        """Eq. 17: the base Eq. 12 objective over real and fixed generated examples, weighted by D_φ(x)."""
        x_fake, labels = generate_fixed(model, max(1, round(cfg.ratio * batch["x"].shape[0])), cfg.fake)
        agree = None
        if labels is not None and model.has("classifier"):
            agree = label_agreement(model, x_fake, labels)
            if cfg.agree:
                x_fake, labels = x_fake[agree], labels[agree]
        obj = base(model, batch, Generated(x_fake, labels))
        real = obj.is_real.bool()  # D_φ(x) per example (q_r_y0), before any normalisation of the objective
        obj.terms["aa_weight_real"] = obj.q_r_y0[real].mean().detach()
        if (~real).any():
            obj.terms["aa_weight_fake"] = obj.q_r_y0[~real].mean().detach()
        if agree is not None:
            obj.terms["aa_label_agreement"] = agree.float().mean()
        return obj
    objective.__name__ = f"aa_{base.__name__}"
    return base.derive(objective, over="both", takes_generated=False)
