"""The reproducibility table: cells per group and seed, skipping committed cells, rows and verdicts."""

from __future__ import annotations

import json

from unidgm.experiments import reference as R
from unidgm.experiments.reference import GROUPS, Group, Row, cell_matches, collect, group_settings, run_cell, verdict


def test_every_published_reference_has_a_row():
    refs = sorted(r.reference for g in GROUPS.values() for r in g.rows)
    assert refs == sorted([-92.53, -86.76, -85.54, -122.89, 0.9437, 0.9582, 8.34, 0.985])


def test_verdicts():
    row = Row("x", "elbo", -100.0, "paper")
    assert verdict([], row) == "not run yet"
    assert verdict([-99.0, -99.5, -98.0], row) == "reached"
    assert verdict([-100.2, -99.0, -101.0], row) == "within noise"
    assert verdict([-110.0, -110.5, -109.5], row) == "short by 10"


def test_a_cell_trains_with_validation_evaluates_once_and_is_skipped_when_committed(tmp_path):
    g = Group("tiny", "vae", "small-data", {"steps": 60, "eval_every": 20, "val": 200, "kl_warmup": 10},
              ("elbo",), (Row("tiny VAE", "elbo", -1000.0, "none"),))
    cell = run_cell(g, 0, tmp_path / "runs", tmp_path / "results", None, data="digits")
    assert cell["selection"] == "validation" and cell["best"]["metric"] == "val/elbo"
    assert [c["step"] for c in cell["validation_curve"]] == [20, 40, 60]
    assert cell["metrics"]["elbo"] < 0 and cell["evaluation"]["checkpoint"]["kind"] == "best"
    assert 0 < cell["train_wall_to_best_s"] <= cell["train_wall_s"]
    path = R.cell_path(tmp_path / "results", "tiny", 0)
    saved = json.loads(path.read_text())
    assert saved["config"]["model_config"]["hidden"] == [200]  # the recipe's settings, expanded
    assert cell_matches(path, {"recipe": "small-data", "settings": group_settings(g), "max_minutes": None})
    assert not cell_matches(path, {"recipe": "small-data", "settings": {**group_settings(g), "model.z_dim": 5},
                                   "max_minutes": None})


def test_collect_reads_cells_into_rows(tmp_path, monkeypatch):
    folder = tmp_path / "reference" / "vae-1pct"
    folder.mkdir(parents=True)
    for s, v in enumerate([-121.0, -122.0, -123.0]):
        (folder / f"seed-{s}.json").write_text(json.dumps({
            "seed": s, "metrics": {"elbo": v}, "steps": 1000, "epochs": 166.7, "stopped": "early",
            "train_wall_s": 600, "budget": {"recipe": "small-data"}}))
    rows = {r["group"]: r for r in collect(tmp_path)["rows"]}
    assert rows["vae-1pct"]["ours_values"] == [-121.0, -122.0, -123.0]
    assert rows["vae-1pct"]["verdict"] == "reached" and rows["vae-1pct"]["selection"] == "validation"
    assert rows["vae-mnist"]["ours_values"] == [] and rows["vae-mnist"]["verdict"] == "not run yet"
    table = R.write(tmp_path)
    assert (tmp_path / "reference.md").read_text().count("|") > 20 and len(table["rows"]) == 8


def test_wall_at_step_adds_up_the_processes_of_a_resumed_run(tmp_path):
    rows = [(50, 1.0), (100, 2.0), (150, 0.5), (200, 1.5)]  # a resume after step 100: the clock starts again
    (tmp_path / "timing.jsonl").write_text("".join(json.dumps({"step": s, "wall_s": w, "cpu_s": w}) + "\n"
                                                   for s, w in rows))
    assert R.wall_at_step(tmp_path, 100) == 2.0 and R.wall_at_step(tmp_path, 120) == 2.2  # linear between steps 100 and 150
    assert R.wall_at_step(tmp_path, 200) == 3.5 and R.wall_at_step(tmp_path, 250) is None
    assert R.wall_at_step(tmp_path, 0) == 0.0 and R.wall_at_step(tmp_path / "missing", 10) is None


