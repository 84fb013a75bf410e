"""Model selection inside a run: the validation split, eval_every, the best checkpoint, early stopping,
the wall-clock budget, schedules and recipes — and that none of it touches the test set or resume."""

from __future__ import annotations

import json
import math
import random
import signal
import subprocess
import sys
import time

import pytest
import torch

from unidgm import api
from unidgm.cli import main
from unidgm.data import get_dataset, holdout
from unidgm.errors import CheckpointError, ConfigError
from unidgm.train.config import TrainConfig
from unidgm.train.selection import Selection, kl_weight, lr_factor

VAL = ["val=200", "eval_every=25", "threads=1"]


def _train(tmp_path, name="run", model="vae", over=(), data="digits"):
    return api.train(model, data, overrides=[*VAL, *over], out=tmp_path / name, progress=False)


def test_holdout_is_class_balanced_fixed_and_disjoint():
    ds = get_dataset("digits", "train")
    rest, val, idx = holdout(ds, 200)
    assert len(val) == 200 and len(rest) == len(ds) - 200
    assert torch.bincount(val.y, minlength=10).tolist() == [20] * 10
    _, _, again = holdout(ds, 200)
    assert torch.equal(idx, again)  # the same examples whatever the run's seed
    mask = torch.zeros(len(ds), dtype=torch.bool)
    mask[idx] = True
    assert torch.equal(rest.x, ds.x[~mask]) and torch.equal(val.x, ds.x[mask])


def test_n_train_subset_comes_from_the_rest_and_split_is_recorded(tmp_path):
    settings = api.resolve("vae", "digits", [*VAL, "n_train=100"])
    p = api.prepare_run(settings)
    full = get_dataset("digits", "train")
    _, val, idx = holdout(full, 200)
    train_rows = {tuple(r.flatten().tolist()) for r in p.source.x}
    val_rows = {tuple(r.flatten().tolist()) for r in val.x}
    assert len(p.source) == 100 and not train_rows & val_rows
    assert torch.bincount(p.source.y, minlength=10).tolist() == [10] * 10
    run = _train(tmp_path, over=["steps=30", "n_train=100"])
    split = json.loads((run.path / "split.json").read_text())
    assert split["val"] == 200 and split["n_train"] == 100 and len(split["val_indices_sha256"]) == 64


def test_validation_logs_keeps_best_and_load_uses_it(tmp_path, capsys):
    run = _train(tmp_path, over=["steps=100", "ckpt_every=0"])
    vals = [r for r in api.RunDir(run.path).metrics() if "val/elbo" in r]
    assert [r["step"] for r in vals] == [25, 50, 75, 100]
    best = json.loads((run.path / "best.json").read_text())
    top = max(vals, key=lambda r: r["val/elbo"])
    assert best["metric"] == "val/elbo" and best["step"] == top["step"] and best["value"] == top["val/elbo"]
    assert run.best["step"] == best["step"]
    model = api.load(run.path)
    assert model.checkpoint["kind"] == "best" and model.checkpoint["step"] == best["step"]
    assert api.load(run.path, "last").checkpoint["step"] == 100
    assert main(["sample", str(run.path), "--n", "4"]) == 0
    assert "best validated checkpoint" in capsys.readouterr().out
    assert main(["sample", str(run.path), "--n", "4", "--checkpoint", "last"]) == 0
    assert "last checkpoint (step 100)" in capsys.readouterr().out


def test_no_validation_means_last_checkpoint_and_best_is_refused(tmp_path):
    run = api.train("vae", "digits", overrides=["steps=20", "threads=1"], out=tmp_path / "r", progress=False)
    assert not (run.path / "best").exists() and not (run.path / "split.json").exists()
    assert api.load(run.path).checkpoint["kind"] == "last"
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        api.load(run.path, "best")


def test_validation_does_not_change_training(tmp_path):
    """The validator runs under a forked RNG: the same run with and without it trains identically."""
    a = api.train("vae", "digits", overrides=["val=200", "eval_every=10", "steps=40", "threads=1"],
                  out=tmp_path / "a", progress=False)
    b = api.train("vae", "digits", overrides=["val=200", "steps=40", "threads=1"], out=tmp_path / "b", progress=False)
    sa, sb = api.load(a.path, "last").state_dict(), api.load(b.path, "last").state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_early_stopping_and_resume_of_a_stopped_run(tmp_path):
    # a learning rate far too high: validation stops improving at once, patience 2 stops the run
    run = _train(tmp_path, over=["steps=2000", "model.lr=0.05", "patience=2", "eval_every=10"])
    assert run.stopped == "early"
    steps = [r["step"] for r in api.RunDir(run.path).metrics() if "val/elbo" in r]
    assert steps[-1] < 2000 and steps[-1] - run.best["step"] == 20
    again = api.resume(run.path, progress=False)  # nothing left to do: patience is spent
    assert again.stopped == "early" and [r["step"] for r in api.RunDir(run.path).metrics() if "val/elbo" in r] == steps


