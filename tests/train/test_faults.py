"""Fault injection: SIGKILL, SIGINT and SIGTERM on a real `unidgm train` process, a full disk while a
checkpoint is written, and NaN losses/gradients.

Every fault must leave a run that resumes to the same parameters as an uninterrupted one (bit-exact
on CPU), keep the last complete checkpoint loadable, and leave no half-written checkpoint behind.
"""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from unidgm import api
from unidgm.cli import main
from unidgm.errors import CheckpointError, NonFiniteError
from unidgm.train import checkpoint as ckpt
from unidgm.train import loop

# long enough that a kill lands mid-run, short enough that the rest of the run is quick on resume
RUN = ["steps=300", "ckpt_every=20", "log_every=10"]


def _env() -> dict:
    """The child uses the test's thread count: float sums must be split the same way for bit-equality."""
    n = str(torch.get_num_threads())
    return {**os.environ, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "PYTHONUNBUFFERED": "1"}


def _start(out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "unidgm", "train", "gan", "--data", "ring8", *RUN, "--out", str(out), "--no-progress"]
    return subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _checkpointed(out: Path) -> int:
    """The step of the checkpoint ``latest`` names (-1: none yet)."""
    try:
        return ckpt.checkpoint_step(Path((out / "checkpoints" / ckpt.LATEST).read_text().strip()))
    except OSError:
        return -1


def _wait_for_checkpoint(proc: subprocess.Popen, out: Path, min_step: int, timeout: float = 90.0) -> None:
    """Until a checkpoint of step >= ``min_step`` exists (late ones keep the resume after the fault short)."""
    deadline = time.monotonic() + timeout
    while _checkpointed(out) < min_step:
        if proc.poll() is not None:
            raise AssertionError(f"training exited early ({proc.returncode}): {proc.communicate()[1][-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("no checkpoint appeared in time")
        time.sleep(0.01)


def _params(run) -> dict:
    return api.load(run).state_dict()


def _assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """The uninterrupted run, trained in this process (same code, seed and threads as the children)."""
    out = tmp_path_factory.mktemp("reference") / "run"
    api.train("gan", "ring8", overrides=RUN, out=out, progress=False)
    return {"params": _params(out), "log": (out / "metrics.jsonl").read_text()}


def test_sigkill_mid_run_then_resume_is_bit_exact(tmp_path, reference):
    out = tmp_path / "killed"
    proc = _start(out)
    _wait_for_checkpoint(proc, out, 160)
    time.sleep(random.uniform(0.0, 0.25))  # a random step after a checkpoint (140 steps are left: >= 0.5 s)
    assert proc.poll() is None, "the run finished before it could be killed; raise RUN steps"
    proc.send_signal(signal.SIGKILL)  # no handler, no cleanup: as a power cut or the OOM killer
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    latest = ckpt.latest_checkpoint(out / "checkpoints")
    assert latest is not None and api.load(out) is not None  # the last complete checkpoint loads

    assert main(["train", "--resume", str(out), "--no-progress"]) == 0  # the CLI, in this process (faster)
    _assert_same(_params(out), reference["params"])
    assert (out / "metrics.jsonl").read_text() == reference["log"]
    assert not list((out / "checkpoints").glob(".tmp-*"))  # no half-written checkpoint survives


def test_sigint_and_sigterm_save_a_checkpoint_exit_130_143_and_resume(tmp_path, reference):
    cases = {signal.SIGINT: 130, signal.SIGTERM: 143}
    procs = {sig: _start(tmp_path / signal.Signals(sig).name) for sig in cases}  # side by side: half the wait
    for sig, proc in procs.items():
        _wait_for_checkpoint(proc, tmp_path / signal.Signals(sig).name, 200)
        proc.send_signal(sig)
    for sig, proc in procs.items():
        name, out = signal.Signals(sig).name, tmp_path / signal.Signals(sig).name
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == cases[sig], err[-2000:]
        assert f"stopped by {name} at step" in err and f"continue with `unidgm train --resume {out}`" in err
        step = int(err.split(" at step ")[1].split(";")[0])
        assert 200 <= step < 300
        assert ckpt.latest_checkpoint(out / "checkpoints").name == f"ckpt-{step:08d}"  # saved where it stopped

        api.resume(out, progress=False)
        _assert_same(_params(out), reference["params"])
        assert (out / "metrics.jsonl").read_text() == reference["log"]


def test_second_signal_stops_at_once_keeping_the_last_checkpoint(tmp_path, monkeypatch):
    real = loop.Trainer.train_step

    def train_step(self, batch):
        if self.step == 25:  # a long step during which the user presses Ctrl-C twice
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, batch)

    monkeypatch.setattr(loop.Trainer, "train_step", train_step)
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt, match="second SIGINT"):
        api.train("gan", "ring8", overrides=RUN, out=tmp_path / "r", progress=False)
    assert ckpt.latest_checkpoint(tmp_path / "r" / "checkpoints").name == "ckpt-00000020"
    assert signal.getsignal(signal.SIGINT) is before  # the trainer's handlers are gone again


