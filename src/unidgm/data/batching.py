"""In-memory mini-batches: one permutation per epoch, index the whole tensors, resumable mid-epoch."""

from __future__ import annotations

import math

import torch

from unidgm.errors import DataError

from .dataset import mix_seed


class Batches:
    """Batches of ``tensors`` (all sharing dim 0), indexed by one permutation per epoch.

    The order of epoch ``e`` depends only on (generator's seed, e): reproducible, different every epoch,
    and identical on every rank, which is what lets ``world_size`` ranks take disjoint strided shards of
    it (padded by wrapping to equal length, as torch's DistributedSampler does). ``len()`` is the number
    of batches per epoch on this rank. Iterating continues forever across epochs from the current
    (epoch, position); ``state_dict()``/``load_state_dict()`` save and restore that to resume bit-exactly.
    The generator is only read for its seed, never advanced.
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = True,
        generator: torch.Generator | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        if not tensors or not all(isinstance(t, torch.Tensor) and t.dim() >= 1 for t in tensors):
            raise DataError("Batches needs one or more tensors [N, ...] (e.g. Batches(ds.x, ds.y, ...)); drop any None")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            sizes = ", ".join(str(t.shape[0]) for t in tensors)
            raise DataError(f"Batches: tensors differ in length ({sizes}); every tensor needs one row per example")
        if not isinstance(batch_size, int) or batch_size <= 0:
            raise DataError(f"Batches: batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(world_size, int) or world_size < 1 or not isinstance(rank, int) or not 0 <= rank < world_size:
            raise DataError(f"Batches: need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if n == 0:
            raise DataError("Batches: the tensors hold no examples; check the dataset and any subset taken from it")
        self.tensors = tensors
        self.num_examples = n
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(generator.initial_seed()) if generator is not None else 0
        self.rank, self.world_size = rank, world_size
        self.per_rank = math.ceil(n / world_size)
        self.num_batches = self.per_rank // batch_size if drop_last else math.ceil(self.per_rank / batch_size)
        if self.num_batches == 0:
            raise DataError(
                f"Batches: batch_size {batch_size} exceeds the {self.per_rank} examples per rank, so drop_last leaves "
                "no batch; lower batch_size or pass drop_last=False"
            )
        self.epoch = 0
        self.position = 0  # batches of `epoch` already handed out
        self._cache: tuple[int, dict] | None = None

    def __len__(self) -> int:
        return self.num_batches

    def order(self, epoch: int) -> torch.Tensor:
        """This rank's example indices for ``epoch`` (CPU, int64, length ``per_rank``)."""
        n, world = self.num_examples, self.world_size
        if self.shuffle:
            g = torch.Generator().manual_seed(mix_seed(self.seed, epoch))
            perm = torch.randperm(n, generator=g)
        else:
            perm = torch.arange(n)
        total = self.per_rank * world
        if total > n:  # wrap around so every rank gets the same number of examples
            perm = perm.repeat(math.ceil(total / n))[:total]
        return perm[self.rank :: world]

    def _orders(self, epoch: int) -> dict:
        # One index tensor per device the data lives on, moved once per epoch rather than per batch.
        if self._cache is None or self._cache[0] != epoch:
            order = self.order(epoch)
            self._cache = (epoch, {t.device: order.to(t.device) for t in self.tensors})
        return self._cache[1]

    def _batch(self, epoch: int, i: int) -> tuple[torch.Tensor, ...]:
        orders = self._orders(epoch)
        lo = i * self.batch_size
        return tuple(t[orders[t.device][lo : lo + self.batch_size]] for t in self.tensors)

    def epoch_iter(self, epoch: int, start: int = 0):
        """The batches of ``epoch`` from batch ``start`` on, as tuples; does not touch the resume state."""
        for i in range(start, self.num_batches):
            yield self._batch(epoch, i)

    def next_batch(self) -> tuple[torch.Tensor, ...]:
        """The batch at the current (epoch, position), advancing the position."""
        if self.position >= self.num_batches:
            self.epoch, self.position = self.epoch + 1, 0
        batch = self._batch(self.epoch, self.position)
        self.position += 1
        return batch

    def __iter__(self):
        # Reads the state at every step, so a load_state_dict() between batches takes effect at once.
        while True:
            yield self.next_batch()

    def state_dict(self) -> dict:
        """Plain ints/bools (safe in any checkpoint format) giving the next batch to hand out."""
        epoch, position = self.epoch, self.position
        if position >= self.num_batches:
            epoch, position = epoch + 1, 0
        return {
            "epoch": epoch,
            "position": position,
            "seed": self.seed,
            "num_examples": self.num_examples,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "shuffle": self.shuffle,
            "drop_last": self.drop_last,
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume from `state_dict()`; refuses a state saved with other data or batching settings, since
        the continuation would silently differ. The rank is not checked: every rank shares (epoch, position)."""
        try:
            epoch, position = int(state["epoch"]), int(state["position"])
        except (KeyError, TypeError, ValueError) as e:
            raise DataError(f"Batches.load_state_dict: expected a dict from Batches.state_dict(), got {state!r}") from e
        mine = self.state_dict()
        diff = [
            f"{k}: saved {state[k]!r}, now {mine[k]!r}"
            for k in ("seed", "num_examples", "batch_size", "world_size", "shuffle", "drop_last")
            if k in state and state[k] != mine[k]
        ]
        if diff:
            raise DataError(
                "Batches.load_state_dict: the saved batching does not match this one (" + "; ".join(diff) + "); "
                "resume with the same data, seed and batch settings, or start a fresh run"
            )
        if epoch < 0 or not 0 <= position <= self.num_batches:
            raise DataError(
                f"Batches.load_state_dict: position {position} of epoch {epoch} is out of range (0..{self.num_batches})"
            )
        self.epoch, self.position = epoch, position
