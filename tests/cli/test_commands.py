"""Every CLI command for a step or two, through `unidgm.cli.main` (the `unidgm` entry point)."""

import json

import pytest

from unidgm.cli import main


def run(capsys, *argv):
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_models_lists_the_zoo_with_techniques_and_pairs(capsys):
    rc, out, _ = run(capsys, "models")
    assert rc == 0
    for name in ("gan", "cgan", "acgan", "infogan", "vae", "cvae", "iwae", "svae", "wake_sleep", "aae", "vaegan",
                 "bigan", "ada", "cyclegan", "avb"):
        assert f"\n{name} " in out
    assert "IWGAN" in out and "AA-VAE" in out and "z:adversarial" in out


def test_explain_reads_the_definition(capsys):
    rc, out, _ = run(capsys, "explain", "vae", "--aa")
    assert rc == 0 and "q_φ(y|x)" in out and "phi" in out and "theta_eta" in out and "Lemma 2" in out


def test_train_eval_sample_round_trip(capsys, tmp_path):
    rc, out, _ = run(capsys, "train", "vae", "--data", "digits", "steps=30", "model.hidden=32", "--out", "r",
                     "--no-progress")
    assert rc == 0 and "run folder: r" in out
    rc, out, _ = run(capsys, "eval", "r", "--metrics", "elbo,log_likelihood", "--k", "20", "--max-test", "50")
    metrics = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert rc == 0 and metrics["log_likelihood"]["k"] == 20 and metrics["elbo"]["n_test"] == 50
    assert "fixed" in metrics["elbo"]["binarisation"]
    rc, out, _ = run(capsys, "sample", "r", "--n", "16")
    assert rc == 0 and (tmp_path / "r" / "samples" / "sample.png").stat().st_size > 100


def test_eval_refuses_a_metric_that_does_not_apply(capsys):
    assert run(capsys, "train", "gan", "--data", "ring8", "steps=5", "--out", "g", "--no-progress")[0] == 0
    rc, _, err = run(capsys, "eval", "g", "--metrics", "elbo")
    assert rc == 2 and "do not apply" in err and "modes" in err


def test_mode_metrics_through_eval(capsys, tmp_path):
    assert run(capsys, "train", "gan", "--data", "ring8", "steps=5", "--out", "g", "--no-progress")[0] == 0
    rc, out, _ = run(capsys, "eval", "g", "--n-samples", "500")
    result = json.loads((tmp_path / "g" / "metrics.json").read_text())
    assert rc == 0 and 0 <= result["modes"]["modes_captured"] <= 8


@pytest.mark.parametrize("what", ["lemma2", "table1"])
def test_theory_commands(capsys, what):
    rc, out, _ = run(capsys, "theory", what)
    assert rc == 0
    if what == "table1":
        assert out.startswith("| component |") and r"KL(p_θ(x\|y) ‖ q^r(x\|y))" in out and r"q_*(y\|x)" in out


def test_overrides_before_and_after_options(capsys):
    rc, out, _ = run(capsys, "train", "gan", "steps=3", "--data", "ring8", "batch_size=16", "--out", "o", "--no-progress")
    assert rc == 0


def test_bad_overrides_are_all_listed(capsys):
    rc, _, err = run(capsys, "train", "vae", "steps=-3", "lr=abc", "stepz=1")
    assert rc == 2 and "steps=-3" in err and "'abc'" in err and "Did you mean: steps" in err


def test_download_flag_fails_clearly_offline(capsys, monkeypatch):
    import unidgm.data.fetch as fetch

    def offline(*a, **k):
        raise OSError("network unreachable (test)")
    monkeypatch.setattr(fetch.urllib.request, "urlopen", offline)
    rc, _, err = run(capsys, "train", "vae", "--data", "mnist", "--download", "--data-root", "root", "steps=1")
    assert rc == 2 and "could not download" in err and "root/mnist" in err
