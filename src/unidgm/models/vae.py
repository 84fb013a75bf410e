"""VAE (Kingma & Welling 2014) in the discriminator-weighted form of Eq. 12.

Table 1, VAE column: z is latent and x visible; the decoder p_θ(x|z,y) (Eq. 13) is generative,
the encoder q_η(z|x,y) and the perfect discriminator q_*(y|x) are inference. One phase, the
paper's wake phase extended (Eq. 14), maximises Eq. 12 in θ and η, minimising
KL(q_η(z|x,y) q^r_*(y|x) ‖ p_θ(z,y|x)) (Lemma 2). Techniques: adversary activation (AA-VAE, Eq. 17).
The code pair q_η(z|x) ~ p(z) is matched by ``match_z``: kl (the VAE) or adversarial (a joint T(x, z)
estimates the per-example KL, as in AVB, so the objective remains an ELBO estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..config import Config, checked, one_of, positive, widths
from ..core import (CodeDiscriminator, DataSpec, ExplicitGenerator, GaussianEncoder, GaussianPrior, Match,
                    PerfectDiscriminator, Phase, UnifiedModel, adam)
from ..core.games import vae_objective
from ..core.matching import check_tool, code_form, code_phi_objective
from ..nets import MLP
from ..registry import register_model

VAE_MEANING = {"x": "data / generations", "y": "real/fake indicator (degenerate)", "z": "code vector"}
MATCH_Z = Match("z", "q_η(z|x)", "p(z)", "kl")
MATCH_X_RECON = Match("x", "p_θ(x|z)", "p_data(x)", "reconstruction")


@dataclass
class VAEConfig(Config):
    z_dim: int = checked(50, positive, "code size (the paper's MNIST VAE: 50)")
    hidden: tuple[int, ...] = checked((500, 500), widths, "MLP widths (the paper's MNIST VAE: 500-500)")
    likelihood: str = checked("bernoulli", one_of("bernoulli", "gaussian"), "decoder likelihood")
    lr: float = checked(1e-3, positive, "Adam learning rate")
    dropout: float = checked(0.0, (lambda v: 0 <= v < 1, "must lie in [0, 1)"),
                             "dropout after each hidden activation of the encoder and decoder MLPs (0: none)")
    match_z: str = checked("kl", one_of("kl", "adversarial"), "tool for q_η(z|x) ~ p(z) (CLI: match.z=...)")
    # the code adversary must track an encoder that sharpens fast, else its KL estimate saturates
    psi_steps: int = checked(5, positive, "code-discriminator updates per step (match.z=adversarial)")
    psi_lr: float = checked(5e-3, positive, "code-discriminator learning rate (match.z=adversarial)")


def vae_parts(cfg, spec: DataSpec, cond: int = 0, encoder=None, prior=None, joint: bool = True) -> dict:
    """Prior, explicit decoder, (Gaussian) encoder, the perfect q_* and, if adversarial, a code discriminator:
    joint T(x, z) for the per-example pair q_η(z|x) ~ p(z) (its logit estimates log p(z)/q_η(z|x), so the
    ELBO stays an ELBO), or q_ψ(y|z) on codes alone for the aggregate pair (the AAE, ``joint=False``)."""
    parts = {"prior": prior or GaussianPrior(cfg.z_dim),
             "decoder": ExplicitGenerator(MLP((cfg.z_dim,), spec.x_shape, cfg.hidden, cond, dropout=cfg.dropout),
                                          cfg.likelihood, spec.x_shape),
             "encoder": encoder or GaussianEncoder(MLP(spec.x_shape, (2 * cfg.z_dim,), cfg.hidden, cond,
                                                       dropout=cfg.dropout), cfg.z_dim),
             "discriminator": PerfectDiscriminator()}
    if cfg.match_z == "adversarial":
        net = MLP((cfg.z_dim,), (1,), cfg.hidden, cond_dim=math.prod(spec.x_shape) if joint else 0, act="leaky")
        parts["code_discriminator"] = CodeDiscriminator(net, joint=joint)
    return parts


def vae_model(name: str, cfg, spec: DataSpec, *, conditional: bool = False, objective=None,
              form: str | None = None, extra_parts: tuple[str, ...] = (), tools=("kl", "adversarial"),
              **kw) -> UnifiedModel:
    """The VAE family: a ``theta_eta`` phase moving decoder (θ) and encoder (η) — plus, when the code
    pair is matched adversarially, a ``psi`` phase training the code discriminator (Eq. 3 in z-space).
    ``tools``: those the model's objective supports for the code pair (others are refused); ``objective``: the
    θ,η phase's :class:`PhaseObjective` (default: Eq. 12 with the configured code tool).
    """
    parts = kw.pop("parts", None) or vae_parts(cfg, spec, spec.num_classes if conditional else 0)
    enc_density = isinstance(parts["encoder"], GaussianEncoder)
    prior_density = hasattr(parts["prior"], "log_prob")
    match_z = check_tool(MATCH_Z, cfg.match_z, enc_density, prior_density, allowed=tools)
    if cfg.match_z == "adversarial":
        form = code_form(parts["code_discriminator"], form)
    phases = [Phase("theta_eta", ("decoder", "encoder", *extra_parts), objective or vae_objective(cfg.match_z, form),
                    optim=adam(cfg.lr))]
    if cfg.match_z == "adversarial":
        phases.insert(0, Phase("psi", ("code_discriminator",), code_phi_objective, repeat=cfg.psi_steps,
                               optim=adam(cfg.psi_lr, adversarial=True)))
    kw.setdefault("streams", ("x", "c") if conditional else ("x",))
    kw.setdefault("matches", (MATCH_X_RECON, match_z))
    return UnifiedModel(name, "VAE", parts, phases, x_shape=spec.x_shape, num_classes=spec.num_classes,
                        conditional=conditional, meaning=VAE_MEANING, generative=("decoder", "code_discriminator"),
                        inference=("encoder", "discriminator", "classifier"), config=cfg, **kw)


@register_model("vae", config=VAEConfig, family="VAE")
def build_vae(cfg: VAEConfig, spec: DataSpec) -> UnifiedModel:
    """VAE: Eq. 12 with the perfect discriminator q_* (the textbook ELBO, Lemma 2)."""
    return vae_model("vae", cfg, spec)
