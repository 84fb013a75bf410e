"""Annealed importance sampling (AIS) of log p(x) for decoder-based models (Neal 2001; Wu et al. 2017).

One yardstick for every model with a prior density p(z) and a likelihood p_θ(x|z): explicit decoders use
their own likelihood, implicit generators (GANs) a Gaussian observation model N(x; G_θ(z), σ²I) whose σ is
chosen on held-out *training* images (never the test set), as Wu et al. do. No encoder is needed.

The chain anneals from p_0(z) = p(z) to p_T(z) ∝ p(z) p_θ(x|z) through the geometric averages

    p_t(z) ∝ p(z) p_θ(x|z)^{β_t},   0 = β_0 < β_1 < … < β_T = 1,

with one HMC transition leaving each p_t invariant. For z_0 ~ p(z) the weight

    log w = Σ_{t=1..T} (β_t − β_{t−1}) log p_θ(x|z_{t−1})

is an unbiased estimate of p(x) (so log-mean-exp over chains is a stochastic *lower* bound of log p(x)).
Run in reverse from an exact posterior sample z_T ~ p(z|x) (available on data simulated from the model),
the same sum with β descending estimates 1/p(x): −log-mean-exp of it is a stochastic *upper* bound.
The two together are bidirectional Monte Carlo (BDMC, Grosse et al. 2015): the gap bounds the error of
the forward estimate on simulated data, and shrinks as T grows.

Pure torch: the estimator knows no model; it takes ``log_prior(z)``, ``sample_prior(n)`` and
``log_lik(x, z, c)``; :func:`model_parts` reads them off a unified model's declared parts.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from tqdm.auto import tqdm

from unidgm.errors import ConfigError, DataError, NonFiniteError

from ._util import as_tensor, check_positive_int

LOG_2PI = math.log(2 * math.pi)
SCHEDULES = ("sigmoid", "linear", "geometric")
ADAPT_RATE = 0.2  # γ of the step-size rule: ε grows or shrinks by at most ~14% per transition
SIGMA_GRID = (0.02, 0.05, 0.1, 0.2, 0.4)  # Gaussian observation std for implicit generators (pixels in [0, 1])


def beta_schedule(T: int, kind: str = "sigmoid", delta: float = 4.0) -> Tensor:
    """β_0 = 0 < … < β_T = 1 (float64, T+1 values). 'sigmoid': σ(δ(2t/T − 1)) rescaled to [0, 1]
    (Grosse et al. 2015, used by Wu et al.); 'linear'; 'geometric': log-spaced from 1e-4."""
    T = check_positive_int(T, "n_steps")
    if kind not in SCHEDULES:
        raise ConfigError(f"unknown AIS schedule {kind!r}; choose one of: {', '.join(SCHEDULES)}")
    t = torch.linspace(0, 1, T + 1, dtype=torch.float64)
    if kind == "linear":
        return t
    if kind == "geometric":
        b = torch.cat([torch.zeros(1, dtype=torch.float64), torch.logspace(-4, 0, T, dtype=torch.float64)])
        return b
    s = torch.sigmoid(delta * (2 * t - 1))
    return (s - s[0]) / (s[-1] - s[0])


@dataclass
class AISResult:
    """Per-example estimates [N] (float64, nats), the log-weights [chains, N] and HMC diagnostics."""

    log_px: Tensor
    log_w: Tensor
    accept_rate: float
    step_size: float
    seconds: float


def _log_mean_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    return torch.logsumexp(log_w, dim) - math.log(log_w.shape[dim])


def _terms(z: Tensor, log_prior, log_lik) -> tuple[Tensor, ...]:
    """(z, log p(z), log p(x|z), ∇ log p(z), ∇ log p(x|z)): kept apart so that one evaluation serves every β."""
    with torch.enable_grad():
        z = z.detach().requires_grad_(True)
        lp, ll = log_prior(z), log_lik(z)
        (g_ll,) = torch.autograd.grad(ll.sum(), z)
        (g_lp,) = torch.autograd.grad(lp.sum(), z)
    return z.detach(), lp.detach(), ll.detach(), g_lp, g_ll


def _hmc_step(state, beta: float, log_prior, log_lik, eps: Tensor, n_leapfrog: int):
    """One HMC transition of every chain leaving p_β(z) ∝ p(z) p(x|z)^β invariant (Neal 2011): leapfrog with
    per-chain step sizes ``eps`` [n, 1], Metropolis accept/reject on the Hamiltonian. ``state`` is the
    current (z, log p(z), log p(x|z), gradients); the last leapfrog position's terms become the next state
    when accepted, so a transition costs ``n_leapfrog`` gradient evaluations. Returns (state, accepted,
    acceptance probability)."""
    z, lp, ll, g_lp, g_ll = state
    u0 = -(lp + beta * ll)
    p0 = torch.randn_like(z)
    p = p0 + 0.5 * eps * (g_lp + beta * g_ll)
    new = state
    for i in range(n_leapfrog):
        new = _terms(new[0] + eps * p, log_prior, log_lik)
        if i < n_leapfrog - 1:
            p = p + eps * (new[3] + beta * new[4])
    p = p + 0.5 * eps * (new[3] + beta * new[4])
    u = -(new[1] + beta * new[2])
    log_accept = (u0 - u) + 0.5 * (p0.pow(2).sum(-1) - p.pow(2).sum(-1))
    log_accept = log_accept.nan_to_num(nan=-math.inf).clamp(max=0.0)  # a diverged trajectory is rejected
    accept = torch.log(torch.rand_like(log_accept)) < log_accept
    keep = lambda a, b: torch.where(accept.view(-1, *[1] * (a.dim() - 1)), a, b)  # noqa: E731
    return tuple(keep(a, b) for a, b in zip(new, state)), accept, log_accept.exp()


def ais(log_prior: Callable[[Tensor], Tensor], sample_prior: Callable[[int], Tensor],
        log_lik: Callable[..., Tensor], x, c: Tensor | None = None, *, n_chains: int = 8, n_steps: int = 100,
        n_leapfrog: int = 5, schedule: str = "sigmoid", step_size: float = 0.1, target_accept: float = 0.65,
        batch_size: int = 100, z_init: Tensor | None = None, reverse: bool = False, progress: bool = True,
        desc: str = "AIS") -> AISResult:
    """AIS estimate of log p(x) per example: log-mean-exp over ``n_chains`` chains of the weights above.

    ``log_lik(x, z, c)`` is log p_θ(x|z[, c]) summed over x's dimensions, [n]; x (and c) arrive repeated
    once per chain. HMC step sizes adapt per chain towards ``target_accept``: ε ← ε·exp(γ(α − target)) with α
    the last move's acceptance probability (its fixed point is E[α] = target; a binary ×1.02/×0.98 rule
    settles at 50%). It uses past moves only, so each transition still leaves p_t invariant.
    ``reverse=True`` runs β from 1 to 0 starting at ``z_init`` [N, d] (or [chains, N, d]), which must be
    exact posterior samples: the result is then the BDMC *upper* bound −log-mean-exp(log w).
    """
    x = as_tensor(x, "x")
    n = x.shape[0]
    if n == 0:
        raise DataError("x is empty; pass at least one example to evaluate.")
    n_chains, n_leapfrog = check_positive_int(n_chains, "n_chains"), check_positive_int(n_leapfrog, "n_leapfrog")
    batch_size = check_positive_int(batch_size, "batch_size")
    if not 0 < target_accept < 1 or step_size <= 0:
        raise ConfigError(f"target_accept must lie in (0, 1) and step_size be > 0; got {target_accept}, {step_size}")
    if reverse and z_init is None:
        raise ConfigError("reverse AIS starts from exact posterior samples: pass z_init (codes that generated x)")
    betas = beta_schedule(n_steps, schedule)
    if reverse:
        betas = betas.flip(0)
    out, log_ws, accepts = torch.empty(n, dtype=torch.float64), [], []
    eps_seen = []
    t0 = time.perf_counter()
    with tqdm(total=math.ceil(n / batch_size) * n_steps, desc=desc, disable=not progress, leave=False,
              unit="step") as bar:
        for start in range(0, n, batch_size):
            xb = x[start:start + batch_size]
            b = xb.shape[0]
            xr = xb.unsqueeze(0).expand(n_chains, *xb.shape).reshape(-1, *xb.shape[1:])
            cr = None if c is None else c[start:start + b].unsqueeze(0).expand(n_chains, b, *c.shape[1:]).reshape(
                n_chains * b, *c.shape[1:])
            ll = (lambda z: log_lik(xr, z)) if cr is None else (lambda z: log_lik(xr, z, cr))
            if reverse:
                zi = z_init[..., start:start + b, :] if z_init.dim() == 3 else z_init[start:start + b]
                z = (zi if zi.dim() == 3 else zi.unsqueeze(0).expand(n_chains, *zi.shape)).reshape(n_chains * b, -1)
                z = z.detach().to(xr.device).clone()
            else:
                z = sample_prior(n_chains * b).detach()
            eps = torch.full((z.shape[0], 1), float(step_size), device=z.device, dtype=z.dtype)
            log_w = torch.zeros(z.shape[0], dtype=torch.float64, device=z.device)
            acc_sum = torch.zeros(z.shape[0], device=z.device)
            state = _terms(z, log_prior, ll)
            for t in range(1, n_steps + 1):
                # weight before moving: the ratio p_t / p_{t−1} at the current state (Neal 2001, Eq. 3)
                log_w += (betas[t] - betas[t - 1]) * state[2].to(torch.float64)
                state, accept, prob = _hmc_step(state, float(betas[t]), log_prior, ll, eps, n_leapfrog)
                eps = eps * torch.exp(ADAPT_RATE * (prob - target_accept)).unsqueeze(-1)
                acc_sum += accept.float()
                if t % 10 == 0 or t == n_steps:
                    bar.update(10 if t % 10 == 0 else t % 10)
            lw = log_w.reshape(n_chains, b).cpu()
            if torch.isnan(lw).any() or torch.isposinf(lw).any():
                raise NonFiniteError(f"{desc}: AIS log-weights are NaN/+inf for examples {start}-{start + b - 1}; "
                                     "check the model's log p(x|z) (e.g. clamp variances) or lower step_size.")
            out[start:start + b] = -_log_mean_exp(lw) if reverse else _log_mean_exp(lw)
            log_ws.append(lw)
            accepts.append(float(acc_sum.mean()) / n_steps)
            eps_seen.append(float(eps.mean()))
            done = start + b
            elapsed = time.perf_counter() - t0
            bar.set_postfix(eta=f"{elapsed / done * (n - done):.0f}s")
    return AISResult(out, torch.cat(log_ws, 1), sum(accepts) / len(accepts), sum(eps_seen) / len(eps_seen),
                     time.perf_counter() - t0)


def gaussian_log_lik(mean_fn: Callable[..., Tensor], sigma: float) -> Callable[..., Tensor]:
    """log N(x; mean_fn(z[, c]), σ²I) summed over x's dimensions: the observation model Wu et al. give an
    implicit generator x = G_θ(z) so that it has a likelihood at all."""
    if not sigma > 0:
        raise ConfigError(f"the Gaussian observation std must be > 0, got {sigma}")
    log_norm = math.log(sigma) + 0.5 * LOG_2PI

    def log_lik(x, z, c=None):
        mu = mean_fn(z, c)
        return (-0.5 * ((x - mu) / sigma).pow(2) - log_norm).flatten(1).sum(1)
    return log_lik


def model_parts(model, observation: str = "auto", sigma: float | None = None):
    """(log_prior, sample_prior, log_lik(x, z, c)) from a unified model's declared parts.

    ``observation``: 'auto' — the decoder's own likelihood for an explicit p_θ(x|z), a Gaussian N(x; G(z), σ²I)
    for an implicit generator; 'gaussian' — the Gaussian observation on the decoder's mean or the generator's
    output for every model (one scale for explicit and implicit models alike; needs ``sigma``).
    """
    if observation not in ("auto", "gaussian"):
        raise ConfigError(f"unknown AIS observation model {observation!r}; choose 'auto' or 'gaussian'")
    prior = model.parts["prior"] if model.has("prior") else None
    if prior is None or not hasattr(prior, "log_prob") or not hasattr(prior, "sample"):
        raise ConfigError(f"AIS needs a prior density p(z); {model.name}'s prior can only be sampled (or is absent)")
    if model.has("decoder"):
        dec = model.parts["decoder"]
        if observation == "auto":
            return prior.log_prob, prior.sample, dec.log_prob
        mean_fn = dec.mean
    elif model.has("generator"):
        mean_fn = model.parts["generator"]
    else:
        raise ConfigError(f"AIS needs a decoder p_θ(x|z) or a generator G_θ(z); {model.name} has neither")
    if sigma is None:
        raise ConfigError("a Gaussian observation model needs its std σ: choose it on held-out training images "
                          "with select_sigma (never on the test set)")
    return prior.log_prob, prior.sample, gaussian_log_lik(mean_fn, sigma)


def needs_sigma(model, observation: str = "auto") -> bool:
    """Whether AIS on this model uses the Gaussian observation model (so σ must be chosen)."""
    return observation == "gaussian" or not model.has("decoder")


def select_sigma(model, x_val: Tensor, c_val: Tensor | None = None, grid=SIGMA_GRID, observation: str = "auto",
                 progress: bool = False, **ais_kw) -> tuple[float, dict[float, float]]:
    """σ of the Gaussian observation model: the grid value with the highest mean AIS log-likelihood on the
    validation images ``x_val`` (held-out training images, never test), as Wu et al. (2017) do."""
    scores = {}
    for s in grid:
        lp, sp, ll = model_parts(model, observation, float(s))
        scores[float(s)] = float(ais(lp, sp, ll, x_val, c_val, progress=progress, desc=f"AIS σ={s}",
                                     **ais_kw).log_px.mean())
    return max(scores, key=scores.get), scores


def simulate(model, n: int, c: Tensor | None = None, observation: str = "auto",
             sigma: float | None = None) -> tuple[Tensor, Tensor]:
    """(x, z) with z ~ p(z), x ~ p_θ(x|z): data on which z is an exact posterior sample (for reverse AIS)."""
    prior = model.parts["prior"]
    with torch.no_grad():
        z = prior.sample(n)
        if model.has("decoder") and observation == "auto":
            return model.parts["decoder"].sample(z, c), z
        model_parts(model, observation, sigma)  # refuses a missing σ or parts with a clear error
        mu = model.parts["decoder"].mean(z, c) if model.has("decoder") else model.parts["generator"](z, c)
        return mu + sigma * torch.randn_like(mu), z


def bdmc(model, n: int = 10, c: Tensor | None = None, observation: str = "auto", sigma: float | None = None,
         **ais_kw) -> dict:
    """Bidirectional Monte Carlo on ``n`` examples simulated from the model: forward AIS (lower bound) and
    reverse AIS from the generating codes (upper bound) with the same settings; their mean gap in nats."""
    lp, sp, ll = model_parts(model, observation, sigma)
    x, z = simulate(model, n, c, observation, sigma)
    fwd = ais(lp, sp, ll, x, c, desc="BDMC forward", **ais_kw)
    rev = ais(lp, sp, ll, x, c, z_init=z, reverse=True, desc="BDMC reverse", **ais_kw)
    return {"lower": float(fwd.log_px.mean()), "upper": float(rev.log_px.mean()),
            "gap": float((rev.log_px - fwd.log_px).mean()), "n_simulated": n,
            "accept_rate": fwd.accept_rate}


def ais_report(model, x, c: Tensor | None = None, *, x_val: Tensor | None = None, c_val: Tensor | None = None,
               observation: str = "auto", sigma: float | None = None, grid=SIGMA_GRID, n_bdmc: int = 10,
               n_chains: int = 8, n_steps: int = 100, n_leapfrog: int = 5, schedule: str = "sigmoid",
               batch_size: int = 100, progress: bool = True) -> dict:
    """AIS log p(x) of a unified model on ``x`` (mean over examples), its settings, σ (chosen on ``x_val`` when
    the Gaussian observation model is used and ``sigma`` is not given) and a BDMC gap on ``n_bdmc`` simulated
    examples — the metrics.json entry of ``unidgm eval --metrics ais``."""
    kw = dict(n_chains=n_chains, n_steps=n_steps, n_leapfrog=n_leapfrog, schedule=schedule, batch_size=batch_size)
    if isinstance(n_bdmc, bool) or not isinstance(n_bdmc, int) or n_bdmc < 0:
        raise ConfigError(f"n_bdmc (simulated examples for the BDMC gap) must be an integer >= 0, got {n_bdmc!r}")
    out: dict = {}
    with model.evaluating():  # BatchNorm on running statistics: p_θ(x|z) must not depend on the batch
        if needs_sigma(model, observation):
            if sigma is None:
                if x_val is None:
                    raise ConfigError("the Gaussian observation model needs σ: pass sigma or validation images x_val "
                                      "(held-out training images, never test)")
                sigma, scores = select_sigma(model, x_val, c_val, grid, observation, progress=progress, **kw)
                out["sigma_selection"] = {"grid": list(scores), "val_log_px": list(scores.values()),
                                          "n_val": len(x_val), "at_grid_edge": sigma in (min(grid), max(grid))}
            out["observation"] = f"Gaussian N(x; mean(z), σ²I), σ={sigma}"
            out["sigma"] = sigma
        else:
            out["observation"] = f"the decoder's own {model.parts['decoder'].likelihood} likelihood"
        lp, sp, ll = model_parts(model, observation, sigma)
        res = ais(lp, sp, ll, x, c, progress=progress, **kw)
        out = {"value": float(res.log_px.mean()), "n_test": len(x), **out, **kw,
               "intermediate_distributions": n_steps, "accept_rate": res.accept_rate,
               "mean_final_step_size": res.step_size, "seconds": res.seconds,
               "note": "AIS from p(z) to p(z|x) with HMC (Wu et al. 2017): a stochastic lower bound of log p(x)"}
        if n_bdmc:
            gen = model.onehot(None, n_bdmc) if model.conditional else None
            out["bdmc"] = bdmc(model, n_bdmc, gen, observation, sigma, progress=progress, **kw)
    return out
