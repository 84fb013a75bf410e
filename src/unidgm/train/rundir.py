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
    .lock            held (flock) by the process training into the folder; holds its pid
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
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
from .checkpoint import atomic_write_text, checkpoints as complete_checkpoints

CONFIG, META, METRICS_LOG, TIMING_LOG, LOCK = "config.json", "meta.json", "metrics.jsonl", "timing.jsonl", ".lock"
BEST, BEST_JSON = "best", "best.json"  # RUN/best/ckpt-<step>/ and its summary (metric, value, step)


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
        self._lock = None  # the open .lock file while this process holds the folder
        self._made = False  # the folder was created by lock(): removed again if nothing else was written

    def lock(self) -> "RunDir":
        """Hold the folder for this process: an exclusive ``flock`` on ``.lock``, kept for the run's life.

        The kernel drops the lock when the process ends, however it ends, so a crashed holder never blocks
        a later run. A second writer gets a :class:`RunDirError` naming the holder's pid.
        """
        if not self.rank0 or self._lock is not None:
            return self
        try:
            self._made = not self.path.exists()
            self.path.mkdir(parents=True, exist_ok=True)
            f = open(self.path / LOCK, "a+")
        except OSError as e:
            raise RunDirError(f"cannot write the output folder {self.path} ({e.strerror}); "
                              "choose a writable --out") from None
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise RunDirError(f"cannot lock the run folder {self.path} ({e.strerror}); choose another --out") from None
            raise RunDirError(f"{self.path} is in use by another unidgm process (pid {holder}) training into it; "
                              "wait for it to finish or stop it, or choose another --out") from None
        try:
            f.seek(0)
            f.truncate()
            f.write(f"{os.getpid()}\n")
            f.flush()
        except OSError as e:
            f.close()
            self._remove_if_empty()
            raise RunDirError(f"cannot write the output folder {self.path} ({e.strerror}); "
                              "free some space or choose a writable --out") from None
        self._lock = f
        return self

    def _remove_if_empty(self) -> None:
        """Undo lock()'s mkdir when the run wrote nothing (it failed before its config)."""
        if self._made and {p.name for p in self.path.iterdir()} <= {LOCK}:
            with contextlib.suppress(OSError):
                (self.path / LOCK).unlink()
                self.path.rmdir()

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def samples(self) -> Path:
        return self.path / "samples"

    @property
    def best(self) -> Path:
        """The best validated checkpoint's folder (``best/ckpt-<step>/``)."""
        return self.path / BEST

    @property
    def best_json(self) -> Path:
        """The best validation's summary: metric, value, step."""
        return self.path / BEST_JSON

    def create(self, config: dict, seed: int, *, resume: bool = False) -> "RunDir":
        """Make the folder and write config/meta; refuse a folder that holds a different run."""
        if not self.rank0:
            return self
        existing = self.path / CONFIG
        # a folder whose run died before its first checkpoint (e.g. an error building the model or in its first
        # steps) holds nothing to lose or resume: it is started afresh, whatever its config said
        if existing.exists() and not resume and complete_checkpoints(self.checkpoints):
            old = self.read_config()
            if old != json.loads(json.dumps(config)):
                diff = _diff(old, json.loads(json.dumps(config)))
                raise RunDirError(f"{self.path} already holds a different run ({'; '.join(diff[:5])}"
                                  f"{'; ...' if len(diff) > 5 else ''}); choose another --out, "
                                  "or use --resume to continue that run")
            if (self.checkpoints / "latest").exists():
                raise RunDirError(f"{self.path} already holds this run with checkpoints; pass --resume "
                                  "to continue it or choose another --out")
        probe = self.path / ".write-test"
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe.write_text("ok")
        except OSError as e:
            raise RunDirError(f"cannot write the output folder {self.path} ({e.strerror}); "
                              "choose a writable --out") from None
        finally:  # a full disk fails the write after creating the file: never leave it behind
            with contextlib.suppress(OSError):
                probe.unlink()
        with self._writing(CONFIG):
            if not resume and existing.exists() and (self.path / METRICS_LOG).exists():
                # left by an attempt that died before its first checkpoint: this run starts the log afresh
                (self.path / METRICS_LOG).unlink()
            atomic_write_text(self.path / CONFIG, json.dumps(config, indent=2, sort_keys=True))
        if not (self.path / META).exists() or not resume:
            with self._writing(META):
                atomic_write_text(self.path / META, json.dumps(provenance(seed), indent=2))
        return self

    @contextlib.contextmanager
    def _writing(self, name: str):
        """An OSError (full disk, permissions) while writing ``name`` as a RunDirError naming it and the fix."""
        try:
            yield
        except OSError as e:
            raise RunDirError(f"cannot write {self.path / name} ({e.strerror or e}); free some space or fix the "
                              f"folder's permissions, then run the same command again (or `unidgm train --resume "
                              f"{self.path}` once it has a checkpoint)") from None

    def log(self, step: int, values: dict[str, float]) -> None:
        if not self.rank0:
            return
        try:
            with open(self.path / METRICS_LOG, "a") as f:
                f.write(json.dumps({"step": step, **values}) + "\n")
        except OSError as e:
            raise RunDirError(f"cannot append to {self.path / METRICS_LOG} ({e.strerror}); free some space, then "
                              f"continue with `unidgm train --resume {self.path}`") from None
        with self._writing("tb"):
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
            with self._writing(METRICS_LOG):
                atomic_write_text(f, "".join(ln + "\n" for ln in keep))

    def close(self, finished: bool = True) -> None:
        """Close the TensorBoard writer and the tracker, and release the folder's lock."""
        try:
            if self._tb:
                with self._writing("tb"):
                    self._tb.close()
            if self.tracker is not None:
                self.tracker.close(self.samples, finished)
                self.tracker = None
        finally:
            self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the file drops the flock
            self._lock = None
            self._remove_if_empty()

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

    def wall_clock(self) -> list[tuple[int, float]]:
        """(step, training wall seconds until it) from ``timing.jsonl``: each process logs seconds since it began
        training, so the processes of a resumed run are added up."""
        f = self.path / TIMING_LOG
        out, offset, prev = [], 0.0, 0.0
        for _, row in _rows(f) if f.exists() else []:
            if row["wall_s"] < prev:  # a new process (resume): its clock starts again
                offset += prev
            prev = row["wall_s"]
            out.append((row["step"], offset + row["wall_s"]))
        return out

    def wall_at(self, step: int) -> float | None:
        """Training wall seconds until ``step`` (``wall_at``)."""
        return wall_at(self.wall_clock(), step)


def wall_at(wall: list[tuple[int, float]], step: int) -> float | None:
    """Training seconds until ``step`` on a ``RunDir.wall_clock`` log, linear between the logged steps (from step 0
    at 0 s); None past the log's last step."""
    prev_step, prev_wall = 0, 0.0
    for st, w in wall:
        if st >= step:
            return prev_wall + (w - prev_wall) * (step - prev_step) / max(st - prev_step, 1)
        prev_step, prev_wall = st, w
    return None


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
