"""Importance weighting (Eq. 15-16), transferred from IWAE to every Eq. 3 θ step over generated samples: IWGAN,
IW-CGAN, IW-ACGAN, IW-InfoGAN, and — read off the declared fields, never the model's name — BiGAN's generated
pairs, VAE/GAN's decoder as a generator, CycleGAN's two translators, ADA's target features and the AAE's
encoder as the generator of codes.

The generator's per-sample objective log q^r_φ0(y|x_i) is weighted by w̃_i, a softmax of the
discriminator's logits over groups of k generated samples, held constant in the gradient. The
discriminator trains as in the base model. Uniform logits give exactly the base gradient. For a
conditional generator (IW-CGAN, IW-ACGAN) the groups are the samples generated under the same label
by default: the k samples of Eq. 15 share one conditional distribution, as IWAE's share one x; samples of
different distributions (CycleGAN's translators, ``groups`` without labels) are always normalised apart.

Which terms are weighted: Eq. 16 is the gradient of the k-sample bound on log q(y), Σ_i w̃_i ∇_θ log q^r_φ0(y|x_i)
— the adversarial term only. ACGAN's auxiliary log q(c|x) and InfoGAN's log q_η(z|x) (Eq. 9) are not part of
that bound, so by default (``iw.terms=adversarial``) they keep unit weight. ``iw.terms=all`` weights each
sample's whole objective instead (the auxiliary terms too), a variant that treats them as part of the bound.

Ablation (``iw.temper`` = τ): weights ∝ (D/(1−D))^τ, a softmax of τ times the logits. τ = 1 is Eq. 16; τ = 0
gives uniform weights, the base GAN; in between the weights are flattened, above 1 sharpened.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..config import Config, checked, non_negative, one_of, positive
from ..core import Objective, PhaseObjective, UnifiedModel, iw_weights_eq16
from ..errors import ConfigError
from .base import TECHNIQUES, Technique

GENERATOR_EQUATIONS = ("eq3_theta", "eq9_theta")


@dataclass
class IWConfig(Config):
    k: int | None = checked(None, positive, "samples per importance-weighted group (None: the whole batch)")
    group: str = checked("auto", one_of("auto", "batch", "label"),
                         "what the weights are normalised over: label (samples generated under the same label), "
                         "batch (groups of k); auto: label for conditional generators, else batch")
    terms: str = checked("adversarial", one_of("adversarial", "all"),
                         "what the weights multiply: adversarial (log q^r_φ(y|x) only, as Eq. 16; ACGAN's log q(c|x) "
                         "and InfoGAN's log q_η(z|x) unweighted) or all (each sample's whole objective)")
    temper: float = checked(1.0, non_negative, "τ of the tempered weights w ∝ (D/(1−D))^τ: 1 is Eq. 16, 0 the base "
                            "GAN's uniform weights (an ablation)")


@TECHNIQUES.register("iw", config=IWConfig, family="technique",
                     summary="Eq. 16: generator samples weighted by a softmax of D's logits")
class ImportanceWeighting(Technique):
    title = "importance weighting"
    needs = ("logit_fake",)  # and, where the objective has them: groups, adversarial, fake_at

    @classmethod
    def targets(cls, model: UnifiedModel):
        # every phase whose objective is Eq. 3's (or Eq. 9's) θ step, or that declares generated-sample logits:
        # the GAN's generator, BiGAN's and ADA's generated halves, CycleGAN's translators, VAE/GAN's decoder as a
        # generator, the AAE's encoder as the generator of codes
        return [ph for ph in model.phases
                if set(ph.roles) & set(GENERATOR_EQUATIONS) or "logit_fake" in ph.objective.provides]

    @classmethod
    def wanted(cls, model: UnifiedModel) -> str:
        return "a phase whose objective is Eq. 3's θ step over generated samples (the samples' D logits)"

    @classmethod
    def apply(cls, model: UnifiedModel, cfg: IWConfig) -> UnifiedModel:
        targets = cls.targets(model)
        by_label = cfg.group == "label" or (cfg.group == "auto" and model.conditional)
        if by_label and not model.conditional:
            raise ConfigError(f"iw.group=label needs a conditional generator; {model.name} has none (use iw.group=batch)")
        if by_label and cfg.k is not None:
            raise ConfigError("iw.k sets batch groups; with iw.group=label the groups are the labels "
                              "(pass iw.group=batch to use iw.k)")
        if cfg.terms == "all" and any(ph.over != "fake" for ph in targets):
            bad = next(ph for ph in targets if ph.over != "fake")
            raise ConfigError(f"iw.terms=all weights each generated sample's whole objective, but {model.name}'s phase "
                              f"{bad.name!r} adds generated samples' terms to values over real examples too; "
                              "use iw.terms=adversarial")
        groups = "per label" if by_label else f"groups of {cfg.k or 'the batch'}"
        note = (f"Eq. 16: each sample's objective weighted by w̃ ({groups})" if cfg.terms == "all" else
                f"Eq. 16: log q^r_φ(y|x) weighted by w̃ ({groups}), auxiliary terms unweighted")
        if cfg.temper != 1.0:
            note += f"; tempered, w ∝ (D/(1−D))^{cfg.temper:g}"
        phases = []
        for ph in model.phases:
            if ph in targets:
                # samples of different distributions (CycleGAN's two translators) never share a softmax
                separate = not model.conditional and "groups" in ph.objective.provides
                ph = replace(ph, objective=_weighted(ph.objective, cfg.k, by_label, separate, cfg.terms == "all",
                                                     cfg.temper), note=note)
            phases.append(ph)
        return model.with_phases(phases)


def iw_ess_fraction(weights, k: int | None = None, labels=None):
    """Effective sample size of the Eq. 16 weights as a fraction of the group: (Σw)²/(k Σw²) per group
    of k (or per label group), averaged. 1 for uniform weights (the base GAN); 1/k when one sample takes
    all the weight, i.e. the generator's gradient comes from that one sample alone."""
    w = weights.detach()
    # each sample's group: its label, or its position's block of k
    ids = labels.long() if labels is not None else torch.arange(w.shape[0], device=w.device) // (k or w.shape[0])
    sums = w.new_zeros(int(ids.max()) + 1).index_add_(0, ids, w)
    squares = w.new_zeros(sums.shape[0]).index_add_(0, ids, w * w)
    count = torch.bincount(ids, minlength=sums.shape[0]).to(w.dtype)
    present = count > 0  # labels absent from the batch form no group
    return (sums[present].pow(2) / (count[present] * squares[present])).mean()


