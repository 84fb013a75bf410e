"""Multi-process training with PyTorch's DistributedDataParallel, launched by ``torchrun``.

    torchrun --nproc_per_node=2 -m unidgm train gan --data ring8 steps=500
    torchrun --nnodes=2 --node_rank=0 --rdzv_endpoint=HOST:29500 --nproc_per_node=8 -m unidgm train ...

:func:`launch` reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), starts the
process group and yields a :class:`Context`; without torchrun it yields ``None`` and training is the
ordinary single-process run. The backend is chosen automatically: gloo on CPU-only machines,
``cpu:gloo,cuda:nccl`` where CUDA is present (NCCL for the CUDA tensors of a ``device=cuda`` run,
gloo for anything on the CPU); each process uses GPU ``LOCAL_RANK``.

Design: one DistributedDataParallel per phase
---------------------------------------------
DDP's unit of work is *one forward, one backward, one optimiser step over one fixed set of
parameters*. In unidgm that unit is a **phase**, not a part: a phase's objective calls several
parts, often the same part several times before one backward (the discriminator on real and on
generated data), and calls parts it does not train (the discriminator inside the generator's
phase), while its backward targets only the phase's own parameters
(``loss.backward(inputs=params)``). Wrapping each part in DDP fits this badly: a part forwarded in a
phase that does not train it would arm its DDP reducer for gradients that never come, every part
forward would broadcast buffers, and one phase would cost one gradient all-reduce per part.

So :meth:`Context.wrap` builds, for every phase, a small module whose parameters are exactly the
phase's parts (the parts themselves, shared, not copies) and whose forward is the phase's objective,
and wraps that module in ``DistributedDataParallel``. The phase's objective is then routed through
its DDP; the training loop does not change. Consequences:

* one DDP forward per backward, as DDP expects; repeated forwards of a part inside a phase are plain
  computation inside that one forward;
* DDP's parameter set is exactly the backward's ``inputs=`` set, so its reducer all-reduces (in
  buckets, overlapped with the backward) the gradients of precisely the parameters this phase moves;
  parts used but not trained by a phase are not DDP parameters of it and are never waited for;
* a phase that does not fire this step (``every`` > 1) does not call its DDP at all;
* every zoo model uses every parameter of a phase's parts in that phase (checked for the 15 models
  and their techniques), so ``find_unused_parameters`` is off (no graph traversal, no extra
  collective); a custom model that leaves parameters unused gets DDP's own error, and
  ``UNIDGM_DDP_FIND_UNUSED=1`` (or ``Context(find_unused_parameters=True)``) turns it on;
* the model's module tree is untouched (the DDP wrappers live in the context), so checkpoints,
  ``state_dict`` keys and ``unidgm.load`` are the same as for a single-process run.

Parameters stay identical on every rank: DDP broadcasts rank 0's parameters and buffers when each
phase's wrapper is built, and afterwards every rank applies the same averaged gradients with the
same Adam state. The phase's scalar loss and its logged terms are averaged across ranks with one
small all-reduce before the backward; the loss the loop sees is that global mean (its gradient is
the local one, which DDP then averages). This makes the non-finite guard collective: if any rank's
loss is NaN/inf, every rank sees a non-finite loss and skips the phase together (no rank is left
waiting in an all-reduce), and the gradient check after the backward looks at gradients that DDP has
already made identical, so all ranks agree on it too.

BatchNorm: DDP's ``broadcast_buffers`` copies rank 0's buffers (running statistics) to all ranks at
the start of each phase's forward, for the parts that phase trains; during training each rank
normalises with its own per-rank batch statistics (DDP's default). Checkpoints and samples come
from rank 0. SyncBatchNorm is not used: it would add collectives to every forward of every
BatchNorm layer (the GAN's discriminator phase alone runs D twice and G once).

Global batch and seeds
----------------------
``batch_size`` is the **global** batch: each of the W ranks takes ``batch_size / W`` examples per
stream (``batch_size`` must be divisible by W), from a disjoint strided shard of one per-epoch
permutation that all ranks share (:class:`unidgm.data.Batches`), reshuffled every epoch. A step's W
shards are together exactly the batch a single process with ``batch_size`` would take, and the
averaged gradient is that of the mean loss over the global batch, so learning rates carry over.

Every rank seeds with ``seed`` before building the model (identical initialisation; DDP's broadcast
makes sure of it). After the build, rank 0 keeps its random stream (so a 1-process torchrun run is
the plain run, bit for bit) and rank r > 0 reseeds with ``mix_seed(seed, r)``: generator noise,
reparameterisation noise and dynamic binarisation differ between ranks, as they must for the W
shards to act as one large batch. On resume each rank r > 0 reseeds with ``mix_seed(seed, r, step)``
after the checkpoint's (rank-0) random state is restored.

Rank 0 alone writes the run folder (config, metrics, TensorBoard, checkpoints, sample grids) and
shows the progress bar. Metrics that need every sample (IS, FID, log-likelihood) can collect the
ranks' shares with :func:`gather_samples`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import replace

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from ..core import Objective, UnifiedModel, loss_from
from ..errors import ConfigError

ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def under_torchrun() -> bool:
    """True in a process started by torchrun (or any launcher that sets RANK and WORLD_SIZE)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def auto_backend() -> str:
    """gloo without CUDA; with CUDA, NCCL for CUDA tensors and gloo for CPU ones."""
    return "cpu:gloo,cuda:nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


