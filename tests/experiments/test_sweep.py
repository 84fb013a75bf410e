"""The sweep runner: seeds x variants, mean ± std tables, skip finished runs, resume interrupted ones."""

import json
import shutil

import numpy as np
import pytest
from safetensors.torch import load_file

from unidgm.experiments.sweep import Variant, collect, run_dir, run_one, run_sweep, write_summary

TINY = {"steps": 4, "batch_size": 32, "model.hidden": [16], "model.z_dim": 2}


def variants():
    ev = {"max_test": 50, "curve_test": 50}
    return [Variant("vae", "vae", "digits", (), TINY, ("elbo",), 2, ev),
            Variant("aa-vae", "vae", "digits", ("aa",), {**TINY, "aa.hidden": [8]}, ("elbo",), 2, ev)]


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    runs = tmp_path_factory.mktemp("sweep") / "runs"
    vs = variants()
    results = run_sweep(vs, [0, 1], runs, log=lambda *_: None)
    return vs, runs, results


def test_every_variant_and_seed_has_its_own_finished_run(swept):
    vs, runs, results = swept
    assert len(results) == 4 and not any(r["skipped"] for r in results)
    for v in vs:
        for s in (0, 1):
            folder = run_dir(runs, v, s)
            assert folder == runs / v.name / f"seed-{s}"
            config = json.loads((folder / "config.json").read_text())
            assert config["train"]["seed"] == s and config["train"]["steps"] == 4
            assert config["techniques"] == ({"aa": config["techniques"]["aa"]} if v.techniques else {})
            metrics = json.loads((folder / "metrics.json").read_text())
            assert metrics["elbo"]["n_test"] == 50 and np.isfinite(metrics["elbo"]["value"])
            curve = json.loads((folder / "curve.json").read_text())
            assert [p["step"] for p in curve["points"]] == [2, 4]
            assert all(np.isfinite(p["elbo"]) for p in curve["points"])


def test_summary_is_mean_and_std_over_seeds_in_three_formats(swept, tmp_path):
    vs, runs, _ = swept
    paths = write_summary(vs, [0, 1], runs, tmp_path / "summary", command="unidgm test-command", wall_s=1.5)
    vals = [json.loads((run_dir(runs, vs[0], s) / "metrics.json").read_text())["elbo"]["value"] for s in (0, 1)]
    table = json.loads(paths["json"].read_text())
    row = next(r for r in table["rows"] if r["variant"] == "vae")
    assert row["seeds"] == 2 and row["steps"] == 4
    assert row["elbo"]["mean"] == pytest.approx(np.mean(vals))
    assert row["elbo"]["std"] == pytest.approx(np.std(vals, ddof=1))
    md = paths["md"].read_text()
    assert f"{np.mean(vals):.3f} ± {np.std(vals, ddof=1):.3f}" in md and "unidgm test-command" in md
    assert "aa-vae" in paths["csv"].read_text()
    meta = json.loads(paths["meta"].read_text())
    assert meta["command"] == "unidgm test-command" and meta["wall_s"] == 1.5
    assert meta["machine"]["torch"] and meta["machine"]["cpu_count"] >= 1
    train_cmd, eval_cmd = meta["run_commands"]["aa-vae"]["1"]
    assert train_cmd.startswith("unidgm train vae --data digits --technique aa") and "seed=1" in train_cmd
    assert eval_cmd.startswith("unidgm eval") and "--metrics elbo" in eval_cmd


def test_finished_runs_are_skipped_not_recomputed(swept):
    vs, runs, _ = swept
    stamp = {v.name: (run_dir(runs, v, 0) / "metrics.json").stat().st_mtime_ns for v in vs}
    assert run_sweep(vs, [0, 1], runs, log=lambda *_: None) == []
    assert run_one(vs[0], 0, runs)["skipped"] is True
    assert {v.name: (run_dir(runs, v, 0) / "metrics.json").stat().st_mtime_ns for v in vs} == stamp


def test_an_interrupted_run_resumes_to_the_same_result(swept, tmp_path):
    vs, runs, _ = swept
    v = vs[1]
    src = run_dir(runs, v, 0)
    runs2 = tmp_path / "runs"
    folder = run_dir(runs2, v, 0)
    shutil.copytree(src, folder)
    # as if stopped after the step-2 checkpoint: no final checkpoint, no curve, no metrics
    for name in ("metrics.json", "curve.json", "timing.json"):
        (folder / name).unlink()
    shutil.rmtree(folder / "checkpoints" / "ckpt-00000004")
    (folder / "checkpoints" / "latest").unlink()
    result = run_one(v, 0, runs2)
    assert result["skipped"] is False and (folder / "metrics.json").exists()
    a = load_file(str(src / "checkpoints" / "ckpt-00000004" / "tensors.safetensors"))
    b = load_file(str(folder / "checkpoints" / "ckpt-00000004" / "tensors.safetensors"))
    assert all(a[k].equal(b[k]) for k in a if k.startswith("model/"))