# --- a full disk while a checkpoint is written ---------------------------------------------------------------

def _fail_second(monkeypatch, target, name):
    real = getattr(target, name)
    calls = []

    def fake(*a, **kw):
        calls.append(a)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*a, **kw)

    monkeypatch.setattr(target, name, fake)
    return lambda: monkeypatch.setattr(target, name, real)


@pytest.mark.parametrize("where", ["save_file", "rename"])
def test_disk_full_while_saving_stops_cleanly_and_resumes(tmp_path, monkeypatch, where):
    ov = ["steps=60", "ckpt_every=20", "log_every=10"]
    ref = api.train("gan", "ring8", overrides=ov, out=tmp_path / "ref", progress=False)
    if where == "save_file":  # the tensors file cannot be written
        undo = _fail_second(monkeypatch, ckpt, "save_file")
    else:  # the write went through but the rename into place fails
        real_replace = os.replace
        seen = []

        def replace(src, dst, *a, **kw):
            if Path(dst).name.startswith("ckpt-"):
                seen.append(dst)
                if len(seen) == 2:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real_replace(src, dst, *a, **kw)

        monkeypatch.setattr(ckpt.os, "replace", replace)
        undo = lambda: monkeypatch.setattr(ckpt.os, "replace", real_replace)  # noqa: E731

    out = tmp_path / "full"
    with pytest.raises(CheckpointError) as info:
        api.train("gan", "ring8", overrides=ov, out=out, progress=False)
    undo()
    msg = str(info.value)
    assert "No space left on device" in msg and "step 40" in msg and "ckpt-00000020 is intact" in msg
    left = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert left == ["ckpt-00000020", "latest"]  # no temporary or partial folder
    assert api.load(out) is not None
    api.resume(out, progress=False)
    _assert_same(_params(out), _params(ref.path))


def test_disk_full_on_the_cli_exits_2(tmp_path, monkeypatch, capsys):
    _fail_second(monkeypatch, ckpt, "save_file")
    code = main(["train", "gan", "--data", "ring8", "steps=60", "ckpt_every=20", "--out", "r", "--no-progress"])
    assert code == 2
    assert "No space left on device" in capsys.readouterr().err


# --- NaN and inf ---------------------------------------------------------------------------------------------

def _poison(monkeypatch, step: int, kind: str, every: bool = False):
    """Make gan's theta loss at ``step`` (and every later one if ``every``) NaN, or its gradient NaN.

    gan runs two phases a step, phi then theta: the theta loss of step s is call 2s + 2.
    """
    real = loop.loss_from
    calls = []

    def loss_from(obj):
        loss = real(obj)
        calls.append(1)
        n = len(calls)
        if n == 2 * step + 2 or (every and n > 2 * step and n % 2 == 0):
            if kind == "loss":
                return loss * float("nan")
            # finite value, NaN gradient: d sqrt(u)/du at u=0 is inf, times du/dθ = 0
            return loss + torch.sqrt(loss - loss)
        return loss

    monkeypatch.setattr(loop, "loss_from", loss_from)


@pytest.mark.parametrize("kind,what", [("loss", "non-finite loss"), ("grad", "gradient of part 'generator'")])
def test_nonfinite_stop_names_step_phase_part(tmp_path, monkeypatch, kind, what):
    _poison(monkeypatch, 25, kind)  # 0-based step 25 = step 26 (steps count from 1, as in checkpoints), phase theta
    with pytest.raises(NonFiniteError) as info:
        api.train("gan", "ring8", overrides=["steps=60", "ckpt_every=20"], out=tmp_path / "r", progress=False)
    msg = str(info.value)
    assert what in msg and "at step 26" in msg and "phase 'theta'" in msg and "ckpt-00000020" in msg
    assert "nonfinite=skip" in msg
    assert ckpt.latest_checkpoint(tmp_path / "r" / "checkpoints").name == "ckpt-00000020"
    assert all(torch.isfinite(v).all() for v in _params(tmp_path / "r").values())


def test_nonfinite_on_the_cli_exits_2(tmp_path, monkeypatch, capsys):
    _poison(monkeypatch, 1, "loss")
    code = main(["train", "gan", "--data", "ring8", "steps=20", "--out", "r", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "non-finite loss" in err and "no checkpoint written yet" in err


def test_nonfinite_skip_counts_skipped_steps(tmp_path, monkeypatch):
    _poison(monkeypatch, 30, "grad", every=True)  # theta's gradient is NaN on every step from 30 on
    run = api.train("gan", "ring8", overrides=["steps=50", "log_every=10", "nonfinite=skip"], out=tmp_path / "r",
                    progress=False)
    rows = [json.loads(ln) for ln in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_steps"] for r in rows] == [0, 0, 0, 10, 20]
    assert "theta/loss" not in rows[-1] and "phi/loss" in rows[-1]  # phi kept training
    assert all(torch.isfinite(v).all() for v in _params(run.path).values())