class _PhaseModule(nn.Module):
    """The module DDP wraps for one phase: the phase's parts as submodules, the objective as forward.

    The parts are shared with the model (not copied); the model itself is held outside the module
    tree, so DDP's parameters are exactly the phase's parameters.
    """

    def __init__(self, model: UnifiedModel, phase):
        super().__init__()
        self.trained = nn.ModuleDict({name: model.parts[name] for name in phase.parts})
        object.__setattr__(self, "_model", model)
        self.objective = phase.objective

    def forward(self, batch):
        obj = self.objective(self._model, batch)
        # plain containers of tensors, so DDP (and its pytree handling of outputs) sees every tensor
        return obj.value, obj.weight, obj.normaliser, dict(obj.terms)


class Context:
    """This process's place in the group, and the hooks the API and the training loop call.

    ``rank``/``world_size``/``local_rank`` as torchrun set them; ``device`` is ``cuda:LOCAL_RANK``
    when CUDA is present, else ``cpu``. Use :func:`launch` to create one from the environment.
    """

    def __init__(self, rank: int, world_size: int, local_rank: int = 0, *, find_unused_parameters: bool | None = None,
                 owns_group: bool = False):
        self.rank, self.world_size, self.local_rank = rank, world_size, local_rank
        self.device = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
        if find_unused_parameters is None:
            find_unused_parameters = os.environ.get("UNIDGM_DDP_FIND_UNUSED", "0") not in ("", "0", "false")
        self.find_unused_parameters = find_unused_parameters
        self.ddp: dict[str, DistributedDataParallel] = {}
        self._wrapped: list[tuple[UnifiedModel, list]] = []  # (model, its own phases) to restore on close
        self._owns_group = owns_group
        self._seed: int | None = None
        # A stop (SIGINT/SIGTERM) is decided collectively: the local request rides on each phase's
        # all-reduce, so every rank learns of it in the same collective and stops after the same step.
        self._stop_local, self._stop_seen = 0.0, None

    @property
    def rank0(self) -> bool:
        return self.rank == 0

    # --- set-up -------------------------------------------------------------------------------
    @classmethod
    def from_env(cls, backend: str = "auto", timeout_s: float = 1800.0, **kw) -> "Context":
        """Join the process group described by torchrun's environment variables."""
        missing = [v for v in ENV_VARS[:2] if v not in os.environ]
        if missing:
            raise ConfigError(f"distributed training needs {', '.join(missing)} in the environment: "
                              "launch with torchrun --nproc_per_node=N -m unidgm train ...")
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        local = int(os.environ.get("LOCAL_RANK", rank))
        owns = not dist.is_initialized()
        if torch.cuda.is_available():
            torch.cuda.set_device(local)
        if owns:
            dist.init_process_group(auto_backend() if backend == "auto" else backend, init_method="env://",
                                    rank=rank, world_size=world, timeout=datetime.timedelta(seconds=timeout_s))
        return cls(rank, world, local, owns_group=owns, **kw)

    def close(self) -> None:
        """Give wrapped models their own phases back and leave the process group (if this context started it)."""
        for model, phases in self._wrapped:
            model.with_phases(phases)
        self._wrapped.clear()
        self.ddp.clear()
        if self._owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self._owns_group = False

    # --- hooks called by unidgm.api and the training loop -------------------------------------
    def wrap(self, model: UnifiedModel) -> UnifiedModel:
        """Route every phase of ``model`` through its own DDP (see the module docstring); reseed per rank.

        Called once, after the model is built and moved to its device and before the Trainer makes
        its optimisers. Returns the same model object.
        """
        if model.device.type == "cuda" and model.device.index not in (None, self.local_rank):
            raise ConfigError(f"rank {self.rank} has its model on {model.device}, expected cuda:{self.local_rank}")
        device_ids = [model.device.index if model.device.index is not None else self.local_rank] \
            if model.device.type == "cuda" else None
        phases = []
        for ph in model.phases:
            module = _PhaseModule(model, ph)
            # buffers: DDP's default syncs them from rank 0 at construction and before each forward
            ddp = DistributedDataParallel(module, device_ids=device_ids,
                                          find_unused_parameters=self.find_unused_parameters,
                                          gradient_as_bucket_view=True)
            self.ddp[ph.name] = ddp
            phases.append(replace(ph, objective=ph.objective.derive(self._routed(ddp), takes_generated=False)))
        self._wrapped.append((model, list(model.phases)))
        model.with_phases(phases)
        self._seed = torch.initial_seed()  # the seed the model was built from (api.prepare seeds it)
        self.fork_rng()
        return model

    def fork_rng(self, *salt: int) -> None:
        """Give rank r > 0 its own random stream (``mix_seed(seed, r, *salt)``); rank 0 keeps its own."""
        if self.rank == 0:
            return
        from ..data.dataset import mix_seed
        seed = self._seed if self._seed is not None else torch.initial_seed()
        torch.manual_seed(mix_seed(seed, self.rank, *salt))

    def _routed(self, ddp: DistributedDataParallel):
        world = self.world_size

        def objective(model, batch) -> Objective:
            value, weight, normaliser, terms = ddp(batch)
            local = loss_from(Objective(value, weight, normaliser=normaliser))
            # one all-reduce for the loss and the logged scalar terms: global means for the logs, and
            # a collective non-finite decision (NaN/inf anywhere makes the loss non-finite everywhere)
            names = [k for k, v in terms.items() if torch.is_tensor(v) and v.numel() == 1]
            stats = torch.stack([local.detach().float().reshape(())] +
                                [terms[k].detach().float().reshape(()).to(local.device) for k in names] +
                                [local.new_tensor(self._stop_local, dtype=torch.float32)])
            dist.all_reduce(stats)
            stats /= world
            self._stop_seen = stats[-1]
            loss = local + (stats[0].to(local.dtype) - local).detach()
            terms = {**terms, **{k: stats[i + 1] for i, k in enumerate(names)}}
            # an objective whose loss_from() is `loss` (value −loss over one "example")
            return Objective(-loss.reshape(1), terms=terms)

        objective.__name__ = "ddp_phase"
        return objective

    def clear_stop(self) -> None:
        """A new training run on this context starts with no stop requested."""
        self._stop_local, self._stop_seen = 0.0, None

    def request_stop(self) -> None:
        """This rank was asked to stop (a signal); the ranks learn it together at the next phase."""
        self._stop_local = 1.0

    def stop_agreed(self) -> bool:
        """Whether any rank asked to stop, as of the last phase's all-reduce: the same on every rank."""
        return self._stop_seen is not None and bool(self._stop_seen > 0)

    # --- collectives for callers ----------------------------------------------------------------
    def broadcast_object(self, obj, src: int = 0):
        """``obj`` from rank ``src`` on every rank (a run folder name, a config)."""
        box = [obj]
        dist.broadcast_object_list(box, src=src)
        return box[0]

    def barrier(self) -> None:
        dist.barrier()

    def gather_samples(self, tensor: torch.Tensor) -> torch.Tensor:
        return gather_samples(tensor)