def _group_ids(obj: Objective, k: int | None, by_label: bool, separate: bool):
    """Each generated sample's Eq. 16 group id, or None for consecutive blocks of k (k=None: the whole batch)."""
    if by_label:
        return obj.groups
    if separate and obj.groups is not None:
        if k is None:
            return obj.groups
        m = obj.groups.shape[0]
        return obj.groups * (m // k + 1) + torch.arange(m, device=obj.groups.device) // k
    return None


def _weighted(base: PhaseObjective, k, by_label: bool = False, separate: bool = False, all_terms: bool = False,
              temper: float = 1.0):
    def objective(model, batch, generated=None):
        obj = base(model, batch, generated)  # AA's generated examples pass through (IW and AA on one phase)
        ids = _group_ids(obj, k, by_label, separate)
        # (D/(1−D))^τ = exp(τ · logit): tempering scales the logits inside Eq. 16's softmax
        logits = obj.logit_fake if temper == 1.0 else obj.logit_fake * temper
        w = iw_weights_eq16(logits, None if ids is not None else k, ids)
        if obj.adversarial is None or all_terms:  # the samples' entries are their Eq. 3 terms alone: weight them
            weight = w if obj.fake_at is None else torch.ones_like(obj.value).index_copy(0, obj.fake_at, w)
            obj.weight = weight if obj.weight is None else obj.weight * weight
        else:  # Eq. 16 weights log q^r_φ(y|x); what else the entries hold (value − adversarial) keeps weight 1
            delta = (w - 1) * obj.adversarial
            obj.value = obj.value + delta if obj.fake_at is None else obj.value.index_add(0, obj.fake_at, delta)
        obj.terms["iw_weight_max"] = w.max().detach()
        obj.terms["iw_ess_fraction"] = iw_ess_fraction(w, k, ids)
        return obj
    groups = "per label" if by_label else f"k={k or 'batch'}"
    objective.__name__ = f"iw_{base.__name__}"
    objective.__doc__ = f"Eq. 16 importance weighting ({groups}) of: {base.__doc__ or base.__name__}"
    return base.derive(objective)
