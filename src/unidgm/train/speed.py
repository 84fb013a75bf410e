"""Speed options of the training loop: Adam's implementation, torch.compile, channels-last.

All act in place on the model's existing modules, so the module tree, ``state_dict`` keys,
checkpoints and ``unidgm.load`` are unchanged, and they compose with DDP (``unidgm.train.distributed``).
``adam=auto`` is torch's fused Adam (one kernel per step over all tensors) on the devices torch has
it for (CPU, CUDA, MPS), and the multi-tensor (foreach) Adam elsewhere. Why fused: Adam is memory-bound,
and the foreach and per-tensor versions make a dozen passes over the parameters and both moments where
the fused kernel makes one; on the MNIST VAE (1.4M parameters, one thread) the optimiser step took
7-12 ms of a 23-31 ms step with foreach or the per-tensor loop and 2.2 ms fused, and whole runs are
x1.3 faster (``benchmarks/results/endtoend.md``). The fused kernel computes the same update with
another rounding order, so its bits differ from torch's per-tensor default (``adam=for``, which
``adam=foreach`` matches bit for bit); it is deterministic, and resume stays bit-exact. ``compile=true``
and ``channels_last=true`` are opt-in because their rounding differs. ``allocator=auto`` (default)
keeps freed CPU memory in the process (:func:`keep_freed_memory`). ``precision=bf16`` (autocast on CUDA or CPU) lives in the loop.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch import nn

ADAM_IMPLS = ("auto", "foreach", "for", "fused")
# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit (32 MiB)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX = -1, -3, 32 * 1024 * 1024


@functools.cache  # once per process: the setting is process-wide
def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse rather than return it to the OS.

    A CPU training step frees and reallocates the same megabytes (activations, gradients, Adam's
    temporaries) every step. glibc serves blocks above its mmap threshold with fresh mappings and
    trims the heap top when it frees them, so each step page-faults its memory back in: measured
    ~1,000 minor faults and 1-2 ms of kernel time per step of the MNIST VAE on one thread (10-15%
    of the step; ``benchmarks/throughput.py``). Raising both thresholds is what PyTorch's CPU
    performance guide achieves with jemalloc/tcmalloc, without a preload. Process-wide and
    irreversible; changes no numbers. Returns whether it took effect (False off glibc).
    """
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX) == 1 and \
            libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1  # keep up to 1 GiB of free heap top
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to tune
        return False


@contextlib.contextmanager
def torch_threads(n: int | None):
    """torch's intra-op thread count set to ``n`` inside the block (unchanged if None), restored after:
    training through the API must not leave the caller's process with another thread count."""
    previous = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


@contextlib.contextmanager
def denormals_flushed(on: bool):
    """Flush denormal floats to zero (FTZ/DAZ) inside the block, on CPU (``train.denormals``).

    Why: Adam's first moments of parameters whose gradient is exactly zero for a while (dead ReLU units,
    never-lit border pixels) decay by β1 = 0.9 per step into the denormal range (below 1.2e-38): measured on
    the MNIST VAE, 418,036 of its 4.1M parameter and moment values at step 3,000, 0 at step 0, and rising.
    On Intel CPUs every denormal operand of a vector instruction takes a microcode assist; a probe on an
    Intel Xeon timed late steps at 15.4 ms flushed against 31.7 ms unflushed. Effect on the numbers: any
    value that would be below 1.2e-38 in magnitude becomes 0 — an Adam moment of 1e-39 moves a weight by
    ~1e-34, far below float32's resolution: 3,000 steps of the MNIST VAE (fixed binarisation, seed 0) end
    with bit-identical parameters and test ELBO (-105.9853) flushed and unflushed. Runs stay bit-exact and
    resumable: the resumed process flushes too. Only the calling thread's FP control
    register is set (torch's API), which does all the work when ``threads=1``.
    """
    if not on:
        yield False
        return
    supported = torch.set_flush_denormal(True)
    try:
        yield supported
    finally:
        torch.set_flush_denormal(False)


def data_resident(option: str, device: torch.device, tensors) -> bool:
    """Whether the training tensors should live on ``device`` for the whole run (``train.data_on_device``):
    never on CPU; ``yes`` on an accelerator; ``auto`` on CUDA when they take under a quarter of its free memory."""
    if device.type == "cpu" or option == "no":
        return False
    if option == "yes":
        return True
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return sum(t.numel() * t.element_size() for t in tensors) < free / 4


FUSED_ADAM_DEVICES = ("cpu", "cuda", "mps")  # where torch.optim.Adam(fused=True) has a kernel


def adam_options(impl: str, device: torch.device | str = "cpu") -> dict:
    """Keyword arguments of ``torch.optim.Adam`` for an implementation name on ``device``
    (``auto``: fused where torch has the kernel, foreach elsewhere)."""
    if impl not in ADAM_IMPLS:
        raise ValueError(f"unknown Adam implementation {impl!r}; valid: {', '.join(ADAM_IMPLS)}")
    if impl == "auto":
        impl = "fused" if torch.device(device).type in FUSED_ADAM_DEVICES else "foreach"
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
    if getattr(cfg, "allocator", "system") == "auto" and model.device.type == "cpu":
        keep_freed_memory()
    if getattr(cfg, "channels_last", False):
        model.to(memory_format=torch.channels_last)  # only 4-D (convolution) weights change layout
    if getattr(cfg, "compile", False):
        compile_nets(model)


__all__ = ["ADAM_IMPLS", "FUSED_ADAM_DEVICES", "adam_options", "data_resident", "denormals_flushed", "keep_freed_memory", "torch_threads", "part_nets", "compile_nets", "apply_speed_options"]
