"""Safe checkpoints: safetensors + JSON only, never unpickled; damaged or foreign ones are refused by name.

Policy under test: `load(run, checkpoint=...)` refuses a bad checkpoint with a CheckpointError naming
the file and the problem. `load(run)` and `resume(run)` (and the CLI) use the newest checkpoint that
loads: a damaged newer one is skipped with a CheckpointWarning naming it, and a resume from the older
one is still bit-exact. When no checkpoint loads, the newest one's error is raised (CLI: exit 2).
"""

from __future__ import annotations

import json
import pickle
import re
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from unidgm import api
from unidgm.cli import main
from unidgm.errors import CheckpointError
from unidgm.train import checkpoint as ckpt

OV = {"steps": 40, "ckpt_every": 20, "log_every": 10}
NEW, OLD = "ckpt-00000040", "ckpt-00000020"
SRC = Path(__file__).resolve().parents[2] / "src" / "unidgm"


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """gan on ring8 for 40 steps: checkpoints at 20 and 40 (keep_ckpts=2)."""
    out = tmp_path_factory.mktemp("trained") / "run"
    api.train("gan", "ring8", overrides=OV, out=out, progress=False)
    return out


@pytest.fixture
def run(trained, tmp_path) -> Path:
    """A private copy of the trained run to damage."""
    return Path(shutil.copytree(trained, tmp_path / "run"))


def rewrite(folder: Path, change) -> None:
    """Change a checkpoint's tensors *and* re-record their digest: a consistent but foreign checkpoint."""
    tensors = load_file(str(folder / ckpt.TENSORS))
    change(tensors)
    save_file(tensors, str(folder / ckpt.TENSORS))
    state = json.loads((folder / ckpt.STATE).read_text())
    state["tensors_sha256"] = ckpt.file_digest(folder / ckpt.TENSORS)
    state["state_sha256"] = ckpt.state_digest(state)
    (folder / ckpt.STATE).write_text(json.dumps(state))


def _model_key(tensors) -> str:
    return next(k for k in tensors if k.startswith("model/") and k.endswith("weight"))


def _truncate(f: Path) -> None:
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])


def _torch_save(f: Path) -> None:
    torch.save({"weight": torch.zeros(3)}, f)  # a zip of pickles


def _edit_state(**changes):
    def edit(folder: Path):
        state = json.loads((folder / ckpt.STATE).read_text())
        state.update(changes)
        (folder / ckpt.STATE).write_text(json.dumps(state))
    return edit


