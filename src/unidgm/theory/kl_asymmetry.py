"""Mode missing vs mode covering, analytically: the two KL directions fitted to a two-mode mixture.

Fit one Gaussian q = N(m, s²) to p = p_data (1-D Gaussian mixture):

* KL(q ‖ p), the GAN direction of Eq. 8 (``½KL(p_gθ ‖ p_data)``, generator on the left): mode seeking. Found
  by quadrature (E_q log p over ε with x = m + sε; E_q log q closed form) and L-BFGS from several
  starting points, keeping the best; the optimum sits on one mode with about that mode's width.
* KL(p ‖ q), the VAE direction (maximum likelihood / the ELBO's data term): mode covering. The optimum is
  moment matching, m = E_p[x], s² = Var_p[x], in closed form; a numerical fit confirms it.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize

from unidgm.theory.densities import (DEFAULT_DATA, DTYPE, GaussianMixture1D, normal_log_prob,
                                     single_threaded, standard_normal_grid, trapezoid_grid)

DEFAULT_INITS = ((-3.0, 1.0), (-0.7, 2.0), (0.0, 3.0), (0.4, 0.3), (1.0, 1.0), (3.0, 0.5))


def _reverse_kl(params: np.ndarray, data: GaussianMixture1D, eps, w_eps) -> tuple[float, np.ndarray]:
    """KL(N(m, s²) ‖ p) and its gradient w.r.t. (m, log s)."""
    t = torch.tensor(params, dtype=DTYPE, requires_grad=True)
    s = torch.exp(t[1])
    neg_entropy = -0.5 * math.log(2 * math.pi * math.e) - t[1]               # E_q log q
    kl = neg_entropy - (w_eps * data.log_prob(t[0] + s * eps)).sum()
    (g,) = torch.autograd.grad(kl, t)
    return float(kl.detach()), g.numpy().astype(np.float64)


def _forward_ce(params: np.ndarray, data: GaussianMixture1D, x, w_px) -> tuple[float, np.ndarray]:
    """Cross-entropy −E_p log N(x; m, s²) (= KL(p ‖ q) + const) and its gradient w.r.t. (m, log s)."""
    t = torch.tensor(params, dtype=DTYPE, requires_grad=True)
    ce = -(w_px * normal_log_prob(x, t[0], torch.exp(t[1]))).sum()
    (g,) = torch.autograd.grad(ce, t)
    return float(ce.detach()), g.numpy().astype(np.float64)


@single_threaded
def fit_kl_directions(data: GaussianMixture1D = DEFAULT_DATA, inits=DEFAULT_INITS, n_grid: int = 20_001) -> dict:
    """Fit N(m, s²) to ``data`` under KL(q‖p) (best of several starts) and KL(p‖q) (closed form + numeric).

    Returns {"reverse": {...}, "forward": {...}, "data": {...}, "reverse_local_optima": [...]} with means,
    stds and the KL values at the optimum (both directions evaluated for both fits).
    """
    eps, w_eps = standard_normal_grid(n_grid, 12.0)
    x, w = trapezoid_grid(*data.support(20.0), n_grid)
    log_p = data.log_prob(x)
    w_px = w * torch.exp(log_p)
    neg_entropy_p = float((w_px * log_p).sum())

    def kl_fwd(m: float, s: float) -> float:
        return neg_entropy_p + _forward_ce(np.array([m, math.log(s)]), data, x, w_px)[0]

    def kl_rev(m: float, s: float) -> float:
        return _reverse_kl(np.array([m, math.log(s)]), data, eps, w_eps)[0]

    local = []
    for m0, s0 in inits:
        r = minimize(_reverse_kl, np.array([m0, math.log(s0)]), args=(data, eps, w_eps), jac=True,
                     method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 500})
        local.append({"init": (m0, s0), "mean": float(r.x[0]), "std": float(math.exp(r.x[1])), "kl": float(r.fun)})
    best = min(local, key=lambda o: o["kl"])
    m_fwd, s_fwd = data.mean, math.sqrt(data.var)
    r = minimize(_forward_ce, np.array([0.5, 0.0]), args=(data, x, w_px), jac=True, method="L-BFGS-B",
                 options={"gtol": 1e-10, "ftol": 1e-14, "maxiter": 500})
    return {
        "data": {"mean": data.mean, "std": math.sqrt(data.var), "weights": data.weights, "means": data.means,
                 "stds": data.stds},
        "reverse": {"mean": best["mean"], "std": best["std"], "kl_reverse": best["kl"],
                    "kl_forward": kl_fwd(best["mean"], best["std"])},
        "forward": {"mean": m_fwd, "std": s_fwd, "kl_forward": kl_fwd(m_fwd, s_fwd),
                    "kl_reverse": kl_rev(m_fwd, s_fwd),
                    "mean_numeric": float(r.x[0]), "std_numeric": float(math.exp(r.x[1]))},
        "reverse_local_optima": local,
    }


@single_threaded
def plot_kl_directions(path: str | Path, result: dict | None = None, data: GaussianMixture1D = DEFAULT_DATA) -> Path:
    """Draw p_data and both Gaussian fits, labelled, to a PNG at ``path`` (Agg canvas, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    result = fit_kl_directions(data) if result is None else result
    lo, hi = data.support(4.0)
    x = torch.linspace(lo, hi, 1000, dtype=DTYPE)
    rev, fwd = result["reverse"], result["forward"]
    fig = Figure(figsize=(7, 4))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    ax.fill_between(x.numpy(), torch.exp(data.log_prob(x)).numpy(), color="0.8", label="p_data (mixture)")
    ax.plot(x.numpy(), torch.exp(normal_log_prob(x, rev["mean"], rev["std"])).numpy(), "r-", lw=2,
            label=f"argmin KL(q||p): GAN, mode seeking (m={rev['mean']:.2f}, s={rev['std']:.2f})")
    ax.plot(x.numpy(), torch.exp(normal_log_prob(x, fwd["mean"], fwd["std"])).numpy(), "b--", lw=2,
            label=f"argmin KL(p||q): VAE, mode covering (m={fwd['mean']:.2f}, s={fwd['std']:.2f})")
    ax.set_ylim(0, 1.4 * max(ax.get_ylim()[1], 1e-12))
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title("Fitting one Gaussian to two modes: the two KL directions")
    ax.legend(loc="upper left", fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def format_kl_directions(result: dict) -> str:
    rev, fwd, d = result["reverse"], result["forward"], result["data"]
    return "\n".join([
        f"Mode missing vs covering: one Gaussian fitted to p_data = mixture(means={d['means']}, stds={d['stds']})",
        f"  data:                       mean {d['mean']: .4f}  std {d['std']:.4f}",
        f"  argmin KL(q||p) (GAN, Eq.8): mean {rev['mean']: .4f}  std {rev['std']:.4f}   "
        f"KL(q||p)={rev['kl_reverse']:.4f}  KL(p||q)={rev['kl_forward']:.4f}",
        f"  argmin KL(p||q) (VAE):       mean {fwd['mean']: .4f}  std {fwd['std']:.4f}   "
        f"KL(q||p)={fwd['kl_reverse']:.4f}  KL(p||q)={fwd['kl_forward']:.4f}   "
        f"(numeric fit: mean {fwd['mean_numeric']: .2e}, std {fwd['std_numeric']:.6f})",
        "  reverse-KL local optima by start: " + ", ".join(
            f"({o['init'][0]:g},{o['init'][1]:g})->m={o['mean']:.3f},s={o['std']:.3f},KL={o['kl']:.4f}"
            for o in result["reverse_local_optima"]),
    ])


def run_kl_directions(verbose: bool = True, data: GaussianMixture1D = DEFAULT_DATA) -> dict:
    """Fit both directions and print the fitted means/stds."""
    result = fit_kl_directions(data)
    if verbose:
        print(format_kl_directions(result))
    return result


def run_kl_plot(out_dir: str | Path, verbose: bool = True, data: GaussianMixture1D = DEFAULT_DATA) -> Path:
    """Fit, print and plot to ``out_dir/kl_directions.png``; returns the PNG path."""
    result = run_kl_directions(verbose, data)
    path = plot_kl_directions(Path(out_dir) / "kl_directions.png", result, data)
    if verbose:
        print(f"  plot: {path}")
    return path
