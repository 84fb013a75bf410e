"""The training configuration: budget, batching, seeds, devices, logging, checkpoints, guards."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config, checked, non_negative, one_of, positive
from ..recipes import RECIPE_NAMES

SELECTABLE = ("elbo", "inception_score", "cond_accuracy", "ssl_accuracy", "da_accuracy")
SCHEDULES = ("constant", "cosine", "step", "exp")
unit = (lambda v: 0 <= v <= 1, "must lie in [0, 1]")


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
                        "Adam implementation: auto (= fused on CPU, CUDA and MPS, one kernel per step: x1.3 faster "
                        "whole MNIST-VAE runs; foreach elsewhere), fused, foreach (the same bits as for, with fewer "
                        "dispatches), for (torch's per-tensor CPU default)")
    data_on_device: str = checked("auto", one_of("auto", "yes", "no"),
                                  "keep the in-memory training set on the accelerator (batches are then gathered "
                                  "there, no host-to-device copy per step); auto: on CUDA when it takes under a "
                                  "quarter of the free GPU memory (MNIST: 190 MB). No effect on CPU")
    allocator: str = checked("auto", one_of("auto", "system"),
                             "auto: on CPU with glibc, keep freed memory for reuse (mallopt) instead of returning it "
                             "to the OS and page-faulting it back every step (measured 10-15% of a CPU step); "
                             "process-wide, numbers unchanged. system: leave malloc as it is")
    denormals: str = checked("auto", one_of("auto", "flush", "keep"), "flush denormal floats to zero during "
                             "training (auto: on CPU): Adam moments decay into denormals, which are slow on Intel "
                             "CPUs; values below 1.2e-38 become 0, nothing measurable changes")
    threads: int | None = checked(None, positive, "CPU threads for torch (None: torch's default); use 1 when other "
                                  "processes share the cores: oversubscribed threads slow small models by 10x")
    # --- model selection (validation split, best checkpoint, early stopping, budget) ---
    val: int | None = checked(None, non_negative, "validation examples held out of the training data (class-balanced, "
                              "fixed seed, disjoint from the training subset); None: 5000 on sets of >= 20000, else "
                              "10% — used only when eval_every > 0; 0: no validation split")
    eval_every: int = checked(0, non_negative, "steps between validations of the selection metric (0: none); the best "
                              "model is kept in RUN/best/ and used by eval, sample and load")
    select: str = checked("auto", one_of("auto", *SELECTABLE), "selection metric: auto (elbo for explicit models, inception_score for GANs, "
                          "cond_accuracy for conditional GANs, ssl_accuracy for the SVAE, da_accuracy for ADA) or "
                          "one of those names")
    val_samples: int = checked(2000, positive, "generated samples per validation of a sample-based metric (IS, "
                               "conditional accuracy)")
    patience: int | None = checked(None, positive, "early stopping: stop after this many validations without a "
                                   "better selection metric (None: never)")
    max_minutes: float | None = checked(None, positive, "wall-clock budget of this process: stop cleanly with a "
                                        "checkpoint and a resume command once it is spent")
    # --- recipes: schedules and regularisers ---
    lr_schedule: str = checked("constant", one_of(*SCHEDULES), "learning-rate schedule over `steps`: constant, cosine "
                               "(to lr_min x lr), step (x lr_decay every lr_decay_every steps), exp (x lr_decay per "
                               "lr_decay_every steps, smoothly)")
    warmup_steps: int = checked(0, non_negative, "linear learning-rate warm-up from 0 over this many steps")
    lr_min: float = checked(0.0, unit, "cosine schedule: final learning rate as a fraction of the initial one")
    lr_decay: float = checked(0.1, (lambda v: 0 < v <= 1, "must lie in (0, 1]"),
                              "step/exp schedules: factor per lr_decay_every steps")
    lr_decay_every: int = checked(10000, positive, "step/exp schedules: steps per decay by lr_decay")
    kl_warmup: int = checked(0, non_negative, "KL warm-up (beta annealing) for Eq. 12 objectives with a KL term: "
                             "the KL's weight rises linearly from 0 to 1 over this many steps (0: off)")
    weight_decay: float = checked(0.0, non_negative, "decoupled weight decay (AdamW) for every phase (0: plain Adam)")
    recipe: str = checked("none", one_of("none", *RECIPE_NAMES), "a named recipe (see `unidgm explain MODEL`): its settings apply under your "
                          "own overrides")
    progress: bool = checked(True, (lambda v: isinstance(v, bool), "must be true/false"), "progress bar")
    mlflow: str | None = checked(None, (lambda v: bool(str(v).strip()), "must name a folder or a tracking URI"),
                                 "also log params, metrics and sample grids to MLflow: a folder (its local file "
                                 "store, e.g. mlruns) or a tracking URI; needs pip install 'unidgm[mlflow]'")
