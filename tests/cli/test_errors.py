"""Bad input: a clear message and exit code 2 on the CLI, a typed exception in the API, nothing half-written.

Each case runs the CLI in this process (`unidgm.cli.main`) and the same mistake through the API.
The autouse fixture in tests/conftest.py runs every test in its own empty folder, so "nothing
written" means: the folder the run would have gone to does not exist afterwards.
"""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from unidgm import api
from unidgm.cli import main
from unidgm.errors import CheckpointError, ConfigError, DataError, RunDirError, UnidgmError

QUICK = ["steps=20", "ckpt_every=10", "log_every=10"]


def cli(capsys, *argv) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def nothing_written(*folders) -> bool:
    return not any(Path(f).exists() for f in ("runs", *folders))


# --- names ---------------------------------------------------------------------------------------------------

def test_unknown_model_suggests_the_nearest(capsys):
    code, err = cli(capsys, "train", "gann", "--data", "ring8", "--out", "out")
    assert code == 2 and "unknown model 'gann'" in err and "Did you mean: gan" in err
    with pytest.raises(ConfigError, match="Did you mean: gan"):
        api.train("gann", "ring8", out="out")
    assert nothing_written("out")


def test_unknown_dataset_suggests_the_nearest(capsys):
    code, err = cli(capsys, "train", "gan", "--data", "rign8", "--out", "out")
    assert code == 2 and "rign8" in err and "ring8" in err
    with pytest.raises(DataError, match="ring8"):
        api.train("gan", "rign8", out="out")
    assert nothing_written("out")


def test_no_model_and_no_resume(capsys):
    code, err = cli(capsys, "train", "--data", "ring8")
    assert code == 2 and "name a model" in err


# --- data files ----------------------------------------------------------------------------------------------

def test_mnist_with_an_empty_data_root(capsys, tmp_path):
    (tmp_path / "empty").mkdir()
    code, err = cli(capsys, "train", "vae", "--data", "mnist", "--data-root", tmp_path / "empty", "--out", "out")
    assert code == 2 and "mnist" in err and str(tmp_path / "empty") in err
    with pytest.raises(DataError):
        api.train("vae", "mnist", data_root=tmp_path / "empty", out="out")
    assert nothing_written("out")


def _idx_pair(folder: Path, images: bytes | None = None) -> Path:
    """train-images/labels IDX files of 40 random 8x8 images; ``images`` replaces the images file's bytes."""
    folder.mkdir()
    x = np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8)
    raw = struct.pack(">IIII", 0x803, 40, 8, 8) + x.tobytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw) if images is None else images)
    labels = struct.pack(">II", 0x801, 40) + (np.arange(40) % 10).astype(np.uint8).tobytes()
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    return folder


@pytest.mark.parametrize("damage,says", [
    (lambda raw: gzip.compress(raw)[: len(gzip.compress(raw)) // 2], "truncated"),
    (lambda raw: gzip.compress(struct.pack(">I", 0x801) + raw[4:]), "magic number"),
], ids=["truncated-gz", "wrong-magic"])
def test_damaged_idx_files(capsys, tmp_path, damage, says):
    x = np.random.default_rng(1).integers(0, 256, (40, 8, 8), dtype=np.uint8)  # incompressible
    folder = _idx_pair(tmp_path / "idx", damage(struct.pack(">IIII", 0x803, 40, 8, 8) + x.tobytes()))
    code, err = cli(capsys, "train", "vae", "--data", f"idx:{folder}", "--out", "out")
    assert code == 2 and says in err.lower() and "train-images-idx3-ubyte.gz" in err
    with pytest.raises(DataError):
        api.train("vae", f"idx:{folder}", out="out")
    assert nothing_written("out")


def test_a_sound_idx_pair_trains(capsys, tmp_path):  # the damaged cases above fail for the damage alone
    folder = _idx_pair(tmp_path / "idx")
    assert main(["train", "vae", "--data", f"idx:{folder}", "steps=2", "batch_size=8", "--out", "out",
                 "--no-progress"]) == 0


# --- overrides -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("override,says", [
    ("steps=-3", "steps=-3 must be > 0"),
    ("model.lr=abc", "lr='abc' is not a valid float"),
    ("stepz=3", "Did you mean: steps"),
], ids=["negative", "not-a-number", "unknown-key"])
def test_invalid_override(capsys, override, says):
    code, err = cli(capsys, "train", "gan", "--data", "ring8", override, "--out", "out")
    assert code == 2 and says in err
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        api.train("gan", "ring8", overrides=[override], out="out")
    assert nothing_written("out")


