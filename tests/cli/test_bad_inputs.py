"""Table-driven bad input (issue 17): every row a mistake, on the CLI and through the API.

Each row asserts the exit code (2) or the exception type, that the message names the problem, and that
nothing was written or lost: the folder a run would go to does not exist afterwards, or an existing run
folder is byte-for-byte as it was. The autouse fixture in tests/conftest.py runs each test in its own empty
folder. ``test_the_suite_counts_its_bad_inputs`` prints how many bad inputs the tables try.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import unidgm
from unidgm import api
from unidgm.cli import main
from unidgm.errors import CheckpointError, ConfigError, DataError, NonFiniteError, RunDirError, UnidgmError
from unidgm.train import checkpoint as ckpt
from unidgm.train import loop
from unidgm.train.rundir import RunDir

QUICK = ["steps=20", "ckpt_every=10", "log_every=10", "threads=1"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def snapshot(folder: Path) -> dict:
    """Every file of a folder (TensorBoard's and the lock file aside) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(Path(folder).rglob("*"))
            if p.is_file() and "tb" not in p.parts and p.name != ".lock"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 20-step VAE and CGAN on digits (checkpoints at 10 and 20), copied afresh for every test."""
    root = tmp_path_factory.mktemp("bad-inputs")
    return {name: api.train(name, "digits", overrides=QUICK, out=root / name, progress=False).path
            for name in ("vae", "cgan")}


@pytest.fixture
def runs(trained, tmp_path):
    return {k: Path(shutil.copytree(v, tmp_path / f"copy-{k}")) for k, v in trained.items()}


# --- CLI: sample and eval arguments (item 12) --------------------------------------------------------------

SAMPLE_EVAL = [  # (id, run, argv after the run folder, what the message names)
    ("sample-n-0", "vae", ["sample", "--n", "0"], "at least 1"),
    ("sample-n-negative", "vae", ["sample", "--n", "-1"], "at least 1"),
    ("sample-out-not-png", "vae", ["sample", "--out", "x.txt"], "PNG"),
    ("sample-labels-unconditional", "vae", ["sample", "--labels", "1,2"], "not conditional"),
    ("sample-labels-out-of-range", "cgan", ["sample", "--labels", "3,11"], "0..9"),
    ("sample-labels-not-numbers", "cgan", ["sample", "--labels", "a,b"], "neither a class index"),
    ("eval-n-samples-negative", "vae", ["eval", "--n-samples", "-1"], "n_samples=-1"),
    ("eval-max-test-negative", "vae", ["eval", "--max-test", "-3"], "max_test=-3"),
    ("eval-max-test-zero", "vae", ["eval", "--max-test", "0"], "max_test=0"),
    ("eval-k-zero", "vae", ["eval", "--k", "0"], "k=0"),
    ("eval-unknown-metric", "vae", ["eval", "--metrics", "elbow"], "elbo"),
]


@pytest.mark.parametrize("run,argv,says", [r[1:] for r in SAMPLE_EVAL], ids=[r[0] for r in SAMPLE_EVAL])
def test_sample_and_eval_arguments(capsys, runs, run, argv, says):
    folder = runs[run]
    before = snapshot(folder)
    code, _, err = cli(capsys, argv[0], folder, *argv[1:])
    assert code == 2 and says in err and "Traceback" not in err
    assert snapshot(folder) == before and not Path("x.txt").exists()


def test_sample_into_a_folder_writes_inside_it_and_says_so(capsys, runs):
    Path("grids").mkdir()
    code, out, _ = cli(capsys, "sample", runs["vae"], "--out", "grids")
    assert code == 0 and (Path("grids") / "sample.png").is_file() and "grids/sample.png" in out
    assert not Path("grids.png").exists()


def test_eval_on_a_read_only_run_prints_the_metric_before_failing_to_write(capsys, runs, monkeypatch):
    """Tests run as root (chmod cannot stop it): the write of metrics.json is refused as a read-only folder would."""
    real = ckpt.atomic_write_text

    def refuse(path, text):
        if Path(path).name == "metrics.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, text)

    monkeypatch.setattr(ckpt, "atomic_write_text", refuse)
    before = snapshot(runs["vae"])
    code, out, err = cli(capsys, "eval", runs["vae"], "--metrics", "elbo", "--max-test", "50")
    assert code == 2 and "elbo" in out and "could not write" in err and "metrics.json" in err
    assert "Permission denied" in err and snapshot(runs["vae"]) == before


def test_sigint_during_start_up_is_no_traceback(capsys, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr("unidgm.cli.build_parser", interrupted)
    code, _, err = cli(capsys, "models")
    assert code == 130 and "interrupted" in err and "Traceback" not in err


# --- CLI and API: training inputs (items 9, 10, 14) ---------------------------------------------------------

def _npz(name: str, x, y=None) -> str:
    arrays = {"x": np.asarray(x)} if y is None else {"x": np.asarray(x), "y": np.asarray(y)}
    np.savez(name, **arrays)
    return f"npz:{Path(name).resolve()}"


def _rng():
    return np.random.default_rng(0)


TRAIN = [  # (id, model, data maker, overrides, what the message names)
    ("bernoulli-data-out-of-range", "vae", lambda: _npz("r.npz", _rng().uniform(-5, 5, (64, 8)).astype("float32")),
     [], "outside [0, 1]"),
    ("bernoulli-data-out-of-range-binarize-none", "vae",
     lambda: _npz("r.npz", _rng().uniform(0, 3, (64, 1, 4, 4)).astype("float32")), ["binarize=none"], "outside [0, 1]"),
    ("labels-times-1000", "cgan", lambda: _npz("l.npz", _rng().uniform(0, 1, (64, 8)).astype("float32"),
                                               (np.arange(64) % 10) * 1000), [], "relabel"),
    ("several-bad-overrides", "gan", lambda: "ring8",  # two unparsable and one invalid value in one section
     ["steps=abc", "log_every=x", "batch_size=0", "model.lr=abc", "stepz=3"],
     ["steps='abc'", "log_every='x'", "batch_size=0", "lr='abc'", "stepz"]),
    ("overflowing-gradient-gan", "gan", lambda: "ring8", ["model.lr=1e9", "steps=300"], "non-finite"),
    ("overflowing-gradient-vae", "vae", lambda: "digits", ["model.lr=1e3", "steps=300"], "non-finite"),
    ("infinite-lr-step-1", "gan", lambda: "ring8", ["model.lr=inf", "steps=50"], "at step 1,"),
    ("unknown-technique", "gan", lambda: "ring8", ["--technique", "zz"], "unknown technique 'zz'"),
]


def _says(err: str, says) -> bool:
    return all(s in err for s in ([says] if isinstance(says, str) else says))


@pytest.mark.parametrize("model,make,extra,says", [r[1:] for r in TRAIN], ids=[r[0] for r in TRAIN])
def test_training_inputs(capsys, model, make, extra, says):
    data = make()
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    options = [e for e in extra if e not in overrides]
    code, _, err = cli(capsys, "train", model, "--data", data, "threads=1", *overrides, *options, "--out", "out",
                       "--no-progress")
    assert code == 2 and _says(err, says) and "Traceback" not in err
    techniques = options[1:] if options else ()
    with pytest.raises(UnidgmError) as info:
        api.train(model, data, overrides=["threads=1", *overrides], techniques=techniques, out="api-out",
                  progress=False)
    assert _says(str(info.value), says)
    # nothing half-written: a run that fails while training keeps its config (and can be started again)
    for out in ("out", "api-out"):
        assert not Path(out).exists() or not (Path(out) / "checkpoints").exists()
    assert not Path("runs").exists()


def test_too_few_examples_for_the_batch_name_batch_size(capsys):
    """A one-example npz: the run shrinks its batches with a warning naming batch_size= (no drop_last advice);
    streams built directly refuse a batch larger than the data, naming the same key."""
    from unidgm.train.streams import Streams
    data = _npz("one.npz", np.full((1, 8), 0.5, "float32"))
    code, _, err = cli(capsys, "train", "vae", "--data", data, "steps=2", "threads=1", "--out", "out", "--no-progress")
    assert code == 0 and "batch_size=" in err and "drop_last" not in err
    with pytest.raises(ConfigError, match="pass batch_size=1 or fewer") as info:
        Streams({"main": ((torch.zeros(1, 8),), ("x",))}, 64, 0)
    assert "drop_last" not in str(info.value)


@pytest.mark.parametrize("nonfinite", ["stop", "skip"])
def test_an_overflowing_gradient_norm_is_no_stopiteration(nonfinite):
    """lr=1e9: every gradient entry finite, their norms' sum inf. stop reports it (1-based step); skip skips."""
    overrides = ["model.lr=1e9", "steps=30", "threads=1", "log_every=30", f"nonfinite={nonfinite}"]
    if nonfinite == "stop":
        with pytest.raises(NonFiniteError, match="overflows") as info:
            api.train("gan", "ring8", overrides=overrides, out="r", progress=False)
        assert "phase 'phi'" in str(info.value) and "at step 0" not in str(info.value)
    else:
        run = api.train("gan", "ring8", overrides=overrides, out="r", progress=False)
        assert run.metrics["skipped_steps"] > 0


# --- data that cannot be read (item 11) ---------------------------------------------------------------------

@pytest.mark.parametrize("data", ["mnist", "idx:unreadable"])
def test_unreadable_data_is_a_data_error(capsys, monkeypatch, data):
    def denied(real):
        def check(self):
            if "unreadable" in str(self) or "mnist" in self.parts:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self)
        return check

    Path("unreadable").mkdir()
    monkeypatch.setattr(Path, "is_file", denied(Path.is_file))
    monkeypatch.setattr(Path, "is_dir", denied(Path.is_dir))
    code, _, err = cli(capsys, "train", "vae", "--data", data, "--data-root", "root", "--out", "out")
    assert code == 2 and "cannot read" in err and "Permission denied" in err
    with pytest.raises(DataError, match="permissions"):
        api.train("vae", data, data_root="root", out="out")
    assert not Path("out").exists()


