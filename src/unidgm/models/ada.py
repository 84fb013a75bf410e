"""Adversarial domain adaptation, DANN-style (Ganin et al. 2016) — the first column of Table 1.

x are features F_θ(z) of a source (y=1) or target (y=0) example z; the domain discriminator
q_φ(y|x) recognises the domain (Eq. 3, φ) while the feature extractor recognises the *reversed*
domain on both (Eq. 3, θ) alongside the source task loss. ``lam=0`` gives the source-only baseline.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..config import Config, checked, non_negative, positive, widths
from ..core import (CategoricalEncoder, DataSpec, Discriminator, FeatureExtractor, Match, Objective, Phase,
                    PhaseObjective, UnifiedModel, adam, objective, phi_step, theta_objective_eq3)
from ..nets import MLP
from ..registry import register_model
from .gan import need_labels


@dataclass
class ADAConfig(Config):
    feat_dim: int = checked(32, positive, "feature size")
    hidden: tuple[int, ...] = checked((64, 64), widths, "MLP widths")
    lam: float = checked(0.1, non_negative, "weight of the adversarial feature term (0: source only); 0.1 "
                         "adapted best on rotated moons, larger weights destabilised the game")
    lr: float = checked(1e-3, positive, "Adam learning rate")


@objective("eq3_phi")
def ada_phi(model: UnifiedModel, batch) -> Objective:
    """Eq. 3 for φ: the discriminator recognises the domain of (fixed) features."""
    return phi_step(model["discriminator"],
                    lambda: ((model["features"](batch["x"]),), (model["features"](batch["x_t"]),)))


def ada_theta(lam: float) -> PhaseObjective:
    """Source task log q(c|x) + λ · Eq. 3 for θ: features of both domains recognise the reversed domain."""
    def theta(model: UnifiedModel, batch) -> Objective:
        """Source task log q(c|x) + λ · Eq. 3 for θ; the target features are the generated side (y=0): their
        entries (``fake_at``) are λ times their Eq. 3 terms alone, which importance weighting may reweight."""
        src, tgt = model["features"](batch["x"]), model["features"](batch["x_t"])
        task = -F.cross_entropy(model["task"](src), batch["c"], reduction="none")
        logit_tgt = model["discriminator"](tgt)
        adv = theta_objective_eq3(logit_tgt, model["discriminator"](src))
        n = src.shape[0]
        value = torch.cat([task + lam * adv.value[:n], lam * adv.value[n:]])
        return Objective(value, normaliser=float(n), terms={**adv.terms, "task_log_q_c": task.mean().detach()},
                         logit_fake=logit_tgt, fake_at=torch.arange(n, n + len(tgt), device=tgt.device))
    return PhaseObjective(theta, ("task", "eq3_theta"), over="both", provides=("logit_fake", "fake_at"))


@register_model("ada", config=ADAConfig, family="ADA")
def build_ada(cfg: ADAConfig, spec: DataSpec) -> UnifiedModel:
    """Adversarial domain adaptation (DANN): features, domain discriminator, source classifier."""
    k = need_labels(spec, "ada")
    parts = {"features": FeatureExtractor(MLP(spec.x_shape, (cfg.feat_dim,), cfg.hidden, act="relu")),
             "task": CategoricalEncoder(MLP((cfg.feat_dim,), (k,), (cfg.hidden[-1],)), k),  # source classifier
             "discriminator": Discriminator(MLP((cfg.feat_dim,), (1,), cfg.hidden, act="leaky"))}
    opt = adam(cfg.lr, adversarial=True)
    phases = [Phase("phi", ("discriminator",), ada_phi, optim=opt),
              Phase("theta", ("features", "task"), ada_theta(cfg.lam), optim=opt)]
    classify = lambda m, x: m["task"](m["features"](x)).argmax(-1)  # noqa: E731
    return UnifiedModel("ada", "ADA", parts, phases, x_shape=spec.x_shape, num_classes=k, streams=("x", "c", "x_t"),
                        meaning={"x": "features", "y": "domain indicator", "z": "data examples"},
                        generative=("discriminator",), inference=("features",), config=cfg,
                        methods={"classify": classify},
                        matches=(Match("x", "p_θ(x|y=0) target features", "p_θ(x|y=1) source features", "adversarial"),))
