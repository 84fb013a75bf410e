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
from .objectives import (Objective, elbo_eq12, infogan_objective_eq9, phi_objective_eq3,
                         theta_objective_eq3)
from .matching import code_match_cost


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


def gan_phi(model: UnifiedModel, batch: Batch) -> Objective:
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


def gan_theta(model: UnifiedModel, batch: Batch) -> Objective:
    """Eq. 3 for θ on generated samples (the non-saturating Eq. 5); with a recogniser, Eq. 9.

    ``aux['logit_fake']`` carries D's logits so that importance weighting (Eq. 16) can reweight,
    ``aux['labels_fake']`` a conditional generator's labels, and ``aux['adversarial']`` the Eq. 3 term
    log q^r_φ(y|x) alone (the value less ACGAN's log q(c|x) and InfoGAN's log q_η(z|x)): Eq. 16 weights it.
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
    obj.aux["logit_fake"] = logit_fake
    obj.aux["adversarial"] = adversarial
    if c is not None:  # the condition each sample was generated under (IW groups samples by it)
        obj.aux["labels_fake"] = c.argmax(-1)
    return obj


def elbo_terms(model: UnifiedModel, x: Tensor, c: Tensor | None, tool: str = "kl", form: str | None = None):
    """log p̃_θ(x|z) with z ~ q_η(z|x) reparameterised, and the code-matching term's KL (or its estimate)."""
    z, mean, log_var = model["encoder"].rsample(x, c)
    cost, terms = code_match_cost(model, x, z, mean, log_var, tool, form)
    return model["decoder"].log_prob(x, z, c), cost, terms


def real_weights(model: UnifiedModel, batch: Batch, x: Tensor, c: Tensor | None) -> tuple[Tensor, float]:
    """q^r(y=0|x) from the model's q(y|x) for each example, and the number of real examples."""
    is_real = batch.get("real") if x is batch["x"] else None
    n_real = float(x.shape[0] if is_real is None else is_real.sum().item())
    return model["discriminator"].q_r_y0(x, c, is_real), n_real


def vae_objective(tool: str = "kl", form: str | None = None):
    """Eq. 12 with the code pair matched by ``tool`` (kl: the VAE; adversarial: AAE/AVB style; see
    :func:`code_match_cost` for ``form``)."""
    def objective(model: UnifiedModel, batch: Batch) -> Objective:
        """Eq. 12 on the batch: each example's ELBO weighted by q^r(y=0|x) from the model's q(y|x).

        With the perfect q_* every real example weighs 1 and generated ones (if any) weigh 0 — the
        VAE (Lemma 2); with a learned q_φ the weights are D_φ(x) — the AA-VAE (Eq. 17). The sum is
        normalised by the number of real examples, so q_* gives the VAE loss exactly.
        """
        x, c = batch["x"], condition(model, batch)
        log_px, kl, terms = elbo_terms(model, x, c, tool, form)
        w, n_real = real_weights(model, batch, x, c)
        obj = elbo_eq12(log_px, kl, w, normaliser=n_real, kl_weight=model.kl_weight)
        obj.terms.update(terms)
        if "log_qr_psi_z" in terms:  # GAN form (AAE): log q^r_ψ stands where −KL was, so this is no ELBO
            obj.terms["recon_plus_log_qr_psi"] = obj.terms.pop("elbo")
            obj.terms.pop("kl_z")
        elif "kl_z_adversarial" in terms:  # ratio form (AVB): the KL is the critic's estimate, not a bound
            obj.terms["elbo_T"] = obj.terms.pop("elbo")
            obj.terms.pop("kl_z")  # the same number as kl_z_adversarial, which names it as T's
        return obj
    objective.__name__ = f"eq12_{tool}"
    objective.anneals_kl = True  # reads model.kl_weight (train.kl_warmup)
    return objective


vae_eq12 = vae_objective("kl")