def test_wall_clock_budget_stops_cleanly_and_resumes(tmp_path, capsys):
    out = tmp_path / "budget"
    code = main(["train", "vae", "--data", "digits", "steps=100000", "max_minutes=0.02", "threads=1",
                 "--no-progress", "--out", str(out)])
    assert code == 0
    text = capsys.readouterr().out
    assert "wall-clock budget" in text and f"--resume {out}" in text
    step = api.load(out).checkpoint["step"]
    assert 0 < step < 100000
    run = api.resume(out, overrides=["steps=" + str(step + 5)], progress=False)
    assert run.stopped is None and api.load(out).checkpoint["step"] == step + 5


def test_test_set_is_never_read_during_training(tmp_path, monkeypatch):
    import unidgm.data as data
    real = data.get_dataset

    def guarded(spec, split="train", *a, **kw):
        assert split != "test", "the test set was read during training"
        return real(spec, split, *a, **kw)
    monkeypatch.setattr(data, "get_dataset", guarded)
    for model in ("vae", "svae"):
        run = _train(tmp_path, model, model=model, over=["steps=50", "n_labelled=100"] if model == "svae" else
                     ["steps=50"])
        assert run.best is not None
    assert run.best["metric"] == "val/ssl_accuracy"


def test_the_svae_selects_on_accuracy_and_logs_its_validation_elbo(tmp_path):
    """The semi-supervised VAE is selected on accuracy; its validation ELBO is logged beside it (a curve for
    Table 3's SVAE ELBO rows) without entering the selection."""
    from unidgm.experiments.sweep import validation_curve
    run = _train(tmp_path, "svae", model="svae", over=["steps=50", "n_labelled=100"])
    assert run.best["metric"] == "val/ssl_accuracy"
    curve = validation_curve(tmp_path / "svae")
    assert [p["step"] for p in curve["points"]] == [25, 50]
    assert all(set(p) == {"step", "ssl_accuracy", "elbo"} and p["elbo"] < 0 for p in curve["points"])


def test_gan_selects_by_inception_score_on_images(tmp_path):
    run = _train(tmp_path, "gan", model="gan", over=["steps=50", "val_samples=200", "model.hidden=32,32"])
    assert run.best["metric"] == "val/inception_score" and run.best["value"] >= 1.0
    cgan = _train(tmp_path, "cgan", model="cgan", over=["steps=25", "val_samples=200", "model.hidden=32,32"])
    assert cgan.best["metric"] == "val/cond_accuracy"


def test_selection_errors(tmp_path):
    with pytest.raises(ConfigError, match="no validation metric"):
        api.train("gan", "ring8", overrides=["eval_every=10", "steps=20"], out=tmp_path / "g", progress=False)
    with pytest.raises(ConfigError, match="val=0"):
        api.train("vae", "digits", overrides=["eval_every=10", "val=0", "steps=20"], out=tmp_path / "v",
                  progress=False)
    with pytest.raises(ConfigError, match="select=ssl_accuracy does not apply"):
        api.train("vae", "digits", overrides=["eval_every=10", "select=ssl_accuracy", "steps=20"],
                  out=tmp_path / "s", progress=False)
    with pytest.raises(ConfigError, match="kl_warmup"):
        api.train("gan", "ring8", overrides=["kl_warmup=10", "steps=5"], out=tmp_path / "k", progress=False)
    assert not (tmp_path / "k" / "checkpoints").exists()


def test_sigkill_with_validation_best_and_early_stopping_resumes_bit_exact(tmp_path):
    over = ["steps=900", "ckpt_every=40", "log_every=10", "val=200", "eval_every=30", "patience=12",
            "model.lr=0.01"]
    ref = api.train("vae", "digits", overrides=over, out=tmp_path / "ref", progress=False)
    out = tmp_path / "killed"
    n = str(torch.get_num_threads())
    env = {**__import__("os").environ, "OMP_NUM_THREADS": n, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "unidgm", "train", "vae", "--data", "digits", *over, "--out",
                             str(out), "--no-progress"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not (out / "best.json").exists() or not (out / "checkpoints" / "latest").exists() or \
            json.loads((out / "best.json").read_text())["step"] < 120:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.01)
    time.sleep(random.uniform(0.0, 0.2))
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert main(["train", "--resume", str(out), "--no-progress"]) == 0
    for kind in ("last", "best"):
        a, b = api.load(ref.path, kind).state_dict(), api.load(out, kind).state_dict()
        assert [k for k in a if not torch.equal(a[k], b[k])] == [], kind
    assert (out / "metrics.jsonl").read_text() == (ref.path / "metrics.jsonl").read_text()
    assert json.loads((out / "best.json").read_text()) == json.loads((ref.path / "best.json").read_text())
    assert len(list((out / "best").glob("ckpt-*"))) == 1


