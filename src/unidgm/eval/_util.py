"""Small shared helpers for the evaluation metrics: input checks and batched inference."""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
import torch

from unidgm.checks import as_tensor, check_positive_int  # noqa: F401  (re-exported for the metrics)
from unidgm.errors import DataError


def as_labels(y, name: str, n: int) -> torch.Tensor:
    """Integer labels of length ``n`` as an int64 tensor."""
    if isinstance(y, np.ndarray):
        y = torch.from_numpy(np.ascontiguousarray(y))
    if not isinstance(y, torch.Tensor):
        y = torch.as_tensor(y)
    if torch.is_floating_point(y) or y.dtype == torch.bool:
        raise DataError(f"{name} must hold integer class labels, got dtype {y.dtype}; pass y.long().")
    y = y.reshape(-1).long()
    if y.numel() != n:
        raise DataError(f"{name} has {y.numel()} labels but there are {n} examples; pass one label per example.")
    return y


def module_device(module) -> torch.device:
    """The device of a module's first parameter (CPU when it has none or is not a module)."""
    if isinstance(module, torch.nn.Module):
        for p in module.parameters():
            return p.device
    return torch.device("cpu")


def clamp_to_unit_range(x: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(generated images clamped to the data's [0, 1], the fraction of values that were outside): a Gaussian
    decoder's mean is unbounded, and the domain classifier knows only the data's pixel range."""
    outside = float(((x < 0) | (x > 1)).float().mean()) if x.numel() else 0.0
    return (x.clamp(0, 1) if outside else x), outside


def warn_if_not_unit_range(x: torch.Tensor, name: str) -> None:
    """Warn when images fall well outside [0, 1], the range the domain classifier was trained on."""
    if x.dim() == 4 and x.numel():
        lo, hi = float(x.min()), float(x.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            warnings.warn(
                f"{name} spans [{lo:.3g}, {hi:.3g}] but the classifier expects images in [0, 1] like the data; "
                "map generator outputs in [-1, 1] with (x + 1) / 2 before evaluating.",
                stacklevel=3,
            )


@torch.no_grad()
def batched_apply(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int,
                  device: torch.device | None = None) -> torch.Tensor:
    """Concatenate ``fn(batch)`` over batches of ``x`` (moved to ``device``), results on the CPU.

    If ``fn`` is bound to an ``nn.Module`` in training mode it is switched to eval mode for the call and
    restored afterwards, so batch-norm/dropout statistics are never touched by evaluation.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    owner = getattr(fn, "__self__", fn)
    was_training = isinstance(owner, torch.nn.Module) and owner.training
    if was_training:
        owner.eval()
    try:
        outs = []
        for start in range(0, x.shape[0], batch_size):
            xb = x[start:start + batch_size]
            if device is not None:
                xb = xb.to(device)
            outs.append(fn(xb).detach().cpu())
        if not outs:
            raise DataError("no examples to evaluate: the input is empty; pass at least one example.")
        return torch.cat(outs, 0)
    finally:
        if was_training:
            owner.train()
