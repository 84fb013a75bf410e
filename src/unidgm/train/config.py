"""The training configuration: budget, batching, seeds, devices, logging, checkpoints, guards."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, checked, non_negative, one_of, positive


@dataclass
class TrainConfig(Config):
    steps: int = checked(1000, positive, "training steps (one step runs every due phase once)")
    batch_size: int = checked(64, positive, "examples per stream per step (global batch under DDP)")
    seed: int = checked(0, non_negative, "fixes data order, initialisation and sampling (bit-exact on CPU)")
    device: str = checked("auto", one_of("auto", "cpu", "cuda"), "auto: cuda when available")
    n_train: int | None = checked(None, positive, "class-balanced training subset size (600 = 1% of MNIST)")
    n_labelled: int = checked(100, positive, "labelled examples for semi-supervised models (rest unlabelled)")
    binarize: str = checked("auto", one_of("auto", "dynamic", "fixed", "none"),
                            "auto: dynamic binarisation for Bernoulli decoders on images")
    log_every: int = checked(50, positive, "steps between metric log lines")
    sample_every: int = checked(0, non_negative, "steps between sample grids (0: only at the end)")
    ckpt_every: int = checked(500, non_negative, "steps between checkpoints (0: only at the end)")
    keep_ckpts: int = checked(2, positive, "checkpoints kept")
    nonfinite: str = checked("stop", one_of("stop", "skip"), "on a NaN/inf loss or gradient: stop, or skip the step")
    precision: str = checked("fp32", one_of("fp32", "bf16"), "bf16: autocast to bfloat16 on CUDA or CPU (speed option; on CPUs "
                             "only fast with native bf16 such as AVX512-BF16 or AMX)")
    compile: bool = checked(False, (lambda v: isinstance(v, bool), "must be true/false"),
                            "torch.compile the parts' nets (speed option; rounding differs)")
    channels_last: bool = checked(False, (lambda v: isinstance(v, bool), "must be true/false"),
                                  "channels-last layout for convolutions (speed option, mainly GPUs)")
    adam: str = checked("auto", one_of("auto", "foreach", "for", "fused"),
                        "Adam implementation: auto (= foreach on every device; the same numbers as for, torch's "
                        "per-tensor CPU default, with fewer dispatches), foreach, for, fused (one kernel: fastest; "
                        "rounding differs)")
    data_on_device: str = checked("auto", one_of("auto", "yes", "no"),
                                  "keep the in-memory training set on the accelerator (batches are then gathered "
                                  "there, no host-to-device copy per step); auto: on CUDA when it takes under a "
                                  "quarter of the free GPU memory (MNIST: 190 MB). No effect on CPU")
    allocator: str = checked("auto", one_of("auto", "system"),
                             "auto: on CPU with glibc, keep freed memory for reuse (mallopt) instead of returning it "
                             "to the OS and page-faulting it back every step (measured 10-15% of a CPU step); "
                             "process-wide, numbers unchanged. system: leave malloc as it is")
    threads: int | None = checked(None, positive, "CPU threads for torch (None: torch's default); use 1 when other "
                                  "processes share the cores: oversubscribed threads slow small models by 10x")
    progress: bool = checked(True, (lambda v: isinstance(v, bool), "must be true/false"), "progress bar")