def test_schedules_are_functions_of_the_step():
    cfg = TrainConfig(steps=100, lr_schedule="cosine", warmup_steps=10, lr_min=0.1)
    assert lr_factor(cfg, 0) == pytest.approx(0.1) and lr_factor(cfg, 9) == pytest.approx(1.0)
    assert lr_factor(cfg, 10) == pytest.approx(1.0) and lr_factor(cfg, 100) == pytest.approx(0.1)
    assert lr_factor(cfg, 55) == pytest.approx(0.1 + 0.9 * 0.5)
    step = TrainConfig(lr_schedule="step", lr_decay=0.5, lr_decay_every=10)
    assert [lr_factor(step, t) for t in (0, 9, 10, 25)] == [1.0, 1.0, 0.5, 0.25]
    exp = TrainConfig(lr_schedule="exp", lr_decay=0.5, lr_decay_every=10)
    assert lr_factor(exp, 5) == pytest.approx(math.sqrt(0.5))
    assert kl_weight(TrainConfig(kl_warmup=4), 0) == 0.25 and kl_weight(TrainConfig(kl_warmup=4), 10) == 1.0
    with pytest.raises(ConfigError):
        TrainConfig(lr_schedule="linear")


def test_schedule_and_kl_warmup_reach_the_optimiser_and_objective(tmp_path):
    run = api.train("vae", "digits", overrides=["steps=20", "lr_schedule=step", "lr_decay=0.5", "lr_decay_every=10",
                                                "kl_warmup=40", "log_every=10", "threads=1"],
                    out=tmp_path / "r", progress=False)
    rows = api.RunDir(run.path).metrics()
    # the logged β is the mean over the last 10 steps' weights (t+1)/40
    assert rows[0]["theta_eta/kl_weight"] == pytest.approx(sum((t + 1) / 40 for t in range(10)) / 10)
    # the logged elbo stays the true bound, while the loss is the β-weighted one
    assert rows[0]["theta_eta/loss"] < -rows[0]["theta_eta/elbo"]
    assert run.model.kl_weight == pytest.approx(20 / 40)


def test_weight_decay_is_decoupled_adam(tmp_path):
    run = api.train("vae", "digits", overrides=["steps=3", "weight_decay=0.1", "threads=1"], out=tmp_path / "r",
                    progress=False)
    assert api.load(run.path) is not None
    from unidgm.train.loop import make_optimizers
    opt = make_optimizers(run.model, weight_decay=0.1)["theta_eta"]
    assert opt.param_groups[0]["weight_decay"] == 0.1 and opt.param_groups[0]["decoupled_weight_decay"]


def test_recipes_apply_under_user_overrides_and_print_in_explain(capsys):
    s = api.resolve("vae", "mnist", ["recipe=small-data", "steps=7"])
    assert s.model_config.hidden == (200,) and s.model_config.z_dim == 20 and s.train.kl_warmup == 2000
    assert s.train.steps == 7 and s.train.eval_every == 250  # the user's own override wins
    g = api.resolve("gan", "mnist", ["recipe=converged"])
    assert g.train.batch_size == 64 and g.train.eval_every == 2500
    m2 = api.resolve("svae", "mnist", ["recipe=semi-supervised"])
    c = api.resolve("svae", "mnist", ["recipe=converged", "eval_every=1000", "patience=8", "steps=50000"])
    differ = {k for k, v in m2.train.to_dict().items() if c.train.to_dict()[k] != v}
    assert differ == {"recipe"} and m2.train.steps == 50000  # the reference M2 rows' settings, by name
    ten = api.resolve("vae", "mnist", ["recipe=moderate-data"])  # the 10% search's winner: converged + decay 0.01
    won = api.resolve("vae", "mnist", ["recipe=converged", "weight_decay=0.01"])
    differ = {k for k, v in ten.train.to_dict().items() if won.train.to_dict()[k] != v}
    assert differ == {"recipe", "eval_every", "patience", "steps"} and ten.model_config == won.model_config
    assert ten.model_config.hidden == (500, 500) and ten.train.weight_decay == 0.01
    with pytest.raises(ConfigError, match="recipe"):
        api.resolve("vae", "digits", ["recipe=fastest"])
    assert main(["explain", "vae"]) == 0
    out = capsys.readouterr().out
    assert "small-data" in out and "model.hidden=200" in out


def test_denormals_are_flushed_during_cpu_training_only(tmp_path, monkeypatch):
    import unidgm.train.speed as speed
    seen = []
    real = torch.set_flush_denormal
    monkeypatch.setattr(torch, "set_flush_denormal", lambda on: (seen.append(on), real(on))[1])
    api.train("vae", "digits", overrides=["steps=2", "threads=1"], out=tmp_path / "a", progress=False)
    assert seen == [True, False]  # on for the run, off again for the caller
    seen.clear()
    api.train("vae", "digits", overrides=["steps=2", "threads=1", "denormals=keep"], out=tmp_path / "b",
              progress=False)
    assert seen == []
    with speed.denormals_flushed(True):
        assert torch.tensor([1e-39]).mul(1.0).item() == 0.0  # flushed (denormal inputs read as zero)
    assert torch.tensor([1e-39]).mul(1.0).item() != 0.0
