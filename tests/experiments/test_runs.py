"""`unidgm runs` and `unidgm compare` on real run folders, and the optional MLflow tracker."""

import json
import shutil

import pytest

import unidgm
from unidgm.cli import main
from unidgm.experiments.runs import compare, find_runs, summary

TINY = {"steps": 6, "model.hidden": "[8]", "threads": 1, "batch_size": 16, "log_every": 3, "ckpt_every": 3}
GAUSSIAN = {"model.likelihood": "gaussian"}  # ring8 is real-valued: a VAE's Bernoulli decoder is refused on it


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def runs(tmp_path):
    """runs/{vae, gan} finished, runs/cut interrupted at step 3, runs/dead failed, runs/sweep/x/seed-0 nested."""
    unidgm.fit("vae", "ring8", overrides={**TINY, **GAUSSIAN}, out=tmp_path / "runs" / "vae", progress=False)
    unidgm.fit("gan", "ring8", overrides=TINY, out=tmp_path / "runs" / "gan", progress=False)
    shutil.copytree(tmp_path / "runs" / "vae", tmp_path / "runs" / "cut")
    cut = tmp_path / "runs" / "cut"
    shutil.rmtree(cut / "checkpoints" / "ckpt-00000006")  # as if stopped by a signal at step 3
    (cut / "checkpoints" / "latest").write_text("ckpt-00000003")
    rows = (cut / "metrics.jsonl").read_text().splitlines()
    (cut / "metrics.jsonl").write_text("\n".join(r for r in rows if json.loads(r)["step"] <= 3) + "\n")
    shutil.copytree(tmp_path / "runs" / "vae", tmp_path / "runs" / "dead")
    shutil.rmtree(tmp_path / "runs" / "dead" / "checkpoints")  # died before its first checkpoint
    shutil.copytree(tmp_path / "runs" / "vae", tmp_path / "runs" / "sweep" / "x" / "seed-0")
    return tmp_path / "runs"


def test_states_steps_and_the_selection_metric(runs):
    assert [p.relative_to(runs).as_posix() for p in find_runs(runs)] == ["cut", "dead", "gan", "sweep/x/seed-0", "vae"]
    states = {p.name: summary(p) for p in find_runs(runs)}
    assert states["vae"]["state"] == "finished" and states["vae"]["steps"] == "6/6"
    assert states["cut"]["state"] == "interrupted" and states["cut"]["steps"] == "3/6"
    assert states["dead"]["state"] == "failed" and states["dead"]["steps"] == "0/6"
    last = [json.loads(r) for r in (runs / "gan" / "metrics.jsonl").read_text().splitlines()][-1]
    assert states["gan"]["metric"] == f"phi/loss {last['phi/loss']:.4g}, theta/loss {last['theta/loss']:.4g}"
    # early stopping ended a run before its steps: patience spent, as the checkpoint's selection state says
    state_file = runs / "cut" / "checkpoints" / "ckpt-00000003" / "state.json"
    state = json.loads(state_file.read_text())
    state["selection"] = {**(state.get("selection") or {}), "since_best": 2}
    state_file.write_text(json.dumps(state))
    config = json.loads((runs / "cut" / "config.json").read_text())
    config["train"]["patience"] = 2
    (runs / "cut" / "config.json").write_text(json.dumps(config))
    assert summary(runs / "cut")["state"] == "finished (early stop)"
    (runs / "vae" / "best.json").write_text(json.dumps({"metric": "val/elbo", "value": -3.25, "step": 3,
                                                        "higher_is_better": True}))
    assert summary(runs / "vae")["metric"] == "val/elbo -3.25 (best, step 3)"