def test_override_without_a_value(capsys):
    with pytest.raises(SystemExit) as info:  # argparse's own exit, also code 2
        main(["train", "gan", "--data", "ring8", "steps", "--out", "out"])
    assert info.value.code == 2 and "unrecognized arguments: steps" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not of the form key=value"):
        api.train("gan", "ring8", overrides=["steps"], out="out")
    assert nothing_written("out")


# --- the output folder ---------------------------------------------------------------------------------------

def test_output_folder_under_a_regular_file(capsys, tmp_path):
    (tmp_path / "a_file").write_text("keep me")
    code, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", tmp_path / "a_file" / "sub")
    assert code == 2 and "cannot write the output folder" in err and "a_file/sub" in err
    with pytest.raises(RunDirError):
        api.train("gan", "ring8", overrides=QUICK, out=tmp_path / "a_file" / "sub")
    assert (tmp_path / "a_file").read_text() == "keep me"


def test_output_folder_without_permission(capsys, monkeypatch):
    """Tests run as root, which chmod cannot stop: refuse the write the way a read-only folder would."""
    real = Path.write_text

    def write_text(self, *a, **kw):
        if self.name == ".write-test":
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *a, **kw)

    monkeypatch.setattr(Path, "write_text", write_text)
    code, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", "ro")
    assert code == 2 and "cannot write the output folder ro (Permission denied)" in err
    assert not Path("ro/config.json").exists()


def _trained(out="run", extra=()):
    return api.train("gan", "ring8", overrides=QUICK + list(extra), out=out, progress=False).path


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "tb" not in p.parts}


def test_output_folder_holding_a_different_run(capsys):
    run = _trained()
    before = _snapshot(run)
    code, err = cli(capsys, "train", "vae", "--data", "ring8", "model.likelihood=gaussian", *QUICK, "--out", run)
    assert code == 2 and "already holds a different run" in err and "model: 'gan' -> 'vae'" in err
    with pytest.raises(RunDirError, match="already holds a different run"):
        api.train("gan", "ring8", overrides=QUICK + ["lr=0.001"], out=run)
    assert _snapshot(run) == before


def test_output_folder_holding_this_run_with_checkpoints(capsys):
    run = _trained()
    code, err = cli(capsys, "train", "gan", "--data", "ring8", *QUICK, "--out", run)
    assert code == 2 and "--resume" in err


# --- resume --------------------------------------------------------------------------------------------------

def test_resume_with_a_changed_config_shows_the_diff_and_force_allows_it(capsys):
    run = _trained(extra=["steps=10"])
    code, err = cli(capsys, "train", "--resume", run, "model.lr=0.01", "--no-progress")
    assert code == 2 and "resuming with a changed config" in err and "lr: 0.0002 -> 0.01" in err and "--force" in err
    with pytest.raises(ConfigError, match="changed config"):
        api.resume(run, overrides={"model.lr": 0.01})
    assert json.loads((run / "config.json").read_text())["model_config"]["lr"] == 0.0002

    assert main(["train", "--resume", str(run), "model.lr=0.01", "steps=20", "--force", "--no-progress"]) == 0
    assert json.loads((run / "config.json").read_text())["model_config"]["lr"] == 0.01


def test_a_refused_forced_resume_leaves_the_run_as_it_was(capsys):
    """--force with a change the checkpoints cannot take (another code size): refused, config.json kept."""
    run = _trained()
    before = _snapshot(run)
    code, err = cli(capsys, "train", "--resume", run, "model.z_dim=8", "steps=30", "--force", "--no-progress")
    assert code == 2 and "wrong shapes" in err
    assert _snapshot(run) == before
    assert api.load(run) is not None


def test_resume_without_a_checkpoint(capsys):
    run = _trained()
    for p in sorted((run / "checkpoints").glob("ckpt-*")):
        for f in p.iterdir():
            f.unlink()
        p.rmdir()
    code, err = cli(capsys, "train", "--resume", run)
    assert code == 2 and "has no checkpoint to resume from" in err
    with pytest.raises(CheckpointError):
        api.resume(run)


def test_resume_of_a_folder_that_is_not_a_run(capsys, tmp_path):
    code, err = cli(capsys, "train", "--resume", tmp_path / "nowhere")
    assert code == 2 and "is not a run folder" in err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    code, err = cli(capsys, "train", "--resume", tmp_path / "broken")
    assert code == 2 and "the run folder is damaged" in err
    with pytest.raises(UnidgmError):
        api.load(tmp_path / "broken")
