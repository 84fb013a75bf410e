"""The one training loop. It runs any model's declared phases; it never names a model or technique.

Per step: the step's batch of named streams; for each phase in declared order whose schedule
fires: its objective, the shared reduction (`loss_from`), a backward pass into that phase's
parameters only, its optimiser's step, its terms logged. Seeds, devices, precision, the
non-finite guard, checkpoints, resume, signals and progress live here and nowhere else.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core import UnifiedModel, loss_from
from ..errors import CheckpointError, ConfigError, NonFiniteError
from . import checkpoint as ckpt
from .config import TrainConfig
from .rundir import RunDir
from .speed import adam_options, apply_speed_options
from .streams import Streams


class Interrupted(Exception):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, signum: int, step: int, path):
        run = Path(path).parent.parent if path is not None else "RUN"
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved at {path}; "
                         f"continue with `unidgm train --resume {run}`")
        self.signum, self.step, self.path = signum, step, path


def make_optimizers(model: UnifiedModel, foreach: bool | None = None,
                    fused: bool | None = None) -> dict[str, torch.optim.Optimizer]:
    """One Adam per phase over the parameters of the parts it moves (settings from the phase)."""
    opts = {}
    for ph in model.phases:
        params = model.phase_parameters(ph)
        if not params:
            raise ConfigError(f"phase {ph.name!r} of {model.name} has no trainable parameters")
        opts[ph.name] = torch.optim.Adam(params, lr=ph.optim["lr"], betas=tuple(ph.optim.get("betas", (0.9, 0.999))),
                                         foreach=foreach, fused=fused)
    return opts


class Trainer:
    """Runs ``model``'s phases on ``streams`` for ``cfg.steps`` steps, logging into ``run``."""

    def __init__(self, model: UnifiedModel, streams: Streams, cfg: TrainConfig, run: RunDir | None = None,
                 *, sample_reference=None, state: dict | None = None, hooks=(), distributed=None):
        self.model, self.streams, self.cfg, self.run = model, streams, cfg, run
        self.dist = distributed  # unidgm.train.distributed.Context or None
        if distributed is not None:
            distributed.clear_stop()
        apply_speed_options(model, cfg)  # compile / channels-last, in place (checkpoints unchanged)
        self.optimizers = make_optimizers(model, **adam_options(cfg.adam))
        self.step, self.skipped = 0, 0
        self.sample_reference = sample_reference
        self.extra_state = dict(state or {})
        self.hooks = list(hooks)
        self._stop_signal: int | None = None
        self._acc: dict[str, list] = {}  # terms since the last log line (saved in checkpoints: exact resume)
        self._skipped_at = -1  # the last step counted in `skipped`
        self._phase_params = {ph.name: model.phase_parameters(ph) for ph in model.phases}
        trainable = {id(p) for p in model.parameters() if p.requires_grad}
        self._whole = {name: {id(p) for p in ps} == trainable for name, ps in self._phase_params.items()}
        self._parts_of = {id(p): name for name, part in model.parts.items() for p in part.parameters()}

    @property
    def rank0(self) -> bool:
        return self.dist is None or self.dist.rank == 0

    # --- one step ---------------------------------------------------------------------------
    def _autocast(self):
        if self.cfg.precision == "bf16":  # CUDA, or CPUs (fast where they have native bf16: AVX512-BF16, AMX)
            return torch.autocast(self.model.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        logs = {}
        for ph in self.model.phases:
            if self.step % ph.every:
                continue
            for _ in range(ph.repeat):  # e.g. several adversary updates per generator update
                self._update(ph, batch, logs)
        return logs

    def _update(self, ph, batch: dict, logs: dict) -> None:
        """One update of one phase: objective, loss, backward into its parameters, guard, step, logs."""
        params = self._phase_params[ph.name]
        with self._autocast():
            obj = ph.objective(self.model, batch)
            loss = loss_from(obj)
        opt = self.optimizers[ph.name]
        opt.zero_grad(set_to_none=True)
        # The backward runs even on a non-finite loss, so that one check (one device sync on GPUs,
        # not two) covers the loss and the gradients; a bad phase's gradients are dropped unused.
        # only this phase's parameters receive gradients (a plain backward where they are all there are)
        loss.backward(inputs=None if self._whole[ph.name] else params)
        if self.dist is not None:
            self.dist.all_reduce_grads(params)
        grads = [p.grad for p in params if p.grad is not None]
        # Σ_i ‖g_i‖ + loss is finite iff the loss and every gradient entry are (inf − inf is nan):
        # one pass over the gradients in one call (foreach, also on CPU) and one sync
        total = torch.stack(torch._foreach_norm(grads)).sum() if grads else loss.new_zeros(())
        if not torch.isfinite(total.add_(loss.detach())):
            if not torch.isfinite(loss):
                self._nonfinite(ph.name, "loss", loss)
            else:
                bad = next(p for p in params if p.grad is not None and not torch.isfinite(p.grad).all())
                self._nonfinite(ph.name, f"gradient of part {self._parts_of.get(id(bad), '?')!r}",
                                torch.linalg.vector_norm(bad.grad))
            opt.zero_grad(set_to_none=True)
            return
        opt.step()
        logs[f"{ph.name}/loss"] = loss.detach()
        for k, v in obj.terms.items():
            logs[f"{ph.name}/{k}"] = v

    def _nonfinite(self, phase: str, what: str, value) -> None:
        if self.cfg.nonfinite == "skip":
            if self._skipped_at != self.step:  # `skipped` counts steps, however many of their phases skip
                self.skipped, self._skipped_at = self.skipped + 1, self.step
            return
        where = ""
        if self.run:
            good = ckpt.latest_checkpoint(self.run.checkpoints)
            where = f" (last good checkpoint: {good})" if good else " (no checkpoint written yet)"
        raise NonFiniteError(f"non-finite {what} ({float(value.detach())}) at step {self.step}, "
                             f"phase {phase!r}{where}; "
                             "lower the learning rate, or pass nonfinite=skip to skip such steps")

    # --- the loop -----------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        cfg, last = self.cfg, {}
        acc = self._acc
        handlers = self._install_signals()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (cfg.progress and self.rank0),
                   desc=self.model.name, dynamic_ncols=True, leave=False)
        try:
            while self.step < cfg.steps:
                self.model.train()
                logs = self.train_step(self.streams.next())
                for k, v in logs.items():
                    acc.setdefault(k, []).append(v)
                self.step += 1
                bar.update(1)
                if self.step % cfg.log_every == 0 or self.step == cfg.steps:
                    last = {k: float(torch.stack(v).float().mean()) for k, v in acc.items()}
                    last["skipped_steps"] = self.skipped
                    acc.clear()
                    if self.run:
                        self.run.log(self.step, last)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(last.items())[:3]})
                    for hook in self.hooks:
                        hook(self, last)
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                saved = None
                if cfg.ckpt_every and self.step % cfg.ckpt_every == 0 and self.step < cfg.steps:
                    saved = self.save()
                # under DDP every rank must stop after the same step (else the others wait in a collective)
                stop = self._stop_signal is not None if self.dist is None else self.dist.stop_agreed()
                if stop and self.step < cfg.steps:  # at the last step: just finish
                    path = saved or self.save()
                    raise Interrupted(self._stop_signal or signal.SIGTERM, self.step, path)
            self.save()
            self.save_samples()
        finally:
            bar.close()
            self._restore_signals(handlers)
        return last

    # --- checkpoints, resume, samples -------------------------------------------------------------
    def state(self) -> dict:
        return {"streams": self.streams.state_dict(), "skipped": self.skipped, "log_keys": list(self._acc),
                **self.extra_state}

    def save(self):
        if self.run is None or not self.rank0:
            return None
        logs = {f"log/{k}": torch.stack(v).detach() for k, v in self._acc.items() if v}
        return ckpt.save_checkpoint(self.run.checkpoints, self.step, self.model, self.optimizers, self.state(),
                                    keep=self.cfg.keep_ckpts, extra_tensors=logs)

    def restore(self, path: Path) -> None:
        tensors, state = ckpt.read_checkpoint(path)
        ckpt.load_model_tensors(self.model, tensors, str(path))
        if set(state["optimizers"]) != set(self.optimizers):
            raise CheckpointError(f"{path} has phases {sorted(state['optimizers'])}, the model has "
                                  f"{sorted(self.optimizers)}: it was written by another model")
        for name, opt in self.optimizers.items():
            tens = {k: v.to(self.model.device) for k, v in tensors.items() if k.startswith(f"optim/{name}/")}
            ckpt.restore_optimizer(name, opt, tens, state["optimizers"][name])
        if set(state["streams"]) != set(self.streams.batches):
            raise CheckpointError(f"{path} has data streams {sorted(state['streams'])}, the run has "
                                  f"{sorted(self.streams.batches)}: it was written by another model or data set")
        log_keys = state.get("log_keys", [])
        if not isinstance(log_keys, list) or any(f"log/{k}" not in tensors for k in log_keys):
            raise CheckpointError(f"{path} misses the metrics accumulated since the last log line")
        self.streams.load_state_dict(state["streams"])
        ckpt.restore_rng(tensors)
        self._acc = {k: list(tensors[f"log/{k}"].to(self.model.device).unbind(0)) for k in log_keys}
        self.step, self.skipped = int(state["step"]), int(state.get("skipped", 0))
        if self.dist is not None:  # the checkpoint holds rank 0's random state: other ranks fork their own
            self.dist.fork_rng(self.step)

    def save_samples(self) -> None:
        if self.run is None or not self.rank0:
            return
        try:
            x = self.model.sample(64)
        except NotImplementedError:
            return
        from .images import save_samples
        save_samples(x, self.run.samples / f"step-{self.step:08d}.png", self.sample_reference,
                     title=f"{self.model.name} step {self.step}")

    # --- signals: SIGINT/SIGTERM finish the step, save, and stop ------------------------------------
    def _install_signals(self):
        import threading
        if threading.current_thread() is not threading.main_thread():
            return {}
        old = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.getsignal(sig)
            signal.signal(sig, self._on_signal)
        return old

    def _on_signal(self, signum, frame):
        if self._stop_signal is not None:  # a second signal: stop now, keeping the last checkpoint on disk
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopped without saving")
        self._stop_signal = signum
        if self.dist is not None:
            self.dist.request_stop()

    @staticmethod
    def _restore_signals(old):
        for sig, h in old.items():
            signal.signal(sig, h)
