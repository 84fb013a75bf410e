"""Input checks shared by every floor (core's estimators and eval's metrics): the library's errors, not torch's."""

from __future__ import annotations

import numpy as np
import torch

from .errors import ConfigError, DataError


def as_tensor(x, name: str) -> torch.Tensor:
    """``x`` (tensor or array) as a float tensor; DataError if it is not numeric or has NaN/inf."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise DataError(f"{name} must be a torch.Tensor or numpy array, got {type(x).__name__}; convert it first.")
    if not torch.is_floating_point(x):
        x = x.float()
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise DataError(f"{name} contains NaN or inf values; drop or fix those examples before evaluating.")
    return x


def check_positive_int(value, name: str) -> int:
    """``value`` as a positive int, or ConfigError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)