# --- the run folder: disk full, permissions, locks, dead ends (items 4, 7, 11) -------------------------------

def _full_disk(monkeypatch, name: str):
    real = ckpt.atomic_write_text

    def full(path, text):
        if Path(path).name == name:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text)

    import unidgm.train.rundir as rundir
    monkeypatch.setattr(rundir, "atomic_write_text", full)


@pytest.mark.parametrize("name", ["config.json", "meta.json"])
def test_full_disk_while_writing_the_run_files(capsys, monkeypatch, name):
    _full_disk(monkeypatch, name)
    code, _, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", "out", "--no-progress")
    assert code == 2 and f"out/{name}" in err and "No space left" in err
    assert not Path("out/checkpoints").exists()


def test_full_disk_while_appending_metrics_or_tensorboard(capsys, monkeypatch):
    real_open = open

    def full_open(path, mode="r", *a, **kw):
        if str(path).endswith("metrics.jsonl") and "a" in mode:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, mode, *a, **kw)

    with pytest.MonkeyPatch.context() as only_here:  # not `monkeypatch.undo()`: that also undoes the test's chdir
        only_here.setattr("builtins.open", full_open)
        code, _, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", "m", "--no-progress")
    assert code == 2 and "metrics.jsonl" in err and "No space left" in err

    from torch.utils.tensorboard import SummaryWriter

    def full_tb(self, *a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device", "events")

    monkeypatch.setattr(SummaryWriter, "add_scalar", full_tb)
    code, _, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", "t", "--no-progress")
    assert code == 2 and "t/tb" in err and "No space left" in err


def test_full_disk_at_start_leaves_no_write_test_file(capsys, monkeypatch):
    real = Path.write_text

    def full(self, *a, **kw):
        if self.name == ".write-test":
            real(self, "")  # the file is created, then the write fails
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", full)
    code, _, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", "out", "--no-progress")
    assert code == 2 and "cannot write the output folder" in err
    assert not Path("out/.write-test").exists() and not Path("out/config.json").exists()


def test_a_busy_run_folder_is_refused_naming_the_holder(capsys):
    holder = RunDir("busy").lock()  # as another process would hold it (flock: per open file)
    try:
        code, _, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", "busy", "--no-progress")
        assert code == 2 and f"pid {os.getpid()}" in err and "in use" in err
        with pytest.raises(RunDirError, match="in use"):
            api.train("gan", "ring8", overrides=QUICK, out="busy", progress=False)
        assert {p.name for p in Path("busy").iterdir()} == {".lock"}  # nothing written into the busy folder
    finally:
        holder.close()
    assert main(["train", "gan", "--data", "ring8", *QUICK, "--out", "busy", "--no-progress"]) == 0  # released


def test_a_crashed_holder_never_blocks(tmp_path):
    """A process killed while holding the folder: the kernel drops its flock, the next run goes ahead."""
    code = ("import os, sys; sys.path.insert(0, sys.argv[2]); from unidgm.train.rundir import RunDir; "
            "RunDir(sys.argv[1]).lock(); os._exit(9)")
    src = str(Path(unidgm.__file__).resolve().parents[1])
    subprocess.run([sys.executable, "-c", code, "held", src], check=False, timeout=60)
    assert Path("held/.lock").read_text().strip().isdigit()
    RunDir("held").lock().close()


def test_default_run_names_are_unique():
    settings = api.resolve("gan", "ring8")
    names = {api.default_out(settings) for _ in range(50)}
    assert len(names) > 1  # microseconds in the name
    first = api.default_out(settings)
    first.mkdir(parents=True)
    assert all(api.default_out(settings) != first for _ in range(20))  # an existing folder is never reused


def test_a_folder_left_without_a_checkpoint_can_be_started_again(capsys):
    code, _, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "model.lr=inf", "--out", "dead",
                       "--no-progress")
    assert code == 2 and Path("dead/config.json").exists() and not ckpt.checkpoints(Path("dead/checkpoints"))
    code, _, err = cli(capsys, "train", "--resume", "dead")
    assert code == 2 and "start it again without --resume" in err and "--out dead" in err
    assert main(["train", "gan", "--data", "ring8", *QUICK, "--out", "dead", "--no-progress"]) == 0  # no dead end
    assert json.loads(Path("dead/config.json").read_text())["model_config"]["lr"] == 0.0002