def gather_samples(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` concatenated along dim 0 in rank order, on every rank.

    Ranks may hold different numbers of rows (the other dims must agree). Without an initialised
    process group it returns ``tensor`` itself, so metric code can call it unconditionally.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return tensor
    world = dist.get_world_size()
    t = tensor.contiguous()
    sizes = [torch.zeros((), dtype=torch.long, device=t.device) for _ in range(world)]
    dist.all_gather(sizes, torch.tensor(t.shape[0], dtype=torch.long, device=t.device))
    sizes = [int(s) for s in sizes]
    top = max(sizes)
    if t.shape[0] < top:  # all_gather needs equal shapes: pad, then trim
        t = torch.cat([t, t.new_zeros((top - t.shape[0], *t.shape[1:]))])
    parts = [torch.empty_like(t) for _ in range(world)]
    dist.all_gather(parts, t)
    return torch.cat([p[:n] for p, n in zip(parts, sizes)])


@contextlib.contextmanager
def launch(**kw):
    """``with launch() as ctx:`` — a :class:`Context` under torchrun (process group started and
    finally destroyed), else ``None`` for an ordinary single-process run."""
    if not under_torchrun():
        yield None
        return
    ctx = Context.from_env(**kw)
    try:
        yield ctx
    finally:
        ctx.close()


__all__ = ["Context", "launch", "gather_samples", "under_torchrun", "auto_backend"]
