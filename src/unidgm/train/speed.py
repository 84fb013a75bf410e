"""Speed options of the training loop: Adam's implementation, torch.compile, channels-last.

All act in place on the model's existing modules, so the module tree, ``state_dict`` keys,
checkpoints and ``unidgm.load`` are unchanged, and they compose with DDP (``unidgm.train.distributed``).
Defaults never change CPU results: ``adam=auto`` is the multi-tensor (foreach) Adam on every
device. torch's own default is foreach on CUDA only and a Python loop over tensors on CPU, but both
perform the same floating-point operations (bit-identical, ``tests/train/test_speed_options.py``)
and on CPU the loop's per-tensor dispatch is a measurable share of a small model's step (the
VAE's 12 tensors, half of them biases: ~3% of the step on one thread; ``benchmarks/throughput.py``). ``adam=fused``, ``compile=true`` and
``channels_last=true`` are opt-in because their rounding differs. ``precision=bf16`` (autocast on CUDA or CPU) lives in the loop.
"""

from __future__ import annotations

import torch
from torch import nn

ADAM_IMPLS = ("auto", "foreach", "for", "fused")


def adam_options(impl: str) -> dict:
    """Keyword arguments of ``torch.optim.Adam`` for an implementation name."""
    if impl not in ADAM_IMPLS:
        raise ValueError(f"unknown Adam implementation {impl!r}; valid: {', '.join(ADAM_IMPLS)}")
    if impl == "auto":  # foreach everywhere: bit-identical to the per-tensor loop, fewer dispatches
        return {"foreach": True}
    return {"fused": True} if impl == "fused" else {"foreach": impl == "foreach"}


def part_nets(model) -> list[nn.Module]:
    """The networks inside the model's parts (``part.net``): what ``compile=true`` compiles."""
    nets = []
    for part in model.parts.values():
        net = getattr(part, "net", None)
        if isinstance(net, nn.Module) and not any(net is n for n in nets):
            nets.append(net)
    return nets


def compile_nets(model, **options) -> None:
    """``torch.compile`` every part's net in place (``nn.Module.compile``): parts keep calling
    ``self.net(...)``; parameters and their names stay where they were."""
    for net in part_nets(model):
        net.compile(**options)


def apply_speed_options(model, cfg) -> None:
    """What the training config asks for, applied to ``model`` before the optimisers are made."""
    if getattr(cfg, "channels_last", False):
        model.to(memory_format=torch.channels_last)  # only 4-D (convolution) weights change layout
    if getattr(cfg, "compile", False):
        compile_nets(model)


__all__ = ["ADAM_IMPLS", "adam_options", "part_nets", "compile_nets", "apply_speed_options"]
