"""2-D Gaussian mixtures for mode-collapse studies: ``ring8`` and ``grid25``."""

from __future__ import annotations

import math

import torch

from .dataset import Dataset, mix_seed

TOY_SIZES = {"train": 10_000, "test": 2_000}
_SPLIT_CODE = {"train": 0, "test": 1}


def ring8_modes(radius: float = 2.0) -> torch.Tensor:
    """8 centres evenly spaced on a circle of the given radius, [8, 2]."""
    angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).to(torch.float32)


def grid25_modes() -> torch.Tensor:
    """25 centres on the grid {-4,-2,0,2,4}^2, [25, 2], row-major in the first coordinate."""
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
    return torch.cartesian_prod(axis, axis)


MIXTURES = {
    "ring8": (ring8_modes, 0.02),
    "grid25": (grid25_modes, 0.05),
}


def split_seed(seed: int, split: str, salt: int = 0) -> int:
    """A seed unique to (seed, split, salt), so the splits never share samples."""
    return mix_seed(seed, _SPLIT_CODE[split], salt)


def mixture(name: str, split: str, seed: int = 0) -> Dataset:
    """Samples of an equal-weight isotropic Gaussian mixture; y is the index of the mode each came from."""
    make_modes, std = MIXTURES[name]
    modes = make_modes()
    n = TOY_SIZES[split]
    g = torch.Generator().manual_seed(split_seed(seed, split, salt=len(modes)))
    y = torch.randint(len(modes), (n,), generator=g)
    x = modes[y] + std * torch.randn(n, 2, generator=g)
    return Dataset(name, x, y, len(modes), modes=modes, mode_std=std)
