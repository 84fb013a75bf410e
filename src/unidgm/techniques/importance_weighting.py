"""Importance weighting (Eq. 15-16), transferred from IWAE to the GAN family: IWGAN, IW-CGAN, IW-ACGAN.

The generator's per-sample objective log q^r_φ0(y|x_i) is weighted by w̃_i, a softmax of the
discriminator's logits over groups of k generated samples, held constant in the gradient. The
discriminator trains as in the base model. Uniform logits give exactly the base gradient.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import Config, checked, positive
from ..core import UnifiedModel, iw_weights_eq16
from .base import TECHNIQUES, Technique

GENERATOR_ROLES = ("eq3_theta", "eq9_theta")


@dataclass
class IWConfig(Config):
    k: int | None = checked(None, positive, "samples per importance-weighted group (None: the whole batch)")


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
        return model.with_phases([replace(ph, objective=_weighted(ph.objective, cfg.k)) if ph in targets else ph
                                  for ph in model.phases])


def iw_ess_fraction(weights, k: int | None = None):
    """Effective sample size of the Eq. 16 weights as a fraction of the group: (Σw)²/(k Σw²) per group
    of k, averaged. 1 for uniform weights (the base GAN); 1/k when one sample takes all the weight, i.e.
    the generator's gradient comes from that one sample alone."""
    w = weights.detach()
    k = w.shape[0] if k is None else k
    w = w.reshape(-1, k)
    return (w.sum(1).pow(2) / (k * w.pow(2).sum(1))).mean()


def _weighted(base, k):
    def objective(model, batch):
        obj = base(model, batch)
        obj.weight = iw_weights_eq16(obj.aux["logit_fake"], k)
        obj.terms["iw_weight_max"] = obj.weight.max().detach()
        obj.terms["iw_ess_fraction"] = iw_ess_fraction(obj.weight, k)
        return obj
    objective.__doc__ = f"Eq. 16 importance weighting (k={k or 'batch'}) of: {base.__doc__ or base.__name__}"
    return objective
