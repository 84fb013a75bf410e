"""`unidgm theory modes`: the trained mode-coverage study writes its table and figure (tiny budget)."""

import json

import pytest

from unidgm.cli import main
from unidgm.errors import ConfigError
from unidgm.theory.modes import CHANCE, STUDY, run_mode_study

PNG = b"\x89PNG\r\n\x1a\n"


def test_tiny_study_writes_table_and_figure(tmp_path):
    result = run_mode_study(tmp_path, data="ring8", seeds=2, steps=3, n_samples=400, verbose=False)
    paths = result["paths"]
    assert paths["png"].read_bytes()[:8] == PNG and paths["png"].stat().st_size > 10_000
    md = paths["md"].read_text()
    assert md.startswith("# Mode coverage on ring8 (8 modes") and "3 steps" in md and "z_dim 4" in md
    names = [s[0] for s in STUDY] + [CHANCE]
    for name in names:
        assert f"| {name} |" in md
    table = json.loads(paths["json"].read_text())
    assert [r["model"] for r in table["rows"]] == names
    for row in table["rows"]:
        assert 0 <= row["modes captured"]["mean"] <= 8 and 0 <= row["high-quality fraction"]["mean"] <= 1
        assert row["modes captured (20% rule)"]["mean"] <= row["modes captured"]["mean"]
    # equal capacity and budget: one generator size, and the same shared settings for every model
    assert len({r["generator params"] for r in table["rows"] if r["model"] != CHANCE}) == 1
    shared = {k: table["settings"]["shared"][k] for k in ("model.z_dim", "model.hidden", "model.lr", "batch_size")}
    for per_model in table["settings"]["per_model"].values():
        assert {k: per_model[k] for k in shared} == shared and per_model["steps"] == 3
    assert all(len(v) == 2 for v in result["per_seed"].values())
    assert not (tmp_path / "runs").exists()          # run folders live in a temporary folder


def test_chance_row_captures_grid25_modes_by_spread_alone(tmp_path):
    """Why the table carries a chance row: on grid25 uniform samples pass the lenient 1% rule almost everywhere."""
    result = run_mode_study(tmp_path, data="grid25", seeds=1, steps=2, n_samples=5000, models=["GAN"], verbose=False)
    chance = result["per_seed"][CHANCE][0]
    assert chance["modes_captured"] >= 20 and chance["modes_captured_20"] == 0


def test_cli_theory_modes_quick_budget(tmp_path, capsys):
    assert main(["theory", "modes", "--seeds", "1", "--steps", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| GAN |" in out and (tmp_path / "modes_ring8.png").exists() and (tmp_path / "modes_ring8.md").exists()


def test_study_needs_a_mixture(tmp_path):
    with pytest.raises(ConfigError, match="ring8, grid25"):
        run_mode_study(tmp_path, data="digits", seeds=1, steps=1, verbose=False)
