"""Phase bodies shared by many models: the parts wired into the paper's objectives.

Each function maps (model, batch) to an :class:`Objective`; models pick them when they declare
phases. They read parts by their Table-1 names: ``prior``, ``generator`` (implicit p_θ(x|y)),
``decoder`` (explicit p_θ(x|z,y)), ``discriminator`` (q_φ(y|x) or the perfect q_*), ``encoder``
(q_η(z|x,y)), ``recogniser`` (InfoGAN's q_η), ``classifier`` (q(c|x)).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .model import Batch, UnifiedModel
from .objectives import (Generated, Objective, PhaseObjective, elbo_eq12, infogan_objective_eq9, phi_objective_eq3,
                         theta_objective_eq3)
from .matching import code_match_cost
from .parts import with_each


def condition(model: UnifiedModel, batch: Batch, key: str = "c") -> Tensor | None:
    """The one-hot labels of a stream, for conditional models only."""
    return model.onehot(batch[key], batch[key].shape[0]) if model.conditional else None


def generate(model: UnifiedModel, n: int, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """z ~ p(z|y=0), x = G_θ(z, c): a draw from the implicit p_θ(x|y=0) (Eq. 4)."""
    z = model["prior"].sample(n)
    return z, model["generator"](z, c)


def fake_labels(model: UnifiedModel, n: int) -> Tensor | None:
    """Random one-hot labels for the generations of a conditional model, else None."""
    return model.onehot(None, n)


def _aux_class_term(aux_logits: Tensor | None, c: Tensor | None) -> Tensor | float:
    """ACGAN's auxiliary classifier log q(c|x), zero when the discriminator has no class head."""
    if aux_logits is None:
        return 0.0
    return -F.cross_entropy(aux_logits, c.argmax(-1), reduction="none")


def _disc_cond(model: UnifiedModel, c: Tensor | None) -> Tensor | None:
    # a conditional GAN shows the labels to D; an ACGAN makes D predict them instead
    return c if model.conditional and not model["discriminator"].aux_classes else None


def _gan_phi(model: UnifiedModel, batch: Batch) -> Objective:
    """Eq. 3 for φ on real data vs fresh generations (held fixed): GAN, CGAN, ACGAN, InfoGAN."""
    x_real = batch["x"]
    d = model["discriminator"]
    c_real, c_fake = condition(model, batch), fake_labels(model, x_real.shape[0])
    with torch.no_grad():
        _, x_fake = generate(model, x_real.shape[0], c_fake)
    logit_real, aux_real = d.heads(x_real, _disc_cond(model, c_real))
    logit_fake, aux_fake = d.heads(x_fake, _disc_cond(model, c_fake))
    obj = phi_objective_eq3(logit_real, logit_fake)
    if d.aux_classes:
        obj.value = obj.value + torch.cat([_aux_class_term(aux_real, c_real), _aux_class_term(aux_fake, c_fake)])
    return obj


def _gan_theta(model: UnifiedModel, batch: Batch) -> Objective:
    """Eq. 3 for θ on generated samples (the non-saturating Eq. 5); with a recogniser, Eq. 9.

    Declares for importance weighting (Eq. 16): D's logits on the samples (``logit_fake``), the labels a
    conditional generator drew them under (``groups``), and — where ACGAN's log q(c|x) or InfoGAN's
    log q_η(z|x) join the value — the Eq. 3 term log q^r_φ(y|x) alone (``adversarial``).
    """
    n = batch["x"].shape[0]
    d = model["discriminator"]
    c = fake_labels(model, n)
    z, x_fake = generate(model, n, c)
    logit_fake, aux_fake = d.heads(x_fake, _disc_cond(model, c))
    obj = theta_objective_eq3(logit_fake)
    adversarial = obj.value
    if d.aux_classes:
        obj.value = obj.value + _aux_class_term(aux_fake, c)
    if model.has("recogniser"):
        codes = model["prior"].split(z)
        obj = infogan_objective_eq9(obj, model["recogniser"].log_prob(x_fake, codes.get("c_cat"), codes["c_cont"]))
    obj.logit_fake = logit_fake
    obj.adversarial = None if obj.value is adversarial else adversarial
    obj.groups = None if c is None else c.argmax(-1)
    return obj


