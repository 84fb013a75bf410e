"""Matching tools per pair of distributions (the symmetric view, Sec. A of the paper's supplement).

For each pair a model matches, the tool is a choice: ``kl`` (needs both densities: closed form or
Monte Carlo), ``adversarial`` (a discriminator estimates the density ratio: Eq. 3 in the pair's
space) or ``reconstruction`` (a likelihood term). This module holds the code-space tools once;
models pick them by configuration (``match.z=kl|adversarial``).

Code-space adversary convention: y=1 for prior codes z ~ p(z) (the "data" of code space), y=0
for inferred codes z ~ q_η(z|x) (the "generations"), exactly as the AAE swaps x and z of a GAN.
A joint T(x, z) (VAE, AVB) sees each x with a prior code and with its inferred code; at the optimum
its logit is log p(z)/q_η(z|x), so −E_q[logit] estimates KL(q_η(z|x) ‖ p(z)) per example. A
code-only q_ψ(y|z) (AAE) reaches log p(z)/q_η(z), q_η(z) the aggregate posterior. Both are
logistic density-ratio estimates: accurate for a few nats of KL (tests/core/test_matching.py), but
an encoder trained against T can sharpen faster than T follows, and T then underestimates the KL.
"""

from __future__ import annotations

from torch import Tensor

from ..errors import ConfigError
from .model import Match
from .objectives import Objective, objective, phi_step, theta_objective_eq3
from .parts import GaussianEncoder, GaussianPrior

TOOLS = ("kl", "adversarial", "reconstruction")


def check_tool(match: Match, tool: str, left_density: bool, right_density: bool, allowed=TOOLS) -> Match:
    """The match with ``tool``, or a clear refusal naming the side that lacks what the tool needs."""
    if tool == "kl" and not (left_density and right_density):
        lacking = " and ".join(s for s, has in ((match.left, left_density), (match.right, right_density)) if not has)
        raise ConfigError(f"match.{match.space}=kl needs the densities of both sides, but {lacking} can only be "
                          f"sampled (implicit); use match.{match.space}=adversarial")
    if tool not in allowed:
        raise ConfigError(f"tool {tool!r} is not available for the {match.space} pair ({match.left} ~ {match.right}); "
                          f"choose one of: {', '.join(allowed)}")
    return Match(match.space, match.left, match.right, tool)


@objective("eq3_phi")
def code_phi_objective(model, batch) -> Objective:
    """Eq. 3 for the code-space discriminator ψ: prior codes (y=1) vs inferred codes (y=0), held fixed."""
    x = batch["x"]
    c = model.onehot(batch["c"], x.shape[0]) if model.conditional else None
    d = model["code_discriminator"]
    cond_x = x if d.joint else None

    def draw():
        z_q = model["encoder"].rsample(x, c)[0]  # drawn before the prior's codes, as always (the RNG order)
        return (model["prior"].sample(x.shape[0]), cond_x), (z_q, cond_x)
    return phi_step(d, draw)


def code_match_cost(model, x: Tensor, z: Tensor, mean: Tensor | None, log_var: Tensor | None, tool: str,
                    form: str | None = None, *, with_logit: bool = False):
    """The per-example cost that pulls q_η(z|x) towards p(z), to *subtract* from the reconstruction term.

    kl: KL(q_η(z|x) ‖ p(z)), closed form for a Gaussian encoder and prior. adversarial: Eq. 3's
    θ side in code space, −log q^r_ψ(y=0|z) (form 'gan', the AAE), or the density-ratio estimate
    of the KL, −logit (form 'ratio', adversarial variational Bayes). By default the form follows the
    discriminator: a joint T(x, z) estimates the per-example ratio log p(z)/q_η(z|x) ('ratio'), a
    code-only q_ψ(y|z) plays a GAN against the aggregate posterior ('gan'). Returned as a cost, not
    a value, so that the hot path (the VAE's KL) adds no negations in forward or backward.
    ``with_logit``: also return the code discriminator's logit on the inferred codes (None for kl), the
    generated-sample logits that importance weighting (Eq. 16) reweights in the AAE's code-space game.
    """
    if tool == "kl":
        if mean is None or not isinstance(model["prior"], GaussianPrior):
            raise ConfigError("match.z=kl needs a Gaussian encoder and prior; use match.z=adversarial")
        out = GaussianEncoder.kl_to_standard_normal(mean, log_var), {}  # elbo_eq12 logs it as kl_z
        return (*out, None) if with_logit else out
    d = model["code_discriminator"]
    logit = d(z, x if d.joint else None)
    if code_form(d, form) == "ratio":
        out = -logit, {"kl_z_adversarial": (-logit).mean().detach()}
    else:
        term = theta_objective_eq3(logit).value
        out = -term, {"log_qr_psi_z": term.mean().detach(), "kl_z_adversarial": (-logit).mean().detach()}
    return (*out, logit) if with_logit else out


def code_form(code_discriminator, form: str | None = None) -> str:
    """'ratio' (a joint T(x, z) estimating the per-example KL) or 'gan' (a code-only adversary, the AAE)."""
    return form or ("ratio" if code_discriminator.joint else "gan")


def elbo_T(model, x: Tensor, c: Tensor | None = None) -> Tensor:
    """The critic's ELBO estimate log p_θ(x|z) + T(x, z), z ~ q_η(z|x), per example (AVB; match.z=adversarial).

    T(x, z) ≈ log p(z)/q_η(z|x) only at the critic's optimum, so this is an *estimate*, not a bound: report
    it as ``elbo_T``, beside AIS and (for a Gaussian q_η) the closed-form ELBO.
    """
    d = model["code_discriminator"]
    if not d.joint:
        raise ConfigError(f"{model.name}'s code discriminator sees z only (aggregate posterior): it estimates no "
                          "per-example KL, so there is no elbo_T")
    z = model["encoder"].rsample(x, c)[0]
    return model["decoder"].log_prob(x, z, c) + d(z, x)