DAMAGE = {  # name: (how to damage ckpt-40, what the error says)
    "pickle-bytes": (lambda d: (d / ckpt.TENSORS).write_bytes(pickle.dumps({"w": [1.0, 2.0]})), "holds a pickle"),
    "torch-save": (lambda d: _torch_save(d / ckpt.TENSORS), "holds a pickle"),
    "truncated": (lambda d: _truncate(d / ckpt.TENSORS), "truncated, corrupted or replaced"),
    "bad-json": (lambda d: (d / ckpt.STATE).write_text('{"format": "unidgm-checkpoint-1", "st'), "not valid JSON"),
    "format-tag": (_edit_state(format="someone-else-2"), "has format 'someone-else-2'"),
    "no-step": (_edit_state(step="forty"), "lacks or mangles step"),
    "wrong-shape": (lambda d: rewrite(d, lambda t: t.__setitem__(_model_key(t), torch.zeros(3, 3))), "wrong shapes"),
    "missing-tensor": (lambda d: rewrite(d, lambda t: t.pop(_model_key(t))), "missing tensors"),
    "extra-model-tensor": (lambda d: rewrite(d, lambda t: t.__setitem__("model/parts.extra", torch.ones(2))),
                           "unexpected tensors ['parts.extra']"),
    "foreign-tensor": (lambda d: rewrite(d, lambda t: t.__setitem__("payload/x", torch.ones(2))),
                       "unexpected tensors ['payload/x']"),
    "no-rng": (lambda d: rewrite(d, lambda t: t.pop("rng/cpu")), "rng/cpu"),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_damaged_checkpoint_is_refused_by_name_and_the_older_one_is_used(run, name):
    damage, says = DAMAGE[name]
    good_old = api.load(run, checkpoint=OLD).state_dict()
    damage(run / "checkpoints" / NEW)

    with pytest.raises(CheckpointError, match=re.escape(says)) as info:
        api.load(run, checkpoint=NEW)  # asked for by name: refused, naming the file
    assert NEW in str(info.value)

    with pytest.warns(ckpt.CheckpointWarning, match=f"skipping unreadable checkpoint .*{NEW}"):
        fallback = api.load(run)  # the newest that loads
    assert all(torch.equal(v, good_old[k]) for k, v in fallback.state_dict().items())


def test_resume_past_a_damaged_latest_is_still_bit_exact(trained, run):
    (run / "checkpoints" / NEW / ckpt.TENSORS).write_bytes(pickle.dumps("not tensors"))
    with pytest.warns(ckpt.CheckpointWarning, match=NEW):
        api.resume(run, progress=False)  # from ckpt-20, recomputing steps 21..40
    want, got = api.load(trained).state_dict(), api.load(run).state_dict()
    assert all(torch.equal(want[k], got[k]) for k in want)
    assert (run / "metrics.jsonl").read_text() == (trained / "metrics.jsonl").read_text()
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [OLD, NEW, "latest"]
    ckpt.read_checkpoint(run / "checkpoints" / NEW)  # rewritten whole


def test_optimiser_state_that_does_not_fit_is_refused(run):
    def shrink(t):
        key = next(k for k in t if k.startswith("optim/") and k.endswith("exp_avg"))
        t[key] = torch.zeros(1)
    rewrite(run / "checkpoints" / NEW, shrink)
    rewrite(run / "checkpoints" / OLD, shrink)
    with pytest.raises(CheckpointError, match=r"optimiser '\w+' exp_avg of parameter \d+ has shape \(1,\)"):
        api.resume(run, progress=False)


def test_every_checkpoint_damaged_cli_exits_2_naming_the_file(run, capsys):
    for name in (NEW, OLD):
        _truncate(run / "checkpoints" / name / ckpt.TENSORS)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert f"error: {run}/checkpoints/{NEW}/{ckpt.TENSORS}" in err and "older checkpoint(s) fail too" in err
    assert "warning" not in err  # when none loads, one error and no warnings
    assert main(["sample", str(run)]) == 2


def test_cli_names_a_skipped_checkpoint_in_one_line(run, capsys):
    _truncate(run / "checkpoints" / NEW / ckpt.TENSORS)
    assert main(["train", "--resume", str(run), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert err.startswith(f"warning: skipping unreadable checkpoint {run}/checkpoints/{NEW}: ")
    assert "Traceback" not in err and "warnings.warn" not in err


def test_pickles_are_never_loaded(run, monkeypatch):
    """A .pt lying around (or passed by name) is never unpickled; loading and resuming use no pickle at all."""
    torch.save({"weight": torch.zeros(2)}, run / "checkpoints" / "model.pt")
    (run / "checkpoints" / "ckpt-00000099").mkdir()  # a would-be newer checkpoint holding only a .pt
    torch.save({"weight": torch.zeros(2)}, run / "checkpoints" / "ckpt-00000099" / "model.pt")

    def refuse(*a, **kw):
        raise AssertionError("pickle must never be used to read a checkpoint")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    assert api.load(run) is not None
    with pytest.raises(CheckpointError, match="holds a pickle"):
        api.load(run, checkpoint=str(run / "checkpoints" / "model.pt"))
    with pytest.raises(CheckpointError, match="not a unidgm checkpoint"):
        api.load(run, checkpoint="ckpt-00000099")
    api.resume(run, overrides={"steps": 45}, progress=False)


def test_no_torch_load_without_weights_only_in_the_source():
    offenders = []
    for f in SRC.rglob("*.py"):
        for i, line in enumerate(f.read_text().splitlines(), 1):
            if re.search(r"\btorch\.load\(", line) and "weights_only=True" not in line:
                offenders.append(f"{f.relative_to(SRC)}:{i}")
    assert offenders == []


def test_checkpoint_folders_hold_safetensors_and_json_only(trained):
    for folder in (trained / "checkpoints").glob("ckpt-*"):
        assert sorted(p.name for p in folder.iterdir()) == [ckpt.STATE, ckpt.TENSORS]
        state = json.loads((folder / ckpt.STATE).read_text())
        assert state["format"] == ckpt.FORMAT and state["tensors_sha256"] == ckpt.file_digest(folder / ckpt.TENSORS)


def test_a_broken_latest_pointer_falls_back_to_the_highest_step(run):
    (run / "checkpoints" / ckpt.LATEST).write_bytes(b"\xff\xfe garbage")
    assert ckpt.latest_checkpoint(run / "checkpoints").name == NEW
    (run / "checkpoints" / ckpt.LATEST).write_text("ckpt-00000999")
    assert ckpt.latest_checkpoint(run / "checkpoints").name == NEW


def test_leftovers_of_a_kill_mid_save_are_cleaned_by_the_next_save(run):
    (run / "checkpoints" / ".tmp-ckpt-00000030").mkdir()
    (run / "checkpoints" / ".tmp-ckpt-00000030" / ckpt.TENSORS).write_bytes(b"half")
    api.resume(run, overrides={"steps": 60}, progress=False)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [NEW, "ckpt-00000060", "latest"]
