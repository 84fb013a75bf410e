"""Lemma 1 (Eq. 6) and Eq. 8, checked numerically in float64 on a 1-D problem with exact densities.

Setting. y=1 real, y=0 generated, p(y)=½. Data p_data is a 1-D Gaussian mixture; the generator is the
location-scale map x = μ + σ ε, ε ~ N(0,1), θ = (μ, log σ), so p_gθ = N(μ, σ²) in closed form. The
discriminator q_φ0(y=1|x) = σ(logit(x)) is held fixed at φ0 (any function; it need not be optimal).

Eq. 6 says that, at θ = θ0,

    ∇_θ[ −E_{p_θ(x|y)p(y)} log q^r_φ0(y|x) ]  =  ∇_θ[ E_{p(y)} KL(p_θ(x|y) ‖ q^r(x|y)) − JSD(p_gθ ‖ p_data) ]

with q^r(x|y) ∝ q^r_φ0(y|x) p_θ0(x) and p_θ0(x) = ½(p_gθ0(x) + p_data(x)), both held at θ0.

* LEFT is the library's generator loss: ``loss_from(theta_objective_eq3(logit(x_fake), logit(x_real)))``
  with quadrature weights in ``Objective.weight``: ½·(Gauss weights over ε) for the generated half
  (x_fake = μ + σ ε, reparameterised, so autograd differentiates through the generator) and
  ½·(trapezoid weights × p_data) for the real half (no θ, zero gradient). The ½'s are p(y); so the
  left gradient is ½ ∇_θ(−E_{p_gθ} log D_φ0(x)).
* RIGHT is a quadrature over x of closed-form densities, autograd through p_gθ(x) only:
  ½ KL(p_gθ ‖ q^r(x|0)) + ½ KL(p_data ‖ q^r(x|1)) − JSD(p_gθ ‖ p_data), JSD = ½KL(p_g‖m) + ½KL(p_d‖m),
  m = ½(p_g + p_d). The y=1 KL has no θ; the normalisers of q^r(x|y) are constants.

Why it is exact: ∇[½KL(p_gθ‖q^r(x|0))] = ½∫∇p_gθ log p_gθ − ½∇E_{p_gθ}log D − ½∫∇p_gθ log p_θ0, and at θ0
∇JSD = ½∫∇p_gθ log p_gθ − ½∫∇p_gθ log p_θ0; the difference is −½∇E_{p_gθ}log D = LEFT. Only
quadrature error remains (≈1e-12 relative here).

Eq. 8 (optimal discriminator, Eq. 7: D* = p_data/(p_gθ0 + p_data)). Then q^r(x|0) ∝ D*·½(p_gθ0 + p_data)
∝ p_data, so q^r(x|0) = p_data, and q^r(x|1) = p_gθ0 has no θ. With the p(y)=½ weighting the right side
becomes ∇[½ KL(p_gθ ‖ p_data) − JSD(p_gθ ‖ p_data)]: the ½ on the KL is p(y=0), the JSD keeps weight 1.
The KL(p_g‖p_data) direction is the mode-seeking one (see :mod:`unidgm.theory.kl_asymmetry`).

Cancellation. A uniform-guessing discriminator (logit ≡ 0) makes log D constant, so LEFT is exactly 0;
on the right q^r(x|0) = p_θ0 and the ½KL and JSD gradients (each non-zero) cancel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from unidgm.core import objectives as obj_mod
from unidgm.errors import ConfigError, did_you_mean
from unidgm.theory.densities import (DEFAULT_DATA, DTYPE, GaussianMixture1D, normal_log_prob,
                                     single_threaded, standard_normal_grid, trapezoid_grid)

Logit = Callable[[Tensor], Tensor]
LOG2 = math.log(2.0)


# --- fixed, deliberately non-optimal discriminators (logits of q_φ0(y=1|x)) -------------------

def fixed_tanh_logit(x: Tensor) -> Tensor:
    """A fixed 3-unit tanh network: an arbitrary, non-optimal discriminator."""
    return (0.4 + 1.3 * torch.tanh(0.8 * x - 0.5) - 0.9 * torch.tanh(1.5 * x + 1.0)
            + 0.6 * torch.tanh(0.5 * x + 2.0))


def fixed_poly_logit(x: Tensor) -> Tensor:
    """A fixed quadratic logit 0.3 + 0.4x − 0.25x² (D → 0 in both tails)."""
    return 0.3 + 0.4 * x - 0.25 * x * x


def uniform_logit(x: Tensor) -> Tensor:
    """The uniform-guessing discriminator D ≡ ½ (logit ≡ 0; written 0·x to stay in the graph)."""
    return 0.0 * x


def optimal_logit(mu0: float, sigma0: float, data: GaussianMixture1D = DEFAULT_DATA) -> Logit:
    """Eq. 7 at θ0: D*(x) = p_data/(p_gθ0 + p_data), i.e. logit = log p_data − log p_gθ0 (fixed)."""
    def logit(x: Tensor) -> Tensor:
        return data.log_prob(x) - normal_log_prob(x, float(mu0), float(sigma0))
    return logit


DISCRIMINATORS = ("fixed", "poly", "optimal", "uniform")


def _resolve(discriminator: str | Logit, mu0: float, sigma0: float, data: GaussianMixture1D) -> tuple[str, Logit]:
    if callable(discriminator):
        return getattr(discriminator, "__name__", "callable"), discriminator
    table = {"fixed": fixed_tanh_logit, "poly": fixed_poly_logit, "uniform": uniform_logit}
    if discriminator == "optimal":
        return "optimal", optimal_logit(mu0, sigma0, data)
    if discriminator in table:
        return discriminator, table[discriminator]
    raise ConfigError(f"unknown discriminator {discriminator!r}." + did_you_mean(str(discriminator), DISCRIMINATORS))


# --- the two sides of Eq. 6 -------------------------------------------------------------------

@dataclass
class Lemma1Result:
    """Both sides of Eq. 6 at θ0 = (μ0, log σ0); gradients are w.r.t. (μ, log σ).

    ``rel_diff`` = ‖left − right‖ / scale with scale = ‖left‖, or, when left is exactly 0 (uniform
    discriminator), the size ‖∇ E_p(y) KL‖ of the terms that cancel. ``eq8`` is ∇[½KL(p_g‖p_data) − JSD]
    (optimal discriminator only) and ``eq8_rel_diff`` its distance to ``left`` over the same scale.
    """

    theta0: tuple[float, float]
    discriminator: str
    left: np.ndarray
    right: np.ndarray
    grad_kl: np.ndarray
    grad_jsd: np.ndarray
    abs_diff: float
    rel_diff: float
    left_value: float
    right_value: float
    eq8: np.ndarray | None = None
    eq8_rel_diff: float | None = None
    extra: dict = field(default_factory=dict)


def _theta(theta0: Sequence[float]) -> Tensor:
    return torch.tensor([float(theta0[0]), float(theta0[1])], dtype=DTYPE, requires_grad=True)


def left_side(theta0: Sequence[float], logit: Logit, data: GaussianMixture1D = DEFAULT_DATA,
              n_eps: int = 10_001, x_grid: tuple[Tensor, Tensor] | None = None) -> tuple[np.ndarray, float]:
    """∇_θ of the library generator loss −E_{p_θ(x|y)p(y)}[log q^r_φ0(y|x)] at θ0 (Eq. 3 for θ).

    The expectation is a quadrature written into ``Objective.weight`` with ``normaliser=1``; the
    generated half is reparameterised (x = μ + σε), so the gradient is autograd through
    :func:`unidgm.core.objectives.theta_objective_eq3` and :func:`loss_from`.
    """
    theta = _theta(theta0)
    mu, sigma = theta[0], torch.exp(theta[1])
    eps, w_eps = standard_normal_grid(n_eps)
    x_fake = mu + sigma * eps
    if x_grid is None:
        x_grid = trapezoid_grid(*data.support(), 50_001)
    x_real, w_x = x_grid
    w_real = w_x * torch.exp(data.log_prob(x_real))
    objective = obj_mod.theta_objective_eq3(logit(x_fake), logit(x_real))  # value = [real half, fake half]
    objective.weight = torch.cat([0.5 * w_real, 0.5 * w_eps])              # p(y) = ½ times quadrature
    objective.normaliser = 1.0
    loss = obj_mod.loss_from(objective)
    (grad,) = torch.autograd.grad(loss, theta)
    return grad.numpy().copy(), float(loss.detach())


def _x_grid(theta0: Sequence[float], data: GaussianMixture1D, n_x: int) -> tuple[Tensor, Tensor]:
    lo, hi = data.support(20.0)
    sigma0 = math.exp(theta0[1])
    lo, hi = min(lo, theta0[0] - 20 * sigma0), max(hi, theta0[0] + 20 * sigma0)
    return trapezoid_grid(lo, hi, n_x)


def right_side(theta0: Sequence[float], logit: Logit, data: GaussianMixture1D = DEFAULT_DATA,
               n_x: int = 50_001) -> dict:
    """∇_θ[E_p(y) KL(p_θ(x|y) ‖ q^r(x|y)) − JSD(p_gθ ‖ p_data)] at θ0 by quadrature on x (Eq. 6).

    Also returns the separate gradients of the KL and JSD terms, and ∇[½KL(p_gθ‖p_data) − JSD] (Eq. 8).
    """
    x, w = _x_grid(theta0, data, n_x)
    theta = _theta(theta0)
    log_pg = normal_log_prob(x, theta[0], torch.exp(theta[1]))               # carries θ
    log_pg0 = log_pg.detach()                                                # θ0, fixed
    log_pd = data.log_prob(x)
    log_p0 = torch.logaddexp(log_pg0, log_pd) - LOG2                         # p_θ0(x) = E_p(y) p_θ0(x|y)
    with torch.no_grad():
        lg = logit(x)
    log_d, log_1md = F.logsigmoid(lg), F.logsigmoid(-lg)                     # q_φ0(y=1|x), q_φ0(y=0|x)
    # q^r(x|y) ∝ q^r_φ0(y|x) p_θ0(x):  q^r(y=0|x) = D(x), q^r(y=1|x) = 1 − D(x)
    log_qr0 = log_d + log_p0
    log_qr0 = log_qr0 - torch.logsumexp(log_qr0 + torch.log(w), 0)
    log_qr1 = log_1md + log_p0
    log_qr1 = log_qr1 - torch.logsumexp(log_qr1 + torch.log(w), 0)
    pg, pd = torch.exp(log_pg), torch.exp(log_pd)
    kl0 = (w * pg * (log_pg - log_qr0)).sum()
    kl1 = (w * pd * (log_pd - log_qr1)).sum()
    log_m = torch.logaddexp(log_pg, log_pd) - LOG2
    jsd = 0.5 * (w * pg * (log_pg - log_m)).sum() + 0.5 * (w * pd * (log_pd - log_m)).sum()
    kl = 0.5 * kl0 + 0.5 * kl1                                               # E_p(y) KL(p_θ(x|y) ‖ q^r(x|y))
    kl_data = (w * pg * (log_pg - log_pd)).sum()                             # KL(p_gθ ‖ p_data)
    eq8 = 0.5 * kl_data - jsd
    g_kl, g_jsd, g_eq8 = (torch.autograd.grad(t, theta, retain_graph=True)[0].numpy().copy()
                          for t in (kl, jsd, eq8))
    return {"grad": g_kl - g_jsd, "grad_kl": g_kl, "grad_jsd": g_jsd, "grad_eq8": g_eq8,
            "value": float((kl - jsd).detach()), "kl": float(kl.detach()), "jsd": float(jsd.detach()),
            "kl_p_g_p_data": float(kl_data.detach())}


@single_threaded
def lemma1_check(theta0: Sequence[float] = (0.5, math.log(0.8)), discriminator: str | Logit = "fixed",
                 data: GaussianMixture1D = DEFAULT_DATA, n_x: int = 50_001, n_eps: int = 10_001) -> Lemma1Result:
    """Evaluate both sides of Eq. 6 at θ0 = (μ0, log σ0) for one discriminator.

    ``discriminator``: "fixed" (tanh net), "poly" (quadratic logit), "uniform" (logit ≡ 0), "optimal"
    (Eq. 7 at θ0; adds the Eq. 8 gradient) or a callable x ↦ logit of q_φ0(y=1|x) (float64 torch).
    """
    theta0 = (float(theta0[0]), float(theta0[1]))
    name, logit = _resolve(discriminator, theta0[0], math.exp(theta0[1]), data)
    x_grid = _x_grid(theta0, data, n_x)
    left, left_value = left_side(theta0, logit, data, n_eps=n_eps, x_grid=x_grid)
    r = right_side(theta0, logit, data, n_x=n_x)
    abs_diff = float(np.linalg.norm(left - r["grad"]))
    scale = float(np.linalg.norm(left)) or float(np.linalg.norm(r["grad_kl"]))
    res = Lemma1Result(theta0=theta0, discriminator=name, left=left, right=r["grad"], grad_kl=r["grad_kl"],
                       grad_jsd=r["grad_jsd"], abs_diff=abs_diff, rel_diff=abs_diff / scale,
                       left_value=left_value, right_value=r["value"],
                       extra={"kl": r["kl"], "jsd": r["jsd"], "kl_p_g_p_data": r["kl_p_g_p_data"]})
    if name == "optimal":
        res.eq8 = r["grad_eq8"]
        res.eq8_rel_diff = float(np.linalg.norm(left - r["grad_eq8"])) / scale
    return res


DEFAULT_THETAS = ((0.0, math.log(1.0)), (0.5, math.log(0.8)), (-1.5, math.log(1.5)), (2.5, math.log(0.4)))


def run_lemma1(verbose: bool = True, thetas: Sequence[Sequence[float]] = DEFAULT_THETAS,
               discriminators: Sequence[str | Logit] = DISCRIMINATORS) -> list[Lemma1Result]:
    """Eq. 6 for every θ0 × discriminator, plus an Eq. 8 row per θ0 for the optimal one; prints a table."""
    results = [lemma1_check(t, d) for t in thetas for d in discriminators]
    if verbose:
        print(format_lemma1_table(results))
    return results


def format_lemma1_table(results: Sequence[Lemma1Result]) -> str:
    """The table printed by :func:`run_lemma1` (gradients w.r.t. θ = (μ, log σ))."""
    head = (f"{'mu0':>5} {'sigma0':>6}  {'discriminator':<13} {'left d/dmu':>11} {'left d/dlogs':>12} "
            f"{'right d/dmu':>11} {'right d/dlogs':>13} {'rel.diff':>8}")
    lines = ["Lemma 1 (Eq. 6): left = grad of the library generator loss -E_{p(y)p_theta(x|y)} log q^r(y|x);",
             "right = grad of E_p(y) KL(p_theta(x|y) || q^r(x|y)) - JSD(p_g || p_data); theta = (mu, log sigma), "
             "float64 quadrature", head, "-" * len(head)]
    for r in results:
        mu0, s0 = r.theta0[0], math.exp(r.theta0[1])
        lines.append(f"{mu0:5.2f} {s0:6.2f}  {r.discriminator:<13} {r.left[0]:11.3e} {r.left[1]:12.3e} "
                     f"{r.right[0]:11.3e} {r.right[1]:13.3e} {r.rel_diff:8.1e}")
        if r.eq8 is not None:
            lines.append(f"{'':5} {'':6}  {'Eq.8 KL/2-JSD':<13} {'':11} {'':12} "
                         f"{r.eq8[0]:11.3e} {r.eq8[1]:13.3e} {r.eq8_rel_diff:8.1e}")
        if r.discriminator == "uniform":
            lines.append(f"{'':5} {'':6}  {'  (cancel)':<13} |left|={np.linalg.norm(r.left):.1e} "
                         f"|right|={np.linalg.norm(r.right):.1e} |grad KL|={np.linalg.norm(r.grad_kl):.2e} "
                         f"|grad JSD|={np.linalg.norm(r.grad_jsd):.2e}")
    worst = max(r.rel_diff for r in results)
    worst8 = max((r.eq8_rel_diff for r in results if r.eq8_rel_diff is not None), default=float("nan"))
    lines.append(f"max rel.diff Eq. 6: {worst:.1e}   max rel.diff Eq. 8: {worst8:.1e}")
    return "\n".join(lines)