# --- resume (items 5, 6, 8, 14) --------------------------------------------------------------------------------

def test_a_forced_lr_change_on_resume_takes_effect():
    run = api.train("gan", "ring8", overrides=QUICK, out="r", progress=False).path
    api.resume(run, overrides={"steps": 30, "model.lr": 0.01}, force=True, progress=False)
    state = json.loads((run / "checkpoints" / "ckpt-00000030" / ckpt.STATE).read_text())
    assert {g["lr"] for o in state["optimizers"].values() for g in o["param_groups"]} == {0.01}


def _edit(folder: Path, change, redigest: bool = False):
    state = json.loads((folder / ckpt.STATE).read_text())
    change(state)
    if redigest:  # a consistent but wrong state: only the check of what it says can catch it
        state["state_sha256"] = ckpt.state_digest(state)
    (folder / ckpt.STATE).write_text(json.dumps(state))


EDITS = [  # (id, change to the newest checkpoint's state.json, re-record its digest, what the warning names)
    ("step-edited", lambda s: s.update(step=5), False, "was edited"),
    ("step-edited-redigested", lambda s: s.update(step=5), True, "was edited"),
    ("stream-position-edited", lambda s: s["streams"]["main"].update(position=10**6), False, "was edited"),
    ("stream-position-redigested", lambda s: s["streams"]["main"].update(position=10**6), True, "out of range"),
]


