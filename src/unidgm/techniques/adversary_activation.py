"""Adversary activation (Eq. 17), transferred from GANs to the VAE family: AA-VAE, AA-CVAE, AA-SVAE.

The perfect discriminator q_* of Eq. 12 becomes a learned q_φ with its own ``phi`` phase (trained
as in GANs on real vs generated samples). In the θ,η phase, each real example and an equal number
of generated ones — drawn from the current model and held fixed as data, with the labels they
were generated with — contribute their ELBO weighted by q^r_φ(y=0|x) = D_φ(x). With q_* it is the
base model exactly.

Choices (defaults): fakes are decoder *samples* (binary like the binarised data; 'mean' for the
decoder's means); weights are D_φ(x) as is ('mean' divides by their batch mean); the discriminator
is an MLP of ``hidden`` widths trained by Adam at ``lr_phi``; for the first ``warmup`` steps the
generated samples weigh 0 (the base model) while the discriminator already trains.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..config import Config, checked, non_negative, one_of, positive
from ..core import Discriminator, Phase, PerfectDiscriminator, UnifiedModel, phi_objective_eq3
from ..nets import critic_net
from .base import TECHNIQUES, Technique


@dataclass
class AAConfig(Config):
    fake: str = checked("sample", one_of("sample", "mean"), "generated examples: decoder samples or means")
    normalise: str = checked("none", one_of("none", "mean"), "weights D(x) as is, or divided by their batch mean")
    hidden: tuple[int, ...] = checked((256, 256), (lambda v: all(h > 0 for h in v), "sizes must be > 0"),
                                      "discriminator MLP widths")
    lr_phi: float = checked(2e-4, positive, "discriminator learning rate (Adam, betas 0.5/0.999)")
    warmup: int = checked(0, non_negative, "steps during which generated samples weigh 0")


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

    @classmethod
    def applies_to(cls, model: UnifiedModel) -> bool:
        # Eq. 17 rewrites Eq. 12: the perfect q_* weighting explicit ELBOs whose code pair is matched by KL
        return (model.has("discriminator") and isinstance(model["discriminator"], PerfectDiscriminator)
                and model.has("decoder") and any("eq12" in ph.roles for ph in model.phases)
                and any(m.space == "z" and m.tool == "kl" for m in model.matches))

    @classmethod
    def apply(cls, model: UnifiedModel, cfg: AAConfig) -> UnifiedModel:
        model.parts["discriminator"] = LearnedAdversary(critic_net("mlp", model.x_shape, 1, 0, cfg.hidden), cfg)
        phi = Phase("phi", ("discriminator",), _discriminator_objective(cfg), "eq3_phi",
                    optim={"lr": cfg.lr_phi, "betas": (0.5, 0.999)})
        phases = [replace(ph, objective=_with_fakes(ph.objective, cfg), over="both") if "eq12" in ph.roles else ph
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


def _discriminator_objective(cfg: AAConfig):
    def objective(model, batch):
        """Eq. 3 for φ: real examples vs generated ones, as in GANs."""
        x_fake, _ = generate_fixed(model, batch["x"].shape[0], cfg.fake)
        d = model["discriminator"]
        d.updates += 1
        return phi_objective_eq3(d(batch["x"]), d(x_fake))
    return objective


def _with_fakes(base, cfg: AAConfig):
    def objective(model, batch):
        """Eq. 17: the base Eq. 12 objective over real and fixed generated examples, weighted by D_φ(x)."""
        x = batch["x"]
        x_fake, labels = generate_fixed(model, x.shape[0], cfg.fake)
        extended = dict(batch, x=torch.cat([x, x_fake]),
                        real=torch.cat([torch.ones(len(x), device=x.device), torch.zeros(len(x_fake), device=x.device)]))
        if "c" in batch:
            extended["c"] = torch.cat([batch["c"], labels])
        obj = base(model, extended)
        w = obj.aux.get("q_r_y0", obj.weight)  # D_φ(x) per example, before any normalisation of the objective
        obj.terms["aa_weight_real"] = w[: len(x)].mean().detach()
        obj.terms["aa_weight_fake"] = w[len(x): 2 * len(x)].mean().detach()
        return obj
    objective.anneals_kl = getattr(base, "anneals_kl", False)  # the base's KL warm-up still applies
    return objective
