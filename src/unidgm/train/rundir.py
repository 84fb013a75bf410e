"""Run folders: resolved config, provenance, step-wise metrics, sample grids, TensorBoard events.

Layout of a run folder::

    config.json      model, data, training and technique configs (what `unidgm.load` rebuilds from)
    meta.json        seed, versions, git commit, machine, command, start time
    metrics.jsonl    one JSON object per logged step (losses and named terms of each phase; val/* rows)
    timing.jsonl     wall and CPU seconds of this process's training at each log line
    split.json       the validation split (size, seed, digest of its indices), when the run validates
    best/, best.json the best validated checkpoint and its metric, value and step
    metrics.json     evaluation results (`unidgm eval`)
    checkpoints/     ckpt-<step>/ (safetensors + JSON), latest
    samples/         step-<step>.png grids
    tb/              TensorBoard event log
    mlflow.json      the MLflow run it logs into (only with mlflow=..., see train/tracking.py)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import RunDirError
from .checkpoint import atomic_write_text

CONFIG, META, METRICS_LOG, TIMING_LOG = "config.json", "meta.json", "metrics.jsonl", "timing.jsonl"


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "") if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def provenance(seed: int) -> dict:
    import unidgm
    return {"seed": seed, "unidgm": unidgm.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "machine": platform.node(),
            "git_commit": git_commit(), "command": " ".join(sys.argv), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


class RunDir:
    """One training run's folder. ``rank0`` is False on other DDP ranks, which write nothing."""

    def __init__(self, path: str | os.PathLike, rank0: bool = True):
        self.path = Path(path)
        self.rank0 = rank0
        self._tb = None
        self.tracker = None  # an optional experiment tracker (train/tracking.py) fed the same lines

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    def create(self, config: dict, seed: int, *, resume: bool = False) -> "RunDir":
        """Make the folder and write config/meta; refuse a folder that holds a different run."""
        if not self.rank0:
            return self
        existing = self.path / CONFIG
        if existing.exists() and not resume:
            old = self.read_config()
            if old != json.loads(json.dumps(config)):
                diff = _diff(old, json.loads(json.dumps(config)))
                raise RunDirError(f"{self.path} already holds a different run ({'; '.join(diff[:5])}"
                                  f"{'; ...' if len(diff) > 5 else ''}); choose another --out, "
                                  "or use --resume to continue that run")
            if (self.checkpoints / "latest").exists():
                raise RunDirError(f"{self.path} already holds this run with checkpoints; pass --resume "
                                  "to continue it or choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise RunDirError(f"cannot write the output folder {self.path} ({e.strerror}); "
                              "choose a writable --out") from None
        if not resume and existing.exists() and (self.path / METRICS_LOG).exists():
            # left by an attempt that died before its first checkpoint: this run starts the log afresh
            (self.path / METRICS_LOG).unlink()
        atomic_write_text(self.path / CONFIG, json.dumps(config, indent=2, sort_keys=True))
        if not (self.path / META).exists() or not resume:
            atomic_write_text(self.path / META, json.dumps(provenance(seed), indent=2))
        return self

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.rank0:
            return
        try:
            with open(self.path / METRICS_LOG, "a") as f:
                f.write(json.dumps({"step": step, **values}) + "\n")
        except OSError as e:
            raise RunDirError(f"cannot append to {self.path / METRICS_LOG} ({e.strerror}); free some space, then "
                              f"continue with `unidgm train --resume {self.path}`") from None
        tb = self.tensorboard()
        if tb is not None:
            for k, v in values.items():
                tb.add_scalar(k, v, step)
        if self.tracker is not None:
            self.tracker.log_metrics(step, values)

    def log_timing(self, step: int, wall_s: float, cpu_s: float) -> None:
        """``timing.jsonl``: seconds since this process began training, at each log line (steps/s along a
        run, early vs late). Kept out of metrics.jsonl, whose lines a resume must reproduce exactly."""
        if self.rank0:
            try:
                with open(self.path / TIMING_LOG, "a") as f:
                    f.write(json.dumps({"step": step, "wall_s": round(wall_s, 4), "cpu_s": round(cpu_s, 4)}) + "\n")
            except OSError:
                pass  # timing is informative only: never stop a run for it

    def tensorboard(self):
        if self._tb is None and self.rank0:
            try:
                from torch.utils.tensorboard import SummaryWriter
                self._tb = SummaryWriter(str(self.path / "tb"))
            except ImportError:  # TensorBoard is optional: metrics.jsonl holds the same numbers
                self._tb = False
        return self._tb or None

    def truncate_log(self, step: int) -> None:
        """On resume, drop log lines past the checkpoint so the log matches an uninterrupted run."""
        f = self.path / METRICS_LOG
        if self.rank0 and f.exists():
            keep = [ln for ln, row in _rows(f) if row["step"] <= step]
            atomic_write_text(f, "".join(ln + "\n" for ln in keep))

    def close(self, finished: bool = True) -> None:
        if self._tb:
            self._tb.close()
        if self.tracker is not None:
            self.tracker.close(self.samples, finished)
            self.tracker = None

    def read_config(self) -> dict:
        f = self.path / CONFIG
        if not f.is_file():
            raise RunDirError(f"{self.path} is not a run folder (no {CONFIG}); pass the folder a training run wrote")
        try:
            config = json.loads(f.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise RunDirError(f"{f} cannot be read ({e}); the run folder is damaged") from None
        if not isinstance(config, dict):
            raise RunDirError(f"{f} does not hold a run config; the run folder is damaged")
        return config

    def metrics(self) -> list[dict]:
        f = self.path / METRICS_LOG
        return [row for _, row in _rows(f)] if f.exists() else []


def _rows(path: Path) -> list[tuple[str, dict]]:
    """(line, parsed) of a JSON-lines log, skipping a line cut short by a crash mid-write."""
    out = []
    for ln in path.read_text().splitlines():
        try:
            row = json.loads(ln)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("step"), int):
            out.append((ln, row))
    return out


def _diff(old: dict, new: dict, prefix: str = "") -> list[str]:
    """'key: old -> new' for every differing leaf of two nested dicts."""
    out = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}: {a!r} -> {b!r}")
    return out
