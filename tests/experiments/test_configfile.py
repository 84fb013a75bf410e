"""Experiment files: JSON, TOML, a run's own config.json, unknown keys, `unidgm config`, sweep --config."""

import json
import tomllib
from dataclasses import fields

import pytest

import unidgm
from unidgm.cli import main
from unidgm.errors import ConfigError
from unidgm.experiments.configfile import default_toml, settings_from_file
from unidgm.registry import MODELS


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_and_toml_files_give_the_same_settings_with_overrides_on_top(tmp_path):
    (tmp_path / "e.json").write_text(json.dumps({"model": "vae", "data": "ring8", "model_config": {"z_dim": 3},
                                                 "train": {"steps": 7}}))
    (tmp_path / "e.toml").write_text('model = "vae"\ndata = "ring8"\n[model_config]\nz_dim = 3\n[train]\nsteps = 7\n')
    a, b = settings_from_file(tmp_path / "e.json"), settings_from_file(tmp_path / "e.toml")
    assert a.to_dict() == b.to_dict() and a.model_config.z_dim == 3 and a.train.steps == 7
    c = settings_from_file(tmp_path / "e.toml", overrides=["steps=9", "model.hidden=[8]"], data="digits")
    assert (c.train.steps, c.model_config.hidden, c.model_config.z_dim, c.data) == (9, (8,), 3, "digits")
    with_iw = settings_from_file(tmp_path / "e.json", techniques=["aa"])
    assert list(with_iw.techniques) == ["aa"]
    # a named recipe in the file expands under the file's own values, as recipe= does on the command line
    (tmp_path / "r.toml").write_text('model = "vae"\n[train]\nrecipe = "paper"\nsteps = 7\n')
    r = settings_from_file(tmp_path / "r.toml")
    assert (r.train.recipe, r.train.steps, r.train.batch_size, r.train.eval_every) == ("paper", 7, 100, 2000)


def test_unknown_keys_and_bad_files_are_refused_with_suggestions(tmp_path):
    cases = {
        "top.toml": ('modle = "vae"\n', "unknown top-level key\\(s\\): modle. Did you mean: model"),
        "sect.toml": ('model = "vae"\n[model_config]\nzdim = 3\n', "unknown key 'model.zdim'. Did you mean: model.z_dim"),
        "train.json": ('{"model": "vae", "train": {"stpes": 3}}', "unknown key 'train.stpes'. Did you mean: train.steps"),
        "model.json": ('{"model": "vea"}', "unknown model 'vea'. Did you mean: vae"),
        "nomodel.toml": ('data = "digits"\n', "no model"),
        "broken.toml": ('model = \n', "not valid TOML"),
        "broken.json": ('{"model": ', "not valid JSON"),
        "tech.toml": ('model = "gan"\n[techniques.iw]\nkk = 3\n', "unknown key 'iw.kk'. Did you mean: iw.k"),
        "value.toml": ('model = "vae"\n[train]\nsteps = -1\n', "steps=-1 must be > 0"),
    }
    for name, (text, why) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError, match=why):
            settings_from_file(tmp_path / name)
    with pytest.raises(ConfigError, match="does not exist; write one with `unidgm config MODEL"):
        settings_from_file(tmp_path / "absent.toml")
    with pytest.raises(ConfigError, match="describes a vae run but the command names gan"):
        settings_from_file(tmp_path / "value.toml", model="gan")
    with pytest.raises(ConfigError, match="unknown key 'model.zz'"):
        settings_from_file(_write(tmp_path, 'model = "vae"\n'), overrides=["model.zz=1"])


def _write(tmp_path, text, name="ok.toml"):
    (tmp_path / name).write_text(text)
    return tmp_path / name


def test_config_prints_every_key_with_its_help_and_parses_back_for_every_model():
    for name in MODELS.names():
        text = default_toml(name)
        parsed = tomllib.loads(text)
        cfg = MODELS.get(name).config()
        for f in fields(cfg):
            if getattr(cfg, f.name) is None:
                assert f"# {f.name} = " in text  # TOML has no null: a None default is shown commented out
            else:
                assert f.name in parsed["model_config"]
            assert f.metadata.get("help", "") in text
    text = default_toml("gan", ["iw"])
    assert "group" in tomllib.loads(text)["techniques"]["iw"] and "# k = " in text and "# Techniques: add" not in text


def test_cli_config_then_train_from_it_and_from_a_runs_config_json(capsys, tmp_path):
    rc, out, err = run(capsys, "config", "vae")
    assert rc == 0 and "z_dim = 50" in out and "code size" in out and "[train]" in out
    rc, _, err = run(capsys, "config", "vae", "--iw")
    assert rc == 2 and "does not apply to vae" in err
    assert run(capsys, "config", "vae", "--data", "ring8", "--out", "exp.toml")[0] == 0
    rc, out, err = run(capsys, "train", "--config", "exp.toml", "steps=3", "model.hidden=[8]", "threads=1",
                       "model.likelihood=gaussian",  # ring8 is real-valued: a Bernoulli decoder is refused
                       "--no-progress", "--out", "a")
    assert rc == 0, err
    first = json.loads((tmp_path / "a" / "config.json").read_text())
    assert first["data"] == "ring8" and first["train"]["steps"] == 3 and first["model_config"]["hidden"] == [8]
    rc, _, err = run(capsys, "train", "--config", "a/config.json", "steps=4", "--out", "b")  # a run's own file
    assert rc == 0, err
    second = json.loads((tmp_path / "b" / "config.json").read_text())
    assert second["model_config"] == first["model_config"] and second["train"]["steps"] == 4
    assert {k: v for k, v in second["train"].items() if k != "steps"} == \
        {k: v for k, v in first["train"].items() if k != "steps"}
    rc, _, err = run(capsys, "train", "--config", "a/config.json", "stpes=4", "--out", "c")
    assert rc == 2 and "Did you mean: steps" in err
    rc, _, err = run(capsys, "train", "--config", "a/config.json", "--resume", "a")
    assert rc == 2 and "pass one of them" in err
    run_ = unidgm.fit(config=tmp_path / "a" / "config.json", overrides={"steps": 2}, out=tmp_path / "d")
    assert run_.settings.train.steps == 2 and run_.settings.model_config.hidden == (8,)


def test_sweep_from_a_config_file(capsys, tmp_path):
    _write(tmp_path, 'model = "vae"\ndata = "ring8"\n[model_config]\nhidden = [8]\nz_dim = 2\nlikelihood = "gaussian"\n'
                     '[train]\nsteps = 3\nthreads = 1\n', "s.toml")
    rc, out, err = run(capsys, "sweep", "--config", "s.toml", "batch_size=16", "--seeds", "1", "--metrics", "elbo",
                       "--curve-points", "0", "--out", "sw")
    assert rc == 0, err
    config = json.loads((tmp_path / "sw" / "runs" / "vae" / "seed-0" / "config.json").read_text())
    assert config["model_config"]["z_dim"] == 2 and config["train"]["batch_size"] == 16
    assert config["train"]["steps"] == 3 and "elbo" in out
