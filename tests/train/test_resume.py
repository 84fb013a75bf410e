"""Bit-exact resume on CPU: a run stopped at step k and resumed equals the uninterrupted run.

Each case trains N steps in one go, then the same config again with a crash injected at a step between
checkpoints, then resumes it. Final parameters and buffers (BatchNorm running stats, the AA
discriminator's `updates` counter), and every line of metrics.jsonl, must be identical: that needs the
torch RNG state (dynamic binarisation and decoder samples draw from it), the data order
(`Batches` positions), every optimiser's moments and the metrics accumulated since the last log line,
all of which travel in the checkpoint.
"""

from __future__ import annotations

import json

import pytest
import torch

from unidgm import api
from unidgm.train import checkpoint as ckpt
from unidgm.train.loop import Trainer
from unidgm.train.rundir import RunDir
from unidgm.train.streams import Streams

BASE = {"steps": 60, "ckpt_every": 20, "log_every": 7, "batch_size": 32}


class Crash(RuntimeError):
    pass


def crash_at(monkeypatch, step: int):
    """Make training die (as a power cut would) at the start of ``step``, after the checkpoints before it."""
    real = Trainer.train_step

    def train_step(self, batch):
        if self.step == step:
            raise Crash(f"injected crash at step {step}")
        return real(self, batch)

    monkeypatch.setattr(Trainer, "train_step", train_step)
    return lambda: monkeypatch.setattr(Trainer, "train_step", real)


def same_state(a: dict, b: dict) -> list[str]:
    assert set(a) == set(b)
    return [k for k in a if not torch.equal(a[k], b[k])]


def log_lines(path) -> list[str]:
    return (path / "metrics.jsonl").read_text().splitlines()


CASES = [
    ("gan", "ring8", (), {}),
    ("vae", "digits", (), {"n_train": 300}),  # dynamic binarisation: torch.bernoulli each batch
    ("vae", "digits", ("aa",), {"n_train": 300, "aa.warmup": 30}),  # 2 phases, 2 Adams, `updates` buffer
]


@pytest.mark.parametrize("model,data,techniques,extra", CASES, ids=["gan-ring8", "vae-digits", "aa-vae-digits"])
def test_resume_after_crash_is_bit_exact(tmp_path, monkeypatch, model, data, techniques, extra):
    ov = {**BASE, **extra}
    ref = api.train(model, data, overrides=ov, techniques=techniques, out=tmp_path / "ref", progress=False)

    undo = crash_at(monkeypatch, 47)  # checkpoints at 20 and 40 exist; log lines up to 42 are past ckpt-40
    with pytest.raises(Crash):
        api.train(model, data, overrides=ov, techniques=techniques, out=tmp_path / "cut", progress=False)
    undo()
    assert ckpt.latest_checkpoint(tmp_path / "cut" / "checkpoints").name == "ckpt-00000040"
    assert json.loads(log_lines(tmp_path / "cut")[-1])["step"] == 42
    resumed = api.resume(tmp_path / "cut", progress=False)

    assert resumed.metrics == ref.metrics
    assert same_state(api.load(ref.path).state_dict(), api.load(resumed.path).state_dict()) == []
    assert log_lines(resumed.path) == log_lines(ref.path)
    if "aa" in techniques:  # the warm-up counter is a buffer: saved, restored, and counted on
        assert int(api.load(resumed.path)["discriminator"].updates) == BASE["steps"]


def test_checkpoint_holds_rng_optimisers_streams_and_pending_metrics(tmp_path):
    run = api.train("vae", "digits", overrides={**BASE, "steps": 20, "ckpt_every": 10, "n_train": 300},
                    techniques=("aa",), out=tmp_path / "r", progress=False)
    tensors, state = ckpt.read_checkpoint(run.path / "checkpoints" / "ckpt-00000010")
    assert tensors["rng/cpu"].dtype == torch.uint8 and tensors["rng/cpu"].numel() > 0
    assert int(tensors["model/parts.discriminator.updates"]) == 10
    assert set(state["optimizers"]) == {"phi", "theta_eta"}
    for name in state["optimizers"]:  # Adam moments of every parameter of every phase
        assert any(k.startswith(f"optim/{name}/") and k.endswith("exp_avg_sq") for k in tensors)
    # 300 examples / 32 = 9 batches per epoch: after 10 steps the stream is at batch 1 of epoch 1
    assert (state["streams"]["main"]["epoch"], state["streams"]["main"]["position"]) == (1, 1)
    # log_every=7: steps 8..10 are accumulated but not yet logged; they travel with the checkpoint
    assert state["log_keys"] and all(tensors[f"log/{k}"].shape == (3,) for k in state["log_keys"])
    assert sorted(p.name for p in (run.path / "checkpoints" / "ckpt-00000010").iterdir()) == [ckpt.STATE, ckpt.TENSORS]


