"""The one training loop. It runs any model's declared phases; it never names a model or technique.

Per step: the step's batch of named streams; for each phase in declared order whose schedule
fires: its objective, the shared reduction (`loss_from`), a backward pass into that phase's
parameters only, its optimiser's step, its terms logged. Seeds, devices, precision, the
non-finite guard, checkpoints, resume, signals and progress live here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..core import ADAM_BETAS, UnifiedModel, loss_from
from ..errors import CheckpointError, ConfigError, DataError, NonFiniteError
from . import checkpoint as ckpt
from .config import TrainConfig
from .rundir import RunDir
from .selection import Selection, kl_weight, lr_factor, schedules_used
from .speed import adam_options, apply_speed_options
from .streams import Streams


_RUNNING = None  # the Trainer whose fit() runs in this process (request_stop reaches it from a signal handler)


def request_stop(signum: int = signal.SIGTERM) -> bool:
    """Ask the training running in this process, if any, to stop after its step with a checkpoint (a first
    SIGINT/SIGTERM's effect, without a second one's "stop now"); True if one was running."""
    if _RUNNING is None:
        return False
    _RUNNING.request_stop(signum)
    return True


class Interrupted(Exception):
    """Training stopped by SIGINT/SIGTERM after saving a checkpoint."""

    def __init__(self, signum: int, step: int, path, resume_args: str = ""):
        run = Path(path).parent.parent if path is not None else "RUN"
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step}; checkpoint saved at {path}; "
                         f"continue with `unidgm train --resume {run}{resume_args}`")
        self.signum, self.step, self.path = signum, step, path


def make_optimizers(model: UnifiedModel, foreach: bool | None = None,
                    fused: bool | None = None, weight_decay: float = 0.0) -> dict[str, torch.optim.Optimizer]:
    """One Adam per phase over the parameters of the parts it moves (settings from the phase);
    with ``weight_decay`` > 0, decoupled weight decay (AdamW, Loshchilov & Hutter)."""
    opts = {}
    decay = {"weight_decay": weight_decay, "decoupled_weight_decay": True} if weight_decay else {}
    for ph in model.phases:
        params = model.phase_parameters(ph)
        if not params:
            raise ConfigError(f"phase {ph.name!r} of {model.name} has no trainable parameters")
        opts[ph.name] = torch.optim.Adam(params, lr=ph.optim["lr"], betas=tuple(ph.optim.get("betas", ADAM_BETAS)),
                                         foreach=foreach, fused=fused, **decay)
    return opts



class Trainer:
    """Runs ``model``'s phases on ``streams`` for ``cfg.steps`` steps, logging into ``run``."""

    def __init__(self, model: UnifiedModel, streams: Streams, cfg: TrainConfig, run: RunDir | None = None,
                 *, sample_reference=None, state: dict | None = None, hooks=(), distributed=None,
                 validator=None, select: tuple[str, bool] | None = None):
        self.model, self.streams, self.cfg, self.run = model, streams, cfg, run
        self.dist = distributed  # unidgm.train.distributed.Context or None
        if distributed is not None:
            distributed.clear_stop()
        apply_speed_options(model, cfg)  # compile / channels-last, in place (checkpoints unchanged)
        self.optimizers = make_optimizers(model, **adam_options(cfg.adam, model.device), weight_decay=cfg.weight_decay)
        # each phase's configured learning rates: the schedule scales these (never the restored ones)
        self._base_lr = {n: [g["lr"] for g in o.param_groups] for n, o in self.optimizers.items()}
        # the run's optimiser settings (lr, betas, weight decay, ...), re-applied over a restored checkpoint's
        self._group_settings = {n: [{k: v for k, v in g.items() if k != "params"} for g in o.param_groups]
                                for n, o in self.optimizers.items()}
        if cfg.kl_warmup and not any(ph.objective.anneals_kl for ph in model.phases):
            raise ConfigError(f"kl_warmup={cfg.kl_warmup}: {model.name} has no Eq. 12 objective with a KL term to "
                              "anneal (it applies to vae, cvae and their AA versions); drop kl_warmup")
        # model selection: ``validator(model) -> {"val/<metric>": value}`` on the held-out split (built by the API)
        self.validator = validator if cfg.eval_every else None
        key, higher = select or ("val/loss", False)
        self.selection = Selection(key, higher)
        self.stopped: str | None = None  # None (ran every step), "early" (patience), "budget" (max_minutes)
        self.step, self.skipped = 0, 0
        self.sample_reference = sample_reference
        self.extra_state = dict(state or {})
        self.hooks = list(hooks)
        self._stop_signal: int | None = None
        self._signalled = False  # this process's own SIGINT/SIGTERM came (a second one stops at once)
        self.resume_args = ""  # appended to the `--resume RUN` hint (e.g. the run's --data-root)
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

    def _set_schedules(self) -> None:
        """The step's learning rates and KL weight: pure functions of the step (resume stays bit-exact)."""
        cfg = self.cfg
        if schedules_used(cfg):
            f = lr_factor(cfg, self.step)
            for name, opt in self.optimizers.items():
                for g, base in zip(opt.param_groups, self._base_lr[name]):
                    g["lr"] = base * f
        if cfg.kl_warmup:
            self.model.kl_weight = kl_weight(cfg, self.step)

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
        with_grad = [p for p in params if p.grad is not None]
        # Σ_i ‖g_i‖ + loss is finite iff the loss and every gradient entry are (inf − inf is nan), or else
        # the norms overflow (finite entries, unusable all the same): one foreach pass and one sync
        norms = torch.stack(torch._foreach_norm([p.grad for p in with_grad])) if with_grad else None
        total = norms.sum() if with_grad else loss.new_zeros(())
        if not torch.isfinite(total.add_(loss.detach())):
            if not torch.isfinite(loss):
                self._nonfinite(ph.name, "loss", loss)
            else:
                bad = next((p for p in with_grad if not torch.isfinite(p.grad).all()), None)
                if bad is not None:
                    self._nonfinite(ph.name, f"gradient of part {self._parts_of.get(id(bad), '?')!r}",
                                    torch.linalg.vector_norm(bad.grad))
                else:  # every entry finite, but a norm or their sum overflows the float range
                    big = with_grad[int(torch.nan_to_num(norms, nan=float("inf")).argmax())]
                    self._nonfinite(ph.name, f"gradient norm (it overflows; largest in part "
                                    f"{self._parts_of.get(id(big), '?')!r})", total)
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
        raise NonFiniteError(f"non-finite {what} ({float(value.detach())}) at step {self.step + 1}, "
                             f"phase {phase!r}{where}; "
                             "lower the learning rate, or pass nonfinite=skip to skip such steps")

    # --- the loop -----------------------------------------------------------------------------
    def fit(self) -> dict[str, float]:
        global _RUNNING
        cfg, last = self.cfg, {}
        acc = self._acc
        handlers = self._install_signals()
        bar = tqdm(total=cfg.steps, initial=self.step, disable=not (cfg.progress and self.rank0),
                   desc=self.model.name, dynamic_ncols=True, leave=False)
        started, cpu0 = time.monotonic(), time.process_time()
        try:
            _RUNNING = self
            while self.step < cfg.steps and not self.selection.exhausted(cfg.patience):
                self.model.train()
                self._set_schedules()
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
                        self.run.log_timing(self.step, time.monotonic() - started, time.process_time() - cpu0)
                    bar.set_postfix({k: f"{v:.3g}" for k, v in list(last.items())[:3]})
                    for hook in self.hooks:
                        hook(self, last)
                if self.validator is not None and (self.step % cfg.eval_every == 0 or self.step == cfg.steps):
                    self.validate()
                if cfg.sample_every and self.step % cfg.sample_every == 0:
                    self.save_samples()
                saved = None
                if cfg.ckpt_every and self.step % cfg.ckpt_every == 0 and self.step < cfg.steps:
                    saved = self.save()
                # under DDP every rank must stop after the same step (else the others wait in a collective)
                over_budget = cfg.max_minutes is not None and time.monotonic() - started > 60 * cfg.max_minutes
                if over_budget and self.dist is not None:
                    self.dist.request_stop()  # decided collectively, like a signal (rank clocks differ)
                stop = (over_budget or self._stop_signal is not None) if self.dist is None else self.dist.stop_agreed()
                if stop and self.step < cfg.steps and not self.selection.exhausted(cfg.patience):
                    if self._stop_signal is not None or cfg.max_minutes is None:
                        path = saved or self.save()
                        raise Interrupted(self._stop_signal or signal.SIGTERM, self.step, path, self.resume_args)
                    self.stopped = "budget"  # max_minutes spent here or on rank 0: a clean, resumable stop
                    saved or self.save()
                    return last
            if self.selection.exhausted(cfg.patience):
                self.stopped = "early"
            self.save()
            self.save_samples()
        finally:
            bar.close()
            self._restore_signals(handlers)
            _RUNNING = None
        return last

    # --- model selection ----------------------------------------------------------------------------
    def validate(self) -> dict[str, float]:
        """Validation metrics now (RNG forked: training continues exactly as without validation); a new best
        is saved to RUN/best/ and summarised in RUN/best.json. Under DDP rank 0 validates and decides."""
        values = {}
        if self.rank0:
            was_training = self.model.training
            self.model.eval()
            devices = [self.model.device] if self.model.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                torch.manual_seed(self.cfg.seed + 7919)  # the same noise at every validation
                values = {k: float(v) for k, v in self.validator(self.model).items()}
            self.model.train(was_training)
        if self.dist is not None:
            values = self.dist.broadcast_object(values)
        key = self.selection.key
        if key not in values:
            raise ConfigError(f"the validator gave {sorted(values)}, not the selection metric {key!r}")
        better = self.selection.update(self.step, values[key])
        values[f"{key}_best"] = self.selection.best
        if self.run:
            self.run.log(self.step, values)
        if better and self.run is not None and self.rank0:
            self.save(self.run.best, keep=1)
            self.write_best()
        return values

    def write_best(self) -> None:
        if self.run is not None and self.rank0 and self.selection.best_step is not None:
            ckpt.atomic_write_text(self.run.best_json, json.dumps(
                {**self.selection.summary(),
                 "checkpoint": f"{self.run.best.name}/ckpt-{self.selection.best_step:08d}"}, indent=2))

    def forget_future_best(self) -> None:
        """After a resume: a best saved past the restored step belongs to a future this run will redo."""
        folder = None if self.run is None else self.run.best
        if folder is None or not folder.is_dir() or not self.rank0:
            return
        for p in folder.glob("ckpt-*"):
            if ckpt.checkpoint_step(p) > self.step:
                shutil.rmtree(p, ignore_errors=True)
        if self.selection.best_step is None:
            self.run.best_json.unlink(missing_ok=True)
        else:
            self.write_best()

    # --- checkpoints, resume, samples -------------------------------------------------------------
    def state(self) -> dict:
        return {"streams": self.streams.state_dict(), "skipped": self.skipped, "log_keys": list(self._acc),
                "selection": self.selection.state_dict(), **self.extra_state}

    def save(self, folder: Path | None = None, keep: int | None = None):
        """A checkpoint of now into ``folder`` (default: the rolling RUN/checkpoints/, last ``keep_ckpts``)."""
        if self.run is None or not self.rank0:
            return None
        logs = {f"log/{k}": torch.stack(v).detach() for k, v in self._acc.items() if v}
        return ckpt.save_checkpoint(folder or self.run.checkpoints, self.step, self.model, self.optimizers,
                                    self.state(), keep=keep or self.cfg.keep_ckpts, extra_tensors=logs)

    def restore(self, path: Path) -> None:
        tensors, state = ckpt.read_checkpoint(path)
        ckpt.load_model_tensors(self.model, tensors, str(path))
        if set(state["optimizers"]) != set(self.optimizers):
            raise CheckpointError(f"{path} has phases {sorted(state['optimizers'])}, the model has "
                                  f"{sorted(self.optimizers)}: it was written by another model")
        for name, opt in self.optimizers.items():
            tens = {k: v.to(self.model.device) for k, v in tensors.items() if k.startswith(f"optim/{name}/")}
            ckpt.restore_optimizer(name, opt, tens, state["optimizers"][name])
            for group, settings in zip(opt.param_groups, self._group_settings[name]):
                group.update(settings)  # the run's settings, not the checkpoint's: a forced lr change holds
        if set(state["streams"]) != set(self.streams.batches):
            raise CheckpointError(f"{path} has data streams {sorted(state['streams'])}, the run has "
                                  f"{sorted(self.streams.batches)}: it was written by another model or data set")
        log_keys = state.get("log_keys", [])
        if not isinstance(log_keys, list) or any(f"log/{k}" not in tensors for k in log_keys):
            raise CheckpointError(f"{path} misses the metrics accumulated since the last log line")
        try:
            self.streams.load_state_dict(state["streams"])
        except DataError as e:  # a CheckpointError, so that an older intact checkpoint is tried next
            raise CheckpointError(f"{path / ckpt.STATE}: {e}") from None
        ckpt.restore_rng(tensors)
        self._acc = {k: list(tensors[f"log/{k}"].to(self.model.device).unbind(0)) for k in log_keys}
        self.step, self.skipped = int(state["step"]), int(state.get("skipped", 0))
        if isinstance(state.get("selection"), dict) and state["selection"].get("key") == self.selection.key:
            self.selection = Selection.from_state(state["selection"])
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
        if self._signalled:  # a second signal: stop now, keeping the last checkpoint on disk
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: stopped without saving")
        self._signalled = True  # a stop requested otherwise (request_stop) is not a first signal
        self.request_stop(signum)

    def request_stop(self, signum: int = signal.SIGTERM) -> None:
        """Finish the step, save and stop (raising ``Interrupted``), as on a first SIGINT/SIGTERM; idempotent."""
        if self._stop_signal is None:
            self._stop_signal = signum
            if self.dist is not None:
                self.dist.request_stop()

    @staticmethod
    def _restore_signals(old):
        for sig, h in old.items():
            signal.signal(sig, h)
