"""Lemma 2 checked exactly (float64) on a linear-Gaussian VAE, where the marginal and posterior are closed form.

Model: z ~ N(0, I_d), x|z ~ N(Wz + b, s²I_D) (the decoder p̃_θ(x|z), branch y=0); so p̃_θ(x) = N(b, WWᵀ + s²I)
and p̃_θ(z|x) = N(Σ Wᵀ(x − b)/s², Σ), Σ = (I + WᵀW/s²)⁻¹. Encoder q_η(z|x) = N(Ax + c, L(x)L(x)ᵀ) with
arbitrary (random) parameters. Real data p_data = N(0, τ²I) (known, so the y-posterior is computable).

Lemma 2 / Eq. 12: with the perfect discriminator q_* (q^r_*(y=0|x) = 1 on real x, 0 on generated x) the
library's ``loss_from(elbo_eq12(..., q_r_y0, normaliser=#real))`` is minus the textbook ELBO averaged over
real data; generated samples in the same batch get weight 0 and are blocked out (zero gradient). Checked:

(a) Eq. 12 (library) = E_q log p̃(x|z) − KL(q_η(z|x) ‖ p̃(z)), both terms in closed form;
(b) = log p̃_θ(x) − KL(q_η(z|x) ‖ p̃_θ(z|x)) (exact evidence and posterior);
(c) = −KL(q_η(z|x,y) q^r_*(y|x) ‖ p_θ(z,y|x)) + log p_θ(x) + log 2, the Table-1 KL of VAEs. Here
    p_θ(x) = ½p̃_θ(x) + ½p_data(x) mixes both branches; by the KL chain rule
    KL_joint = KL(q_η ‖ p̃_θ(z|x)) − log p_θ(y=0|x), p_θ(y=0|x) = p̃_θ(x)/(p̃_θ(x) + p_data(x)).
    The log 2 = KL(q^r_*(y|x) ‖ p(y)) is the constant that ``elbo_eq12`` drops (p(y) = ½).
(d) Monte Carlo: the same ``elbo_eq12`` with sampled log p̃(x|z) and log q − log p agrees within sampling error.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import MultivariateNormal, kl_divergence

from unidgm.core.objectives import elbo_eq12, loss_from
from unidgm.theory.densities import DTYPE, single_threaded


def _make_problem(seed: int, d: int, D: int, n_real: int, n_fake: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    rn = lambda *shape: torch.randn(*shape, generator=g, dtype=DTYPE)  # noqa: E731
    p = {"W": rn(D, d), "b": rn(D), "s": 0.7, "tau": 1.5,
         "A": 0.3 * rn(d, D), "c": 0.2 * rn(d), "L0": 0.3 * rn(d, d), "B": 0.1 * rn(d, D), "e": 0.2 * rn(d) - 0.5}
    x_real = p["tau"] * rn(n_real, D)                                      # x ~ p_data
    z = rn(n_fake, d)
    x_fake = z @ p["W"].T + p["b"] + p["s"] * rn(n_fake, D)                # x ~ p̃_θ(x): generated samples
    p["x"] = torch.cat([x_real, x_fake])
    p["q_r_y0"] = torch.cat([torch.ones(n_real, dtype=DTYPE), torch.zeros(n_fake, dtype=DTYPE)])  # q^r_*(y=0|x)
    return p


def _encoder(p: dict, x: Tensor) -> tuple[Tensor, Tensor]:
    """q_η(z|x) = N(Ax + c, LLᵀ), L = strictly-lower(L0) + diag(exp(Bx + e)): arbitrary, not the posterior."""
    mean = x @ p["A"].T + p["c"]
    diag = torch.exp(x @ p["B"].T + p["e"])
    tril = torch.tril(p["L0"], -1).expand(x.shape[0], -1, -1) + torch.diag_embed(diag)
    return mean, tril


def _closed_forms(p: dict, x: Tensor, mean: Tensor, tril: Tensor) -> dict:
    W, b, s = p["W"], p["b"], p["s"]
    D, d = W.shape
    cov = tril @ tril.transpose(-1, -2)
    resid = x - mean @ W.T - b
    tr = torch.einsum("ij,njk,ik->n", W, cov, W)                          # tr(W S Wᵀ)
    e_log_lik = -0.5 * D * math.log(2 * math.pi * s * s) - ((resid ** 2).sum(-1) + tr) / (2 * s * s)
    q = MultivariateNormal(mean, scale_tril=tril)
    eye = torch.eye(d, dtype=DTYPE)
    kl_prior = kl_divergence(q, MultivariateNormal(torch.zeros(d, dtype=DTYPE), eye))
    log_marg = MultivariateNormal(b, W @ W.T + s * s * torch.eye(D, dtype=DTYPE)).log_prob(x)
    post_cov = torch.linalg.inv(eye + W.T @ W / (s * s))
    post_mean = (x - b) @ W @ post_cov.T / (s * s)
    kl_post = kl_divergence(q, MultivariateNormal(post_mean, post_cov.expand(x.shape[0], d, d)))
    log_pdata = MultivariateNormal(torch.zeros(D, dtype=DTYPE), p["tau"] ** 2 * torch.eye(D, dtype=DTYPE)).log_prob(x)
    log_p_theta = torch.logaddexp(log_marg, log_pdata) - math.log(2)      # p_θ(x) = ½p̃_θ(x) + ½p_data(x)
    log_py0 = log_marg - torch.logaddexp(log_marg, log_pdata)              # p_θ(y=0|x)
    kl_joint = kl_post - log_py0                                           # KL(q_η q^r_* ‖ p_θ(z,y|x)), real x
    return {"e_log_lik": e_log_lik, "kl_prior": kl_prior, "log_marg": log_marg, "kl_post": kl_post,
            "kl_joint": kl_joint, "log_p_theta": log_p_theta}


@single_threaded
def lemma2_check(seed: int = 0, d: int = 3, D: int = 5, n_real: int = 6, n_fake: int = 4,
                 n_mc: int = 100_000) -> dict:
    """Lemma 2 quantities (batch means over real examples) and their absolute differences; see module doc."""
    p = _make_problem(seed, d, D, n_real, n_fake)
    x = p["x"].clone().requires_grad_(True)
    mean, tril = _encoder(p, x)
    cf = _closed_forms(p, x, mean, tril)
    real = p["q_r_y0"] > 0
    objective = elbo_eq12(cf["e_log_lik"], cf["kl_prior"], q_r_y0=p["q_r_y0"], normaliser=float(n_real))
    loss = loss_from(objective)
    (grad_x,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        eq12 = -float(loss)
        textbook = float((cf["e_log_lik"] - cf["kl_prior"])[real].mean())
        evidence_form = float((cf["log_marg"] - cf["kl_post"])[real].mean())
        joint_form = float((cf["log_p_theta"] - cf["kl_joint"])[real].mean() + math.log(2))
        per_ex = (cf["e_log_lik"] - cf["kl_prior"] - cf["log_marg"] + cf["kl_post"]).abs().max()
        # (d) Monte Carlo with the reparameterised encoder
        g = torch.Generator().manual_seed(seed + 1)
        eps = torch.randn(n_mc, *mean.shape, generator=g, dtype=DTYPE)
        z = mean + torch.einsum("nij,knj->kni", tril, eps)
        q = MultivariateNormal(mean, scale_tril=tril)
        log_lik = (-0.5 * ((x - z @ p["W"].T - p["b"]) / p["s"]) ** 2
                   - math.log(p["s"]) - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prior = (-0.5 * z ** 2 - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_ratio = q.log_prob(z) - log_prior
        mc_obj = elbo_eq12(log_lik.mean(0), log_ratio.mean(0), q_r_y0=p["q_r_y0"], normaliser=float(n_real))
        eq12_mc = -float(loss_from(mc_obj))
        mc_se = float(((log_lik - log_ratio).var(0)[real].sum() / n_mc).sqrt() / n_real)
    return {
        "eq12_library": eq12, "textbook_elbo": textbook, "log_px_minus_kl_posterior": evidence_form,
        "neg_kl_joint_plus_evidence": joint_form,
        "mean_log_px": float(cf["log_marg"][real].mean().detach()),
        "mean_kl_posterior": float(cf["kl_post"][real].mean().detach()),
        "mean_kl_joint": float(cf["kl_joint"][real].mean().detach()),
        "diff_textbook": abs(eq12 - textbook), "diff_evidence": abs(eq12 - evidence_form),
        "diff_joint": abs(eq12 - joint_form), "max_per_example_diff": float(per_ex),
        "grad_norm_generated": float(grad_x[~real].norm()), "grad_norm_real": float(grad_x[real].norm()),
        "eq12_monte_carlo": eq12_mc, "mc_std_error": mc_se, "mc_z_score": (eq12_mc - textbook) / mc_se,
        "n_real": n_real, "n_fake": n_fake, "n_mc": n_mc,
    }


def run_lemma2(verbose: bool = True, seed: int = 0) -> dict:
    """Print and return :func:`lemma2_check`: Eq. 12 with q_* vs the textbook ELBO and the exact KL forms."""
    r = lemma2_check(seed=seed)
    if verbose:
        print(f"Lemma 2 (Eq. 12, perfect discriminator q_*): linear-Gaussian VAE, {r['n_real']} real + "
              f"{r['n_fake']} generated examples (weight 0), float64, seed {seed}")
        rows = [("Eq. 12 via elbo_eq12/loss_from", r["eq12_library"], None),
                ("E_q log p(x|z) - KL(q||p(z))", r["textbook_elbo"], r["diff_textbook"]),
                ("log p(x) - KL(q||p(z|x))", r["log_px_minus_kl_posterior"], r["diff_evidence"]),
                ("-KL(q q^r_*||p(z,y|x)) + log p_theta(x) + log 2", r["neg_kl_joint_plus_evidence"], r["diff_joint"]),
                ("Monte Carlo elbo_eq12", r["eq12_monte_carlo"], abs(r["eq12_monte_carlo"] - r["eq12_library"]))]
        for name, val, diff in rows:
            tail = "" if diff is None else f"   |diff| = {diff:.1e}"
            print(f"  {name:<48} {val: .12f}{tail}")
        print(f"  max per-example |ELBO - (log p(x) - KL(q||posterior))| = {r['max_per_example_diff']:.1e}")
        print(f"  Monte Carlo: {r['n_mc']} samples, std error {r['mc_std_error']:.1e}, z = {r['mc_z_score']:+.2f}")
        print(f"  generated samples blocked out: |grad wrt generated x| = {r['grad_norm_generated']:.1e} "
              f"(real: {r['grad_norm_real']:.2e})")
    return r
