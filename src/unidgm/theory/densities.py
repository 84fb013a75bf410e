"""Closed-form 1-D densities and quadrature grids shared by the theory checks (float64)."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch
from torch import Tensor

DTYPE = torch.float64
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def normal_log_prob(x: Tensor, mean: Tensor | float, std: Tensor | float) -> Tensor:
    """log N(x; mean, std²), differentiable in ``mean`` and ``std``."""
    mean = torch.as_tensor(mean, dtype=x.dtype)
    std = torch.as_tensor(std, dtype=x.dtype)
    return -0.5 * ((x - mean) / std) ** 2 - torch.log(std) - _LOG_SQRT_2PI


@dataclass(frozen=True)
class GaussianMixture1D:
    """p(x) = Σ_k π_k N(x; μ_k, σ_k²): a 1-D data distribution whose density is exact."""

    weights: tuple[float, ...] = (0.5, 0.5)
    means: tuple[float, ...] = (-2.0, 2.0)
    stds: tuple[float, ...] = (0.5, 0.5)

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.means) == len(self.stds) > 0):
            raise ValueError("weights, means and stds need the same non-zero length")
        if abs(sum(self.weights) - 1.0) > 1e-12 or min(self.weights) <= 0 or min(self.stds) <= 0:
            raise ValueError("mixture weights must be positive and sum to 1; stds must be positive")

    def log_prob(self, x: Tensor) -> Tensor:
        """log p(x), computed as a log-sum-exp so the tails stay finite."""
        comps = torch.stack([math.log(w) + normal_log_prob(x, m, s)
                             for w, m, s in zip(self.weights, self.means, self.stds)])
        return torch.logsumexp(comps, dim=0)

    @property
    def mean(self) -> float:
        return sum(w * m for w, m in zip(self.weights, self.means))

    @property
    def var(self) -> float:
        second = sum(w * (s * s + m * m) for w, m, s in zip(self.weights, self.means, self.stds))
        return second - self.mean ** 2

    def support(self, n_std: float = 20.0) -> tuple[float, float]:
        """An interval outside which every component's density is negligible (< e^{-n_std²/2})."""
        return (min(m - n_std * s for m, s in zip(self.means, self.stds)),
                max(m + n_std * s for m, s in zip(self.means, self.stds)))


DEFAULT_DATA = GaussianMixture1D()


def trapezoid_grid(lo: float, hi: float, n: int) -> tuple[Tensor, Tensor]:
    """Nodes and trapezoid weights on [lo, hi]. For smooth integrands that vanish at both ends the
    trapezoid rule converges exponentially fast, so float64 precision is reached on fine grids."""
    x = torch.linspace(lo, hi, n, dtype=DTYPE)
    h = (hi - lo) / (n - 1)
    w = torch.full((n,), h, dtype=DTYPE)
    w[0] = w[-1] = h / 2
    return x, w


def standard_normal_grid(n: int = 40_001, half_width: float = 20.0) -> tuple[Tensor, Tensor]:
    """Nodes ε and weights w with Σ_i w_i f(ε_i) ≈ E_{ε~N(0,1)}[f(ε)] (trapezoid × density)."""
    eps, w = trapezoid_grid(-half_width, half_width, n)
    return eps, w * torch.exp(normal_log_prob(eps, 0.0, 1.0))


def single_threaded(fn):
    """Run ``fn`` with one intra-op torch thread, restoring the previous count afterwards.

    The theory checks work on vectors of ~10⁴-10⁵ numbers, where thread start-up dominates and, on a
    busy machine, oversubscribed threads slow them down a hundredfold.
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return fn(*args, **kwargs)
        finally:
            torch.set_num_threads(previous)
    return wrapper