def test_collect_reads_only_finished_seeds(swept):
    vs, runs, _ = swept
    c = collect(runs, vs[0], [0, 1, 7])
    assert c["seeds"] == [0, 1] and len(c["metrics"]["elbo"]) == 2 and len(c["curves"]) == 2


def test_sweep_command(tmp_path, capsys):
    from unidgm.cli import main
    out = tmp_path / "sw"
    assert main(["sweep", "vae", "steps=2", "batch_size=32", "model.hidden=[8]", "--data", "digits", "--seeds", "2",
                 "--variants", "none,aa", "--metrics", "elbo", "--max-test", "30", "--curve-points", "1",
                 "--out", str(out)]) == 0
    table = json.loads((out / "summary.json").read_text())
    assert [r["variant"] for r in table["rows"]] == ["vae", "aa-vae"] and table["rows"][1]["seeds"] == 2
    assert "unidgm sweep vae steps=2" in (out / "summary.md").read_text()
    assert (out / "runs" / "aa-vae" / "seed-1" / "metrics.json").exists()


def test_a_run_that_validates_takes_its_curve_from_validation_and_reads_test_once(tmp_path, monkeypatch):
    """The curve of a run selected on validation is its val/ rows: the test set is read by the final evaluation
    alone (one test load), never per checkpoint."""
    import unidgm.data as data
    real, reads = data.get_dataset, []

    def counting(name, split="train", *a, **k):
        if split == "test":
            reads.append(name)
        return real(name, split, *a, **k)
    monkeypatch.setattr(data, "get_dataset", counting)
    v = Variant("vae-val", "vae", "digits", (), {**TINY, "steps": 6, "eval_every": 2, "val": 100}, ("elbo",), 3,
                {"max_test": 50, "curve_test": 50})
    run_one(v, 0, tmp_path / "runs")
    curve = json.loads((run_dir(tmp_path / "runs", v, 0) / "curve.json").read_text())
    assert curve["source"] == "validation" and [p["step"] for p in curve["points"]] == [2, 4, 6]
    assert all(np.isfinite(p["elbo"]) for p in curve["points"])
    assert len(reads) == 1


def test_the_runs_folder_keeps_checkpoints_out_of_git(swept):
    """A finished run's small files can be committed (the table completes over sessions); git ignores its
    checkpoints, best model, event files and samples."""
    import subprocess
    _, runs, _ = swept
    assert (runs / ".gitignore").exists()
    subprocess.run(["git", "init", "-q", str(runs)], check=True)
    listed = subprocess.run(["git", "-C", str(runs), "ls-files", "--others", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout.split()
    assert any(f.endswith("seed-0/metrics.json") for f in listed) and any(f.endswith("curve.json") for f in listed)
    assert any(f.endswith("config.json") for f in listed)
    assert not [f for f in listed if "/checkpoints/" in f or "/tb/" in f or "/samples/" in f or "/best/" in f]


@pytest.mark.parametrize("target, sig, code, jobs", [("group", "SIGINT", 130, 2), ("sweep", "SIGTERM", 143, 2),
                                                     ("group", "SIGINT", 130, 1)])
def test_a_signal_stops_a_sweep_in_order(tmp_path, target, sig, code, jobs):
    """Ctrl-C (SIGINT to every process of the group) or a SIGTERM to the sweep alone: the running trainings stop
    after their step with a checkpoint, the queued runs never start, no worker is left behind, and the sweep ends
    with the sweep's command to resume (a parallel one used to start the queued runs, and then wait on its workers
    forever; a sequential one named the single run's `train --resume`, which leaves the rest of the sweep undone)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    cmd = [sys.executable, "-m", "unidgm", "sweep", "vae", "--data", "digits", "steps=100000", "model.hidden=16",
           "--curve-points", "5000", "--seeds", "3", "--jobs", str(jobs), "--threads", "1", "--out", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    runs = tmp_path / "runs" / "vae"
    deadline = time.time() + 180
    while not all(any((runs / f"seed-{s}" / "checkpoints").glob("ckpt-*")) for s in range(jobs)):
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.5)
    number = getattr(signal, sig)
    os.killpg(proc.pid, number) if target == "group" else proc.send_signal(number)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert f"stopped by {sig}: {jobs} run(s) stopped with a checkpoint, {3 - jobs} not started" in err
    assert "run the same command again" in err and "train --resume" not in err
    assert not (runs / "seed-2").exists() and not any(runs.glob("seed-*/metrics.json"))
    for _ in range(50):  # the workers are gone with the sweep
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail("worker processes outlived the sweep")
