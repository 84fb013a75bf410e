"""Importance weighting (Eq. 15-16), transferred from IWAE to the GAN family: IWGAN, IW-CGAN, IW-ACGAN.

The generator's per-sample objective log q^r_φ0(y|x_i) is weighted by w̃_i, a softmax of the
discriminator's logits over groups of k generated samples, held constant in the gradient. The
discriminator trains as in the base model. Uniform logits give exactly the base gradient. For a
conditional generator (IW-CGAN, IW-ACGAN) the groups are the samples generated under the same label
by default: the k samples of Eq. 15 share one conditional distribution, as IWAE's share one x.

Which terms are weighted: Eq. 16 is the gradient of the k-sample bound on log q(y), Σ_i w̃_i ∇_θ log q^r_φ0(y|x_i)
— the adversarial term only. ACGAN's auxiliary log q(c|x) and InfoGAN's log q_η(z|x) (Eq. 9) are not part of
that bound, so by default (``iw.terms=adversarial``) they keep unit weight. ``iw.terms=all`` weights each
sample's whole objective instead (the auxiliary terms too), a variant that treats them as part of the bound.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from ..config import Config, checked, one_of, positive
from ..core import UnifiedModel, iw_weights_eq16, iw_weights_eq16_by_label
from ..errors import ConfigError
from .base import TECHNIQUES, Technique

GENERATOR_ROLES = ("eq3_theta", "eq9_theta")


@dataclass
class IWConfig(Config):
    k: int | None = checked(None, positive, "samples per importance-weighted group (None: the whole batch)")
    group: str = checked("auto", one_of("auto", "batch", "label"),
                         "what the weights are normalised over: label (samples generated under the same label), "
                         "batch (groups of k); auto: label for conditional generators, else batch")
    terms: str = checked("adversarial", one_of("adversarial", "all"),
                         "what the weights multiply: adversarial (log q^r_φ(y|x) only, as Eq. 16; ACGAN's log q(c|x) "
                         "and InfoGAN's log q_η(z|x) unweighted) or all (each sample's whole objective)")


@TECHNIQUES.register("iw", config=IWConfig, family="technique",
                     summary="Eq. 16: generator samples weighted by a softmax of D's logits")
class ImportanceWeighting(Technique):
    title = "importance weighting"

    @classmethod
    def _phases(cls, model: UnifiedModel):
        # the generator phase of an implicit p_θ(x|y) whose values range over generated samples only
        return [ph for ph in model.phases if set(ph.roles) & set(GENERATOR_ROLES) and ph.over == "fake"]

    @classmethod
    def applies_to(cls, model: UnifiedModel) -> bool:
        return model.has("generator") and bool(cls._phases(model))

    @classmethod
    def apply(cls, model: UnifiedModel, cfg: IWConfig) -> UnifiedModel:
        targets = cls._phases(model)
        by_label = cfg.group == "label" or (cfg.group == "auto" and model.conditional)
        if by_label and not model.conditional:
            raise ConfigError(f"iw.group=label needs a conditional generator; {model.name} has none (use iw.group=batch)")
        if by_label and cfg.k is not None:
            raise ConfigError("iw.k sets batch groups; with iw.group=label the groups are the labels "
                              "(pass iw.group=batch to use iw.k)")
        groups = "per label" if by_label else f"groups of {cfg.k or 'the batch'}"
        note = (f"Eq. 16: each sample's objective weighted by w̃ ({groups})" if cfg.terms == "all" else
                f"Eq. 16: log q^r_φ(y|x) weighted by w̃ ({groups}), auxiliary terms unweighted")
        return model.with_phases([replace(ph, objective=_weighted(ph.objective, cfg.k, by_label, cfg.terms == "all"),
                                          note=note)
                                  if ph in targets else ph for ph in model.phases])


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


def _weighted(base, k, by_label: bool = False, all_terms: bool = False):
    def objective(model, batch):
        obj = base(model, batch)
        labels = obj.aux["labels_fake"] if by_label else None
        w = (iw_weights_eq16_by_label(obj.aux["logit_fake"], labels) if by_label
             else iw_weights_eq16(obj.aux["logit_fake"], k))
        adversarial = obj.aux.get("adversarial", obj.value)
        if all_terms or adversarial is obj.value:  # nothing besides the Eq. 3 term: weight the value itself
            obj.weight = w
        else:  # Eq. 16 weights log q^r_φ(y|x); the auxiliary terms (value − adversarial) keep weight 1
            obj.value = obj.value + (w - 1) * adversarial
        obj.terms["iw_weight_max"] = w.max().detach()
        obj.terms["iw_ess_fraction"] = iw_ess_fraction(w, k, labels)
        return obj
    groups = "per label" if by_label else f"k={k or 'batch'}"
    objective.__doc__ = f"Eq. 16 importance weighting ({groups}) of: {base.__doc__ or base.__name__}"
    return objective