def _dcgan_trainer(run_path, steps):
    """A DCGAN (BatchNorm in both nets) on random 28x28 images, driven through Trainer directly."""
    torch.manual_seed(0)
    from unidgm.core import DataSpec
    from unidgm.train.config import TrainConfig
    model = api.build_model("gan", {"arch": "dcgan", "z_dim": 8}, spec=DataSpec((1, 28, 28), None))
    x = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    streams = Streams({"main": ((x,), ("x",))}, batch_size=8, seed=0)
    cfg = TrainConfig(steps=steps, batch_size=8, ckpt_every=3, log_every=2, progress=False, device="cpu")
    run = RunDir(run_path).create({"test": "dcgan"}, 0, resume=(run_path / "config.json").exists())
    return Trainer(model, streams, cfg, run)


def test_resume_restores_batchnorm_running_stats(tmp_path, monkeypatch):
    ref = _dcgan_trainer(tmp_path / "ref", 8)
    ref.fit()
    bn = [k for k in ref.model.state_dict() if "running_mean" in k or "num_batches_tracked" in k]
    assert bn, "the DCGAN nets should hold BatchNorm buffers"

    undo = crash_at(monkeypatch, 5)  # ckpt-3 exists
    with pytest.raises(Crash):
        _dcgan_trainer(tmp_path / "cut", 8).fit()
    undo()
    again = _dcgan_trainer(tmp_path / "cut", 8)
    again.restore(ckpt.latest_checkpoint(again.run.checkpoints))
    assert again.step == 3
    again.run.truncate_log(again.step)
    again.fit()
    assert same_state(ref.model.state_dict(), again.model.state_dict()) == []
    assert log_lines(tmp_path / "ref") == log_lines(tmp_path / "cut")


def test_resume_of_a_finished_run_changes_nothing(tmp_path):
    ov = {**BASE, "steps": 20, "ckpt_every": 10}
    run = api.train("gan", "ring8", overrides=ov, out=tmp_path / "r", progress=False)
    before = api.load(run.path).state_dict()
    lines = log_lines(run.path)
    api.resume(run.path, progress=False)
    assert same_state(before, api.load(run.path).state_dict()) == []
    assert log_lines(run.path) == lines


def test_more_steps_on_resume_equals_a_longer_run(tmp_path):
    """`steps` may grow on resume (a harmless change): 30 then +30 equals 60 in one go."""
    ref = api.train("gan", "ring8", overrides={**BASE, "steps": 60}, out=tmp_path / "ref", progress=False)
    api.train("gan", "ring8", overrides={**BASE, "steps": 30}, out=tmp_path / "two", progress=False)
    api.resume(tmp_path / "two", overrides={"steps": 60}, progress=False)
    assert same_state(api.load(ref.path).state_dict(), api.load(tmp_path / "two").state_dict()) == []


def test_a_log_line_cut_short_by_a_kill_is_dropped_on_resume(tmp_path, monkeypatch):
    ov = {**BASE, "steps": 30, "ckpt_every": 10}
    ref = api.train("gan", "ring8", overrides=ov, out=tmp_path / "ref", progress=False)
    undo = crash_at(monkeypatch, 25)
    with pytest.raises(Crash):
        api.train("gan", "ring8", overrides=ov, out=tmp_path / "cut", progress=False)
    undo()
    with open(tmp_path / "cut" / "metrics.jsonl", "a") as f:
        f.write('{"step": 28, "phi/lo')  # the write the kill interrupted
    assert RunDir(tmp_path / "cut").metrics()[-1]["step"] == 21  # readers skip the torn line
    api.resume(tmp_path / "cut", progress=False)
    assert log_lines(tmp_path / "cut") == log_lines(ref.path)


def test_fit_is_the_function_and_train_a_deprecated_alias(tmp_path):
    """The README's `unidgm.fit(...)`, twice, after the training package was imported; the old name
    `unidgm.train(...)` still trains, with a DeprecationWarning."""
    import unidgm
    import unidgm.train.loop  # noqa: F401  (binds the attribute unidgm.train to the package)
    for name in ("a", "b"):
        run = unidgm.fit("gan", "ring8", overrides={"steps": 2}, out=tmp_path / name, progress=False)
        assert run.path == tmp_path / name
    with pytest.warns(DeprecationWarning, match="unidgm.fit"):
        run = unidgm.train("gan", "ring8", overrides={"steps": 2}, out=tmp_path / "c", progress=False)
    assert run.path == tmp_path / "c"


def test_starting_again_after_a_crash_before_any_checkpoint_gives_a_clean_log(tmp_path, monkeypatch):
    ov = {**BASE, "steps": 12, "ckpt_every": 20, "log_every": 2}
    ref = api.train("gan", "ring8", overrides=ov, out=tmp_path / "ref", progress=False)
    undo = crash_at(monkeypatch, 5)
    with pytest.raises(Crash):
        api.train("gan", "ring8", overrides=ov, out=tmp_path / "again", progress=False)
    undo()
    assert not (tmp_path / "again" / "checkpoints").exists() and log_lines(tmp_path / "again")
    api.train("gan", "ring8", overrides=ov, out=tmp_path / "again", progress=False)  # same config: allowed
    assert log_lines(tmp_path / "again") == log_lines(ref.path)  # no lines left over from the first attempt
