"""Mode coverage on synthetic mixtures (the unrolled-GAN / VEEGAN protocol).

Protocol (Metz et al. 2017; Srivastava et al. 2017): every generated sample is assigned to its nearest
mixture mode; it is *high quality* if it lies within ``threshold`` (default 3) standard deviations of that
mode. We report

* ``modes_captured``: modes that receive at least ``min_count`` high-quality samples. Default rule:
  ``min_count = max(1, ceil(min_fraction * N / M))`` with ``min_fraction = 0.01``, i.e. at least 1% of the
  count a perfect generator would put on each mode (and at least one sample), so a couple of stray samples
  cannot "capture" a mode once N is large. Pass ``min_count=1`` for VEEGAN's "any high-quality sample"
  rule, or ``min_fraction=0.2`` for PacGAN's stricter 20% rule.
* ``high_quality_fraction``: the fraction of all samples that are high quality.
* ``kl_to_uniform``: KL(p || uniform) where p is the histogram of the high-quality samples over the M
  modes. Empty modes contribute 0 (0 log 0 = 0), so no epsilon is needed; 0 means perfectly balanced
  and log M means all mass on one mode. With no high-quality sample at all it is set to log M (worst case).

``class_coverage`` applies the same rules to generated images, with a domain classifier's predicted class as
the mode (the MNIST protocol of Metz et al. and Srivastava et al.: ten digit classes instead of mixture modes).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from unidgm.errors import ConfigError, DataError

from ._util import as_tensor, check_positive_int


def mode_metrics(samples, modes, std, threshold: float = 3.0, min_count: int | None = None,
                 min_fraction: float = 0.01) -> dict:
    """Mode coverage of ``samples`` [N, D] on a mixture with centres ``modes`` [M, D] and component
    standard deviation ``std`` (scalar or one per mode); see the module docstring for the protocol.

    Returns ``{"modes_captured", "num_modes", "high_quality_fraction", "kl_to_uniform", "min_count",
    "counts"}`` where ``counts`` are the high-quality samples per mode.
    """
    x = as_tensor(samples, "samples").detach().cpu().double()
    c = as_tensor(modes, "modes").detach().cpu().double()
    if x.dim() != 2 or c.dim() != 2 or x.shape[1] != c.shape[1]:
        raise DataError(f"samples must be [N, D] and modes [M, D] with the same D; got {list(x.shape)} and "
                        f"{list(c.shape)}.")
    n, m = x.shape[0], c.shape[0]
    if n == 0 or m == 0:
        raise DataError(f"mode_metrics needs at least one sample and one mode, got N={n}, M={m}.")
    s = torch.as_tensor(std, dtype=torch.float64).reshape(-1)
    if s.numel() not in (1, m) or not bool((s > 0).all()) or not bool(torch.isfinite(s).all()):
        raise ConfigError(f"std must be a positive scalar or one positive value per mode ({m}), got {std!r}.")
    if not (isinstance(threshold, (int, float)) and threshold > 0):
        raise ConfigError(f"threshold (in standard deviations) must be positive, got {threshold!r}.")
    min_count = _min_count(n, m, min_count, min_fraction)

    dist = torch.cdist(x, c)  # [N, M]
    nearest_dist, nearest = dist.min(1)
    s_near = s.expand(m)[nearest]
    hq = nearest_dist <= threshold * s_near
    counts = torch.bincount(nearest[hq], minlength=m).numpy()
    return {**_coverage(counts, min_count), "num_modes": m, "high_quality_fraction": int(counts.sum()) / n}


def _min_count(n: int, m: int, min_count: int | None, min_fraction: float) -> int:
    if min_count is not None:
        return check_positive_int(min_count, "min_count")
    if not (isinstance(min_fraction, (int, float)) and 0 <= min_fraction <= 1):
        raise ConfigError(f"min_fraction must lie in [0, 1], got {min_fraction!r}.")
    return max(1, math.ceil(min_fraction * n / m))


def _coverage(counts: np.ndarray, min_count: int) -> dict:
    """Captured modes and KL(histogram || uniform) of per-mode ``counts`` (the rules in the module docstring)."""
    m, total = len(counts), int(counts.sum())
    if total:
        p = counts / total
        nz = p > 0
        kl = float(np.sum(p[nz] * np.log(p[nz] * m)))
    else:
        kl = math.log(m)
    return {"modes_captured": int((counts >= min_count).sum()), "kl_to_uniform": max(kl, 0.0),
            "min_count": int(min_count), "counts": [int(v) for v in counts]}


def class_coverage(logits, min_count: int | None = None, min_fraction: float = 0.01,
                   confidence: float = 0.9) -> dict:
    """Mode coverage of generated *images*, the classes standing in for the modes: each sample goes to its
    domain classifier's most probable class (``logits`` [N, K]); the same captured/KL rules as ``mode_metrics``
    over the K classes, and ``confident_fraction``, the share the classifier labels with probability ≥
    ``confidence`` (the analogue of "high quality"). A mode-dropping generator shows a large ``kl_to_uniform``
    (log K when every sample is one class) even when its inception score is high."""
    t = as_tensor(logits, "logits").detach().cpu().double()
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] < 2:
        raise DataError(f"logits must have shape [N >= 1, num_classes >= 2], got {list(t.shape)}.")
    if not (isinstance(confidence, (int, float)) and 0 < confidence <= 1):
        raise ConfigError(f"confidence must lie in (0, 1], got {confidence!r}.")
    n, k = t.shape
    top, label = torch.softmax(t, 1).max(1)
    counts = torch.bincount(label, minlength=k).numpy()
    return {**_coverage(counts, _min_count(n, k, min_count, min_fraction)), "num_modes": k,
            "confident_fraction": float((top >= confidence).double().mean())}
