"""Wake-sleep (Hinton et al. 1995) for a Helmholtz machine, and reweighted wake-sleep (Bornschein & Bengio 2015).

Eq. 14 with h=z: the wake phase moves θ on E_{q_λ(h|x)p_data(x)}[log p_θ(x|h)] with h sampled and
held fixed; the sleep phase moves λ on E_{p_θ(x|h)p(h)}[log q_λ(h|x)] over dreamed pairs. VAEs
extend the wake phase (reparameterised h, η trained too); GANs extend the sleep phase (h=y).
``reweighted``: k samples of h weighted by their normalised importance weights, and a wake-q update.
"""

from dataclasses import dataclass

import torch

from ..config import checked, positive
from ..core import (DataSpec, GaussianEncoder, Match, Objective, Phase, PhaseObjective, UnifiedModel, adam, objective,
                    rws_wake_q_objective, sleep_objective_eq14, tile, wake_objective_eq14)
from ..core.matching import check_tool
from ..registry import register_model
from .vae import VAEConfig, vae_parts


@dataclass
class WakeSleepConfig(VAEConfig):
    reweighted: bool = checked(False, (lambda v: isinstance(v, bool), "must be true/false"), "reweighted wake-sleep")
    k: int = checked(5, positive, "samples of h per example in reweighted wake-sleep")


def _weighted_samples(model: UnifiedModel, x, k: int):
    """h_i ~ q_λ(h|x) (no gradient into λ) and their normalised importance weights w̃_i ∝ p_θ(x,h_i)/q_λ(h_i|x),
    [k, B]: one draw for both, so each weight belongs to its own sample (weights from an independent
    draw would carry no signal about h_i: their expected wake-q gradient is E_q[∇ log q] = 0)."""
    with torch.no_grad():
        log_w, h = model.log_weights(x, k, with_samples=True)
    return h, torch.softmax(log_w, dim=0)


def wake(k: int) -> PhaseObjective:
    """Eq. 14's wake phase with ``k`` samples of h (1: plain wake-sleep; > 1: reweighted)."""
    def wake_eq14(model: UnifiedModel, batch) -> Objective:
        """Eq. 14 wake: log p_θ(x|h) (+ log p(h), constant here) at h ~ q_λ(h|x), importance-weighted if k > 1."""
        x = batch["x"]
        h, w = _weighted_samples(model, x, k)
        log_px = model["decoder"].log_prob(tile(x, k), h.reshape(-1, h.shape[-1])).reshape(k, -1)
        return wake_objective_eq14((w * log_px).sum(0))
    return PhaseObjective(wake_eq14, "eq14_wake")


def wake_q(k: int) -> PhaseObjective:
    """Reweighted wake-q with ``k`` samples of h."""
    def rws_wake_q(model: UnifiedModel, batch) -> Objective:
        """Reweighted wake-q: Σ_i w̃_i log q_λ(h_i|x), the weights and samples held fixed."""
        x = batch["x"]
        h, w = _weighted_samples(model, x, k)
        mean, log_var = model["encoder"](x)
        return rws_wake_q_objective(GaussianEncoder.log_prob_of(h, mean, log_var), w)
    return PhaseObjective(rws_wake_q, "rws_wake_q")


@objective("eq14_sleep")
def sleep(model: UnifiedModel, batch) -> Objective:
    """Eq. 14 sleep: dream h ~ p(h), x ~ p_θ(x|h), then fit q_λ(h|x) to recover h."""
    with torch.no_grad():
        h = model["prior"].sample(batch["x"].shape[0])
        x = model["decoder"].sample(h)
    mean, log_var = model["encoder"](x)
    return sleep_objective_eq14(GaussianEncoder.log_prob_of(h, mean, log_var))


@register_model("wake_sleep", config=WakeSleepConfig, family="wake-sleep")
def build_wake_sleep(cfg: WakeSleepConfig, spec: DataSpec) -> UnifiedModel:
    """Helmholtz machine trained by wake-sleep (Eq. 14), optionally reweighted."""
    opt = adam(cfg.lr)
    phases = [Phase("wake", ("decoder",), wake(cfg.k if cfg.reweighted else 1), optim=opt)]
    if cfg.reweighted:
        phases.append(Phase("wake_q", ("encoder",), wake_q(cfg.k), optim=opt))
    else:
        phases.append(Phase("sleep", ("encoder",), sleep, optim=opt))
    pair = check_tool(Match("h", "q_λ(h|x)", "p_θ(h|x)", "kl"), cfg.match_z, True, True, allowed=("kl",))
    parts = vae_parts(cfg, spec)
    del parts["discriminator"]  # no q_* here: wake-sleep sees only data in the wake phase
    return UnifiedModel("wake_sleep", "wake-sleep", parts, phases, x_shape=spec.x_shape, num_classes=spec.num_classes,
                        meaning={"x": "data", "y": "—", "z": "latent h"}, generative=("decoder",),
                        inference=("encoder",), config=cfg,
                        matches=(Match("x", "p_θ(x|h)", "p_data(x)", "reconstruction"),
                                 pair))