gan_phi = PhaseObjective(_gan_phi, "eq3_phi")
gan_theta = PhaseObjective(_gan_theta, "eq3_theta", over="fake", provides=("logit_fake", "groups", "adversarial"))
infogan_phi = PhaseObjective(_gan_phi, "eq9_phi")
infogan_theta = PhaseObjective(_gan_theta, "eq9_theta", over="fake", provides=("logit_fake", "groups", "adversarial"))


def elbo_terms(model: UnifiedModel, x: Tensor, c: Tensor | None, tool: str = "kl", form: str | None = None, *,
               each: Tensor | None = None):
    """log p̃_θ(x|z) with z ~ q_η(z|x) reparameterised, the code-matching term's KL (or its estimate), its logged
    terms, and the code adversary's logit on the inferred codes (None for kl). With ``each`` (k conditions, no
    ``c``): every example under every condition, label-major [k·n] (M2's sum over labels, the encoder's input
    layer seeing each x once)."""
    if each is None:
        z, mean, log_var = model["encoder"].rsample(x, c)
    else:
        z, mean, log_var = model["encoder"].rsample_each(x, each)
        x, c = with_each(x, each)
    cost, terms, logit = code_match_cost(model, x, z, mean, log_var, tool, form, with_logit=True)
    return model["decoder"].log_prob(x, z, c), cost, terms, logit


def real_weights(model: UnifiedModel, x: Tensor, c: Tensor | None, is_real: Tensor | None) -> tuple[Tensor, float]:
    """q^r(y=0|x) from the model's q(y|x) for each example (``is_real``: 1 real, 0 generated; None: all real),
    and the number of real examples."""
    n_real = float(x.shape[0] if is_real is None else is_real.sum().item())
    return model["discriminator"].q_r_y0(x, c, is_real), n_real


def with_generated(x: Tensor, labels: Tensor | None, generated: Generated | None):
    """The real examples followed by the generated ones (Eq. 17), their labels, and the real/generated mask."""
    if generated is None:
        return x, labels, None
    is_real = torch.cat([torch.ones(len(x), device=x.device), torch.zeros(len(generated.x), device=x.device)])
    if labels is not None:
        labels = torch.cat([labels, generated.labels])
    return torch.cat([x, generated.x]), labels, is_real


def vae_objective(tool: str = "kl", form: str | None = None) -> PhaseObjective:
    """Eq. 12 with the code pair matched by ``tool`` (kl: the VAE; adversarial: AAE/AVB style, ``form`` 'gan'
    or 'ratio' as in :func:`code_match_cost`)."""
    code_game = tool == "adversarial" and form == "gan"  # the AAE: Eq. 3 in code space, the encoder its generator

    def eq12(model: UnifiedModel, batch: Batch, generated: Generated | None = None) -> Objective:
        """Eq. 12 on the batch: each example's ELBO weighted by q^r(y=0|x) from the model's q(y|x).

        With the perfect q_* every real example weighs 1 and generated ones (if any) weigh 0 — the
        VAE (Lemma 2); with a learned q_φ the weights are D_φ(x) — the AA-VAE (Eq. 17). The sum is
        normalised by the number of real examples, so q_* gives the VAE loss exactly.
        """
        x, labels, is_real = with_generated(batch["x"], batch["c"] if model.conditional else None, generated)
        c = model.onehot(labels, x.shape[0]) if model.conditional else None
        log_px, kl, terms, code_logit = elbo_terms(model, x, c, tool, form)
        w, n_real = real_weights(model, x, c, is_real)
        obj = elbo_eq12(log_px, kl, w, normaliser=n_real, kl_weight=model.kl_weight)
        obj.terms.update(terms)
        obj.is_real, obj.q_r_y0 = is_real, w
        if code_game:  # GAN form (AAE): log q^r_ψ stands where −KL was, so this is no ELBO
            obj.terms["recon_plus_log_qr_psi"] = obj.terms.pop("elbo")
            obj.terms.pop("kl_z")
            obj.logit_fake = code_logit
            obj.adversarial = -kl if model.kl_weight == 1.0 else -model.kl_weight * kl
        elif "kl_z_adversarial" in terms:  # ratio form (AVB): the KL is the critic's estimate, not a bound
            obj.terms["elbo_T"] = obj.terms.pop("elbo")
            obj.terms.pop("kl_z")  # the same number as kl_z_adversarial, which names it as T's
        return obj
    eq12.__name__ = f"eq12_{tool}"
    provides = ("is_real", "q_r_y0") + (("logit_fake", "adversarial") if code_game else ())
    return PhaseObjective(eq12, "eq12", provides=provides, anneals_kl=True, takes_generated=True)