def test_late_gain_reads_the_last_quarter_of_the_validation_curve():
    curve = [{"step": s, "val/elbo": v, "val/elbo_best": v} for s, v in
             [(1000, -110.0), (2000, -100.0), (3000, -96.0), (4000, -95.0)]]
    g = R.late_gain(curve)
    assert g["metric"] == "val/elbo" and g["at_three_quarters"] == -96.0 and g["gain"] == 1.0
    assert R.late_gain(curve[:3]) is None  # too few validations to say
    flat = [{"step": s, "val/acc": v} for s, v in [(1, 0.5), (2, 0.9), (3, 0.9), (4, 0.8)]]
    assert R.late_gain(flat)["gain"] == 0.0  # the best came before the last quarter: converged or overfitting
    both = [{"step": s, "val/elbo": -s, "val/ssl_accuracy": a} for s, a in [(1, 0.5), (2, 0.6), (3, 0.7), (4, 0.9)]]
    g = R.late_gain(both, key="val/ssl_accuracy")  # a metric logged beside the selection one is not read
    assert g["metric"] == "val/ssl_accuracy" and abs(g["gain"] - 0.2) < 1e-12


def test_the_report_names_each_cells_command_and_where_it_ended(tmp_path):
    folder = tmp_path / "reference" / "m2-600"
    folder.mkdir(parents=True)
    curve = [{"step": s, "val/ssl_accuracy": 0.9 + s / 1e5} for s in range(1000, 9000, 1000)]
    (folder / "seed-2.json").write_text(json.dumps({
        "seed": 2, "metrics": {"ssl_accuracy": 0.95}, "steps": 8000, "stopped": "budget", "best": {"step": 8000},
        "validation_curve": curve, "train_wall_s": 60, "budget": {"recipe": "converged", "max_minutes": 60},
        "config": {"train": {"threads": 1}}}))
    md = R.render(collect(tmp_path))
    assert "`unidgm reproduce reference --only m2-600 --seed-list 2 --max-minutes 60 --threads 1" in md
    assert "| m2-600 | 2 | budget | 8000 | 8000 | val/ssl_accuracy 0.96 → 0.98 (+0.02) |" in md
    assert "0.9500 (one seed)" in md


def test_the_budget_names_the_recipe_a_groups_overrides_amount_to():
    from dataclasses import replace
    assert R.recipe_label(R.GROUPS["vae-mnist"]) == "converged"
    # the M2 rows are converged + the semi-supervised cadence: that recipe, by name
    assert R.recipe_label(R.GROUPS["m2-600"]) == "semi-supervised"
    odd = replace(R.GROUPS["vae-mnist"], overrides={"patience": 3})
    assert R.recipe_label(odd) == "converged with patience 3"


def test_the_dcgan_row_shows_the_real_test_images_score_beside_the_published_one(tmp_path):
    folder = tmp_path / "reference" / "dcgan-mnist"
    folder.mkdir(parents=True)
    for s, (v, real) in enumerate([(8.1, 9.80), (8.3, 9.82)]):
        (folder / f"seed-{s}.json").write_text(json.dumps({
            "seed": s, "metrics": {"inception_score": v}, "steps": 20000, "stopped": "budget", "train_wall_s": 3000,
            "evaluation": {"inception_score": {"mean": v, "std": 0.01, "real_test": {"mean": real, "std": 0.01}}},
            "budget": {"recipe": "converged"}}))
    row = {r["group"]: r for r in collect(tmp_path)["rows"]}["dcgan-mnist"]
    assert row["real_test_values"] == [9.80, 9.82] and row["ours_values"] == [8.1, 8.3]
    R.write(tmp_path)
    line = next(ln for ln in (tmp_path / "reference.md").read_text().splitlines() if ln.startswith("| DCGAN"))
    assert "8.34 (the paper, Table 2); real test images: 9.81" in line
