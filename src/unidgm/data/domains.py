"""Unpaired (source, target) domain pairs for adversarial domain adaptation and CycleGAN."""

from __future__ import annotations

import math

import numpy as np
import torch

from unidgm.errors import DataError, did_you_mean

from .dataset import Dataset, mix_seed
from .registry import SPLITS, get_dataset

MOONS_SIZES = {"train": 2000, "test": 1000}
MOONS_NOISE = 0.1
MOONS_ANGLE = 30.0  # degrees
MOONS_CENTRE = (0.5, 0.25)  # middle of sklearn's two moons, so the rotated target still overlaps the source


def _moons(split: str, seed: int, angle: float) -> tuple[Dataset, Dataset]:
    from sklearn.datasets import make_moons

    n, code = MOONS_SIZES[split], SPLITS.index(split)
    parts = []
    for role in (0, 1):  # separate draws: the target is unpaired with the source
        rs = mix_seed(seed, code, role) % 2**32  # sklearn wants a 32-bit seed
        x, y = make_moons(n_samples=n, noise=MOONS_NOISE, random_state=rs)
        parts.append((x, y))
    (xs, ys), (xt, yt) = parts
    t = math.radians(angle)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    centre = np.array(MOONS_CENTRE)
    xt = (xt - centre) @ rot.T + centre

    def ds(name, x, y):
        return Dataset(name, torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64)), 2)

    return ds("moons-rot:source", xs, ys), ds("moons-rot:target", xt, yt)


def _inverted(base: str, split: str, root, seed: int) -> tuple[Dataset, Dataset]:
    full = get_dataset(base, split, root=root)
    g = torch.Generator().manual_seed(mix_seed(seed, SPLITS.index(split), 2))
    perm = torch.randperm(len(full), generator=g)
    half = len(full) // 2
    # Disjoint halves: no source image has its own inverted copy in the target, so the pair is unpaired.
    source = full.subset(perm[:half].sort().values)
    target = full.subset(perm[half : 2 * half].sort().values)
    source.name = f"{base}-inv:source"
    target = Dataset(f"{base}-inv:target", 1.0 - target.x, target.y, target.num_classes)
    return source, target


_PAIRS = {
    "moons-rot": "2-D two moons (labelled source) and the same distribution rotated by 30 degrees "
    "(moons-rot:<degrees> for another angle); 2000/1000 points per domain",
    "mnist-inv": "MNIST and inverted (1 - x) MNIST on disjoint halves of each split",
    "digits-inv": "sklearn 8x8 digits and inverted digits on disjoint halves of each split (offline)",
}


def domain_pair_names() -> list[str]:
    return sorted(_PAIRS)


def describe_domain_pairs() -> dict[str, str]:
    return dict(sorted(_PAIRS.items()))


def domain_pair(spec: str, split: str = "train", root=None, seed: int = 0) -> tuple[Dataset, Dataset]:
    """(source, target) datasets. Target labels are kept for evaluating adaptation, never for training."""
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'." + did_you_mean(str(split), SPLITS))
    key, _, arg = str(spec).strip().lower().partition(":")
    if key not in _PAIRS or (arg and key != "moons-rot"):
        raise DataError(f"unknown domain pair '{spec}'." + did_you_mean(key, _PAIRS))
    if key == "moons-rot":
        try:
            angle = float(arg) if arg else MOONS_ANGLE
        except ValueError:
            angle = math.nan
        if not math.isfinite(angle):
            raise DataError(f"domain pair '{spec}': the angle after ':' must be degrees, e.g. moons-rot:45")
        return _moons(split, int(seed), angle)
    return _inverted(key.removesuffix("-inv"), split, root, int(seed))