@pytest.mark.parametrize("change,redigest,says", [r[1:] for r in EDITS], ids=[r[0] for r in EDITS])
def test_an_edited_state_falls_back_to_the_older_checkpoint(change, redigest, says):
    run = api.train("gan", "ring8", overrides=QUICK, out="r", progress=False).path
    newest = run / "checkpoints" / "ckpt-00000020"
    _edit(newest, change, redigest)
    with pytest.raises(CheckpointError, match=says) as info:
        _resume_strict(run)
    assert str(newest / ckpt.STATE) in str(info.value) or str(newest) in str(info.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api.resume(run, overrides={"steps": 20}, progress=False)
    assert any(str(newest) in str(w.message) for w in caught)
    rows = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [10, 20]  # retrained from step 10, no duplicate or lost line


def _resume_strict(run):
    """Restore only the newest checkpoint (no fallback), to see its own error."""
    settings = api.read_settings(run)
    model, streams, _ = api.prepare(settings)
    trainer = loop.Trainer(model, streams, settings.train)
    trainer.restore(run / "checkpoints" / "ckpt-00000020")


def test_the_resume_hint_after_sigint_names_the_data_root(capsys, monkeypatch):
    real = loop.Trainer.train_step

    def train_step(self, batch):
        if self.step == 5:
            self._on_signal(signal.SIGINT, None)
        return real(self, batch)

    monkeypatch.setattr(loop.Trainer, "train_step", train_step)
    code, _, err = cli(capsys, "train", "vae", "--data", "digits", *QUICK, "--data-root", "my data", "--out", "r",
                       "--no-progress")
    assert code == 130 and "continue with `unidgm train --resume r --data-root 'my data'`" in err


# --- Python API (item 13) ---------------------------------------------------------------------------------------

API = [  # (id, call on (vae model, cgan model), exception type, what the message names)
    ("sample-negative", lambda m, c: m.sample(-1), ConfigError, "n=-1"),
    ("sample-zero", lambda m, c: m.sample(0), ConfigError, "n=0"),
    ("sample-float", lambda m, c: m.sample(2.5), ConfigError, "n=2.5"),
    ("sample-bool", lambda m, c: m.sample(True), ConfigError, "n=True"),
    ("sample-labels-unconditional", lambda m, c: m.sample(2, torch.tensor([1, 2])), ConfigError, "not conditional"),
    ("sample-labels-float", lambda m, c: c.sample(2, torch.tensor([1.0, 2.0])), DataError, "integer tensor"),
    ("sample-labels-out-of-range", lambda m, c: c.sample(2, torch.tensor([1, 12])), DataError, "0..9"),
    ("sample-labels-wrong-count", lambda m, c: c.sample(3, torch.tensor([1, 2])), DataError, "2 labels for 3"),
    ("elbo-wrong-shape", lambda m, c: m.elbo(torch.rand(4, 1, 28, 28)), DataError, "shape (4, 1, 28, 28)"),
    ("elbo-integer-dtype", lambda m, c: m.elbo(torch.ones(4, 1, 8, 8, dtype=torch.long)), DataError, "dtype"),
    ("elbo-float64", lambda m, c: m.elbo(torch.rand(4, 1, 8, 8, dtype=torch.float64)), DataError, "x.to(torch.float32)"),
    ("elbo-numpy", lambda m, c: m.elbo(np.zeros((4, 1, 8, 8), "float32")), DataError, "ndarray"),
    ("elbo-list", lambda m, c: m.elbo([[0.0] * 64]), DataError, "list"),
    ("elbo-above-one", lambda m, c: m.elbo(torch.full((4, 1, 8, 8), 3.0)), DataError, "[0, 1]"),
    ("elbo-nan", lambda m, c: m.elbo(torch.full((4, 1, 8, 8), float("nan"))), DataError, "NaN"),
    ("elbo-empty", lambda m, c: m.elbo(torch.rand(0, 1, 8, 8)), DataError, "B >= 1"),
    ("encode-wrong-shape", lambda m, c: m.encode(torch.rand(4, 64)), DataError, "shape (4, 64)"),
    ("encode-numpy", lambda m, c: m.encode(np.zeros((4, 1, 8, 8), "float32")), DataError, "ndarray"),
    ("log-likelihood-wrong-shape", lambda m, c: m.log_likelihood(torch.rand(2, 8, 8), k=2), DataError, "shape (2, 8, 8)"),
    ("log-likelihood-above-one", lambda m, c: m.log_likelihood(torch.full((2, 1, 8, 8), 2.0), k=2), DataError, "[0, 1]"),
]


@pytest.mark.parametrize("call,kind,says", [r[1:] for r in API], ids=[r[0] for r in API])
def test_model_methods(runs, call, kind, says):
    vae, cgan = api.load(runs["vae"]), api.load(runs["cgan"])
    with pytest.raises(kind) as info:
        call(vae, cgan)
    assert says in str(info.value)


LOAD = [  # (id, call with the vae run folder, exception type, what the message names, what it must not say)
    ("load-none", lambda r: api.load(None), RunDirError, "no run folder given", None),
    ("load-missing-checkpoint", lambda r: api.load(r, checkpoint="ckpt-00000123"), CheckpointError,
     "no checkpoint 'ckpt-00000123'", "pickle"),
    ("load-not-a-run", lambda r: api.load(r / "checkpoints"), RunDirError, "not a run folder", None),
    ("train-bad-overrides", lambda r: api.resolve("gan", "ring8", {"steps": "x", "seed": -1, "model.lr": "x",
                                                                   "stepz": 1}),
     ConfigError, "stepz", None),
    ("resume-changed-config", lambda r: api.resume(r, overrides={"model.z_dim": 3}), ConfigError, "--force", None),
    ("resume-forced-other-shape", lambda r: api.resume(r, overrides={"model.z_dim": 3, "steps": 30}, force=True,
                                                       progress=False), CheckpointError, "wrong shapes", None),
]


@pytest.mark.parametrize("call,kind,says,never", [r[1:] for r in LOAD], ids=[r[0] for r in LOAD])
def test_api_calls(runs, call, kind, says, never):
    before = snapshot(runs["vae"])
    with pytest.raises(kind) as info:
        call(runs["vae"])
    assert says in str(info.value) and (never is None or never not in str(info.value))
    assert snapshot(runs["vae"]) == before
    if says == "stepz":  # every bad override at once
        assert all(s in str(info.value) for s in ("steps='x'", "seed=-1", "lr='x'", "stepz"))


def test_techniques_as_a_string_name_techniques():
    assert list(api.resolve("vae", "digits", techniques="aa").techniques) == ["aa"]
    assert list(api.resolve("gan", "ring8", techniques="iw").techniques) == ["iw"]
    with pytest.raises(ConfigError, match="unknown technique 'zz'"):
        api.resolve("gan", "ring8", techniques="zz")


def test_unidgm_api_after_import_unidgm():
    code = "import unidgm; print(unidgm.api.resume.__name__)"
    env = {**os.environ, "PYTHONPATH": str(Path(unidgm.__file__).resolve().parents[1])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "resume", out.stderr[-2000:]


# bad inputs tried outside the tables: unreadable data (2 forms × CLI, API), full disks (config, meta, metrics,
# TensorBoard, write probe), a busy folder (CLI, API), a folder without checkpoint (resume), the overflowing
# norm (stop, skip), SIGINT (start-up, mid-run hint), eval on a read-only run, techniques="zz"
OUTSIDE_TABLES = 4 + 5 + 2 + 1 + 2 + 2 + 1 + 1 + 2  # + the one-example data (run, streams)


def test_the_suite_counts_its_bad_inputs(capsys):
    tables = {"sample/eval": SAMPLE_EVAL, "train": TRAIN, "state edits": EDITS, "model methods": API, "api": LOAD}
    for name, rows in tables.items():  # a repeated id would hide a row from the report
        assert len({r[0] for r in rows}) == len(rows), name
    total = len(SAMPLE_EVAL) + 2 * len(TRAIN) + len(EDITS) + len(API) + len(LOAD) + OUTSIDE_TABLES
    parts = ", ".join(f"{k} {len(v) * (2 if k == 'train' else 1)}" for k, v in tables.items())
    with capsys.disabled():
        print(f"\nbad-input suite: {total} bad inputs ({parts}, {OUTSIDE_TABLES} more)")


@pytest.mark.parametrize("pair,option", [("data=digits", "--data digits"), ("out=here", "--out here"),
                                         ("data_root=/d", "--data-root /d")])
def test_an_option_written_as_an_override_is_named(capsys, pair, option):
    code, _, err = cli(capsys, "train", "vae", pair, "steps=1", "--no-progress")
    assert code == 2 and f"write {option}" in err and "Valid:" not in err
    assert not Path("runs").exists() and not Path("here").exists()
