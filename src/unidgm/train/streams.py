"""Named data streams for a step: real/labelled (x, c), unlabelled (x_u), target domain (x_t)."""

from __future__ import annotations

import torch
from torch import Tensor

from ..data import Batches
from ..errors import ConfigError


class Streams:
    """One in-memory :class:`Batches` per source; ``next()`` gives the step's batch as a dict.

    ``sources`` maps a source name to (tensors, keys), e.g. ``{"main": ((x, c), ("x", "c"))}``.
    ``binarize`` names keys to binarise dynamically (a fresh Bernoulli draw each time, Sec. 4).
    """

    def __init__(self, sources: dict[str, tuple[tuple[Tensor, ...], tuple[str, ...]]], batch_size: int,
                 seed: int, binarize: tuple[str, ...] = (), device: torch.device | str = "cpu",
                 rank: int = 0, world_size: int = 1):
        self.keys = {name: keys for name, (_, keys) in sources.items()}
        self.batches = {}
        for i, (name, (tensors, keys)) in enumerate(sources.items()):
            per_rank = -(-tensors[0].shape[0] // world_size)
            if per_rank < batch_size:  # named in the run's own terms (Batches would suggest its drop_last)
                raise ConfigError(f"batch_size={batch_size * world_size} needs at least {batch_size} examples per "
                                  f"process, but the {'/'.join(keys)} data has {tensors[0].shape[0]}"
                                  f"{f' over {world_size} processes' if world_size > 1 else ''}; pass "
                                  f"batch_size={max(1, tensors[0].shape[0] // world_size) * world_size} or fewer, "
                                  "or use more data")
            g = torch.Generator().manual_seed(seed * 1000 + i)
            self.batches[name] = Batches(*tensors, batch_size=batch_size, shuffle=True, drop_last=True,
                                         generator=g, rank=rank, world_size=world_size)
        self._iters = {name: iter(b) for name, b in self.batches.items()}
        self.binarize, self.device = binarize, torch.device(device)

    def next(self) -> dict[str, Tensor]:
        batch = {}
        for name, it in self._iters.items():
            for key, t in zip(self.keys[name], next(it)):
                t = t.to(self.device, non_blocking=True)
                batch[key] = torch.bernoulli(t) if key in self.binarize else t
        return batch

    def state_dict(self) -> dict:
        return {name: b.state_dict() for name, b in self.batches.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, b in self.batches.items():
            b.load_state_dict(state[name])
        self._iters = {name: iter(b) for name, b in self.batches.items()}