def test_runs_command_lists_every_run_folder(capsys, runs, tmp_path):
    rc, out, _ = run(capsys, "runs", str(runs))
    assert rc == 0
    lines = out.splitlines()
    assert lines[0].split() == ["run", "model", "techniques", "data", "steps", "state", "metric"]
    body = {line.split()[0]: line.split() for line in lines[2:]}
    assert body["vae"][1:6] == ["vae", "—", "ring8", "6/6", "finished"]
    assert body["cut"][5] == "interrupted" and body["dead"][5] == "failed" and body["gan"][1] == "gan"
    assert "sweep/x/seed-0" in body
    (tmp_path / "empty").mkdir()
    assert "no run folders under" in run(capsys, "runs", str(tmp_path / "empty"))[1]
    rc, _, err = run(capsys, "runs", str(tmp_path / "nowhere"))
    assert rc == 2 and "is not a folder" in err


def test_compare_writes_one_table_and_one_figure(capsys, runs):
    assert run(capsys, "eval", str(runs / "vae"), "--metrics", "elbo")[0] == 0
    rc, out, err = run(capsys, "compare", str(runs / "vae"), str(runs / "gan"), str(runs / "cut"))
    assert rc == 0, err
    header, _, vae, gan, cut = out.splitlines()[:5]
    assert header.split()[-1] == "elbo" and vae.split()[0] == "vae" and gan.split()[0] == "gan"
    elbo = json.loads((runs / "vae" / "metrics.json").read_text())["elbo"]["value"]
    assert f"{elbo:.4g}" in vae and "interrupted" in cut
    figure = runs / "compare.png"
    assert out.splitlines()[-1] == f"wrote {figure}"
    from PIL import Image
    with Image.open(figure) as im:  # curves on top, one sample grid per run below: wider than tall
        assert im.size[0] > im.size[1] > 300
    table, path = compare([runs / "vae", runs / "sweep" / "x" / "seed-0"], out=runs / "two.png")
    assert path.is_file() and "seed-0" in table


def test_mlflow_tracker_logs_params_metrics_and_grids(tmp_path):
    pytest.importorskip("mlflow", reason="the optional MLflow extra is not installed (pip install 'unidgm[mlflow]')")
    from mlflow.tracking import MlflowClient
    r = unidgm.fit("vae", "ring8", overrides={**TINY, **GAUSSIAN, "mlflow": "mlruns"}, out=tmp_path / "r", progress=False)
    record = json.loads((r.path / "mlflow.json").read_text())
    assert record["tracking_uri"] == (tmp_path / "mlruns").as_uri()  # the relative folder, recorded absolute
    client = MlflowClient(tracking_uri=record["tracking_uri"])
    got = client.get_run(record["run_id"])
    assert got.info.status == "FINISHED" and got.data.params["train.steps"] == "6"
    assert got.data.params["model"] == "vae" and got.data.params["model_config.hidden"] == "[8]"
    history = client.get_metric_history(record["run_id"], "theta_eta/loss")
    logged = [json.loads(x) for x in (r.path / "metrics.jsonl").read_text().splitlines()]
    assert [m.step for m in history] == [3, 6]
    assert [m.value for m in history] == pytest.approx([row["theta_eta/loss"] for row in logged])
    assert [a.path for a in client.list_artifacts(record["run_id"], "samples")] == ["samples/step-00000006.png"]
    unidgm.resume(r.path, overrides=["steps=9"], progress=False)  # continues the same MLflow run
    assert json.loads((r.path / "mlflow.json").read_text())["run_id"] == record["run_id"]
    assert [m.step for m in client.get_metric_history(record["run_id"], "theta_eta/loss")] == [3, 6, 9]


def test_mlflow_setting_without_the_package_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    from unidgm.errors import ConfigError
    real = builtins.__import__

    def no_mlflow(name, *a, **kw):
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError("no mlflow")
        return real(name, *a, **kw)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(ConfigError, match="pip install 'unidgm\\[mlflow\\]'"):
        unidgm.fit("vae", "ring8", overrides={**TINY, **GAUSSIAN, "mlflow": "mlruns"}, out=tmp_path / "r", progress=False)
    assert not (tmp_path / "r").exists()  # refused before any folder is written
