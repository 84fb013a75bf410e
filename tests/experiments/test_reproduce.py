"""`unidgm reproduce`: recipes, budgets, verdicts, and a quick smoke run of Table 3 on tiny data."""

import json
from pathlib import Path

import pytest

from unidgm.cli import build_parser, main
from unidgm.errors import ConfigError
from unidgm.experiments import recipes as R
from unidgm.experiments.reproduce.plan import parse_steps
from unidgm.experiments.reproduce.probe import PROBE_VERSION, probe_version
from unidgm.experiments.reproduce.verdicts import verdict


def test_extended_recipes_are_the_base_recipe_plus_one_switch():
    assert R.IWGAN.model == R.GAN.model and R.IWGAN.techniques == ("iw",) and R.IWGAN.overrides == R.GAN.overrides
    assert R.AA_SVAE.model == "svae" and R.AA_SVAE.techniques == ("aa",) and R.AA_SVAE.family == R.SVAE.family
    ov = R.train_overrides(R.AA_VAE, 600, 100, 50)
    assert ov == R.train_overrides(R.VAE, 600, 100, 50) == {"steps": 100, "batch_size": 50, "n_train": 600,
                                                             "eval_every": 5}
    assert "eval_every" not in R.train_overrides(R.VAE, 600, 100, 50, select="last")
    assert R.train_overrides(R.SVAE, 600, 10, 10)["n_labelled"] == 600


def test_paper_numbers_sit_next_to_each_cell():
    t3 = {(c.setting, c.base.key): c for c in R.table3()}
    assert t3[("1%", "vae")].paper_base == (-122.89, None) and t3[("1%", "vae")].paper_ext == (-122.15, None)
    assert t3[("10%", "cvae")].paper_gain == pytest.approx(1.0)
    assert ("100%", "svae") not in t3  # the paper has no SVAE at 100%
    t2 = {(c.table, c.setting): c for c in R.table2(sizes=(1, 10), gan_sizes=(1, 100))}
    assert t2[("table2-left", "MNIST")].paper_ext == (8.45, 0.04)
    assert t2[("table2-middle", "SVHN")].paper_base == (0.797, 0.005)
    assert t2[("table2-right", "1%")].paper_base == (0.9412, None)
    assert t2[("table2-left", "MNIST 1%")].paper_base is None  # an extra row, not in the paper


def test_sizes_are_class_balanced_counts():
    assert R.size_to_n(0.01, 60000) == 600 and R.size_to_n(0.1, 60000) == 6000 and R.size_to_n(None, 60000) is None
    assert R.size_to_n(0.01, 1500) == 20 and R.size_to_n(0.001, 1500) == 10


def test_steps_option():
    every = {"vae": 300, "svae": 300, "gan": 300}
    assert parse_steps("300", False) == (every, every)
    assert parse_steps("svae=7", True) == ({**R.QUICK_STEPS, "svae": 7}, {"svae": 7})  # named ones win over a recipe's
    assert parse_steps("svae@1=7,svae:ablations=9", False)[1] == {"svae@1": 7, "svae:ablations": 9}
    with pytest.raises(ConfigError, match="families"):
        parse_steps("vea=3", False)
    with pytest.raises(ConfigError, match="only 'ablations'"):
        parse_steps("svae:ablation=3", False)


def test_verdict_rule():
    assert verdict([1.0, 1.2, 0.9], [0.5, 0.7]) == "reproduced"
    assert verdict([1.0, 1.2, 0.9], [0.5, -0.1]) == "direction reproduced"  # not along training
    assert verdict([1.0, -0.9, 0.1], [0.5, 0.7]) == "direction reproduced"  # within noise
    assert verdict([-1.0, -0.5, 0.1], [0.5]) == "not reproduced"
    assert verdict([], []) == "not run"


def test_quick_table3_smoke_run_on_digits(tmp_path, capsys):
    out = tmp_path / "res"
    rc = main(["reproduce", "table3", "--quick", "--sizes", "1", "--seeds", "2", "--out", str(out),
               "--data-root", str(tmp_path / "no-mnist-here")])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "at most 4/8 steps (no recipe)" in printed  # each run's own cap, not --steps' default
    md = (out / "table3.md").read_text()
    assert "122.89" in md and "122.15" in md and "108.22" in md  # the paper's numbers
    assert "digits" in md and "Verdict rule" in md and "Training curves" in md
    assert "validation split" in md and "Mechanism" in md  # curves from validation; AA's D(x) along training
    assert "AA: D(x) on real examples" in md and "AA-SVAE: share of generated examples" in md
    assert "Equal wall clock (validation)" in md
    assert "D(x) of the selected model on held-out validation images" in md  # RUN/probe.json of the AA runs
    probe = json.loads((out / "runs" / "aa-vae-digits-1pct-8steps-val-quick" / "seed-0" / "probe.json").read_text())
    assert 0 < probe["d_train"] < 1 and 0 < probe["d_heldout"] < 1 and probe["checkpoint"]["kind"] == "best"
    assert 0 < probe["d_train_ess"] <= 1  # D(x) as Eq. 17's weights of the training images: Kish's ESS / n
    assert probe_version(probe) == PROBE_VERSION and probe_version({"d_train": 0.5}) == 1 and probe_version(None) == 0
    assert not (out / "runs" / "vae-digits-1pct-8steps-val-quick" / "seed-0" / "probe.json").exists()  # no D
    table = json.loads((out / "table3.json").read_text())
    rows = {r["base"]: r for r in table["rows"]}
    assert set(rows) == {"VAE", "CVAE", "SVAE"}
    for r in rows.values():
        assert len(r["ours_base_values"]) == 2 and len(r["ours_ext_values"]) == 2  # our numbers, 2 seeds
        assert r["ours_base"] in md and r["ours_ext"] in md
        assert r["verdict"] in ("reproduced", "direction reproduced", "not reproduced")
        assert r["n"] == 20 and r["data"] == "digits"
    # the same pairs at the shorter run's training time, on validation ELBO; the SVAE, selected on its accuracy,
    # logs its validation ELBO beside it, so its ELBO row has the comparison too
    # (a seed, or a whole row, drops out when one model's first validation came after the other run ended: on
    # runs of a few steps that is wall-clock timing, which load shifts, as seen under pytest-xdist beside two
    # training lanes; test_equal_wall_clock_compares_the_best_validation_reached_in_the_shorter_run pins the rule)
    compared = [r["equal_time"] for r in rows.values() if r["equal_time"]]
    assert compared and all(set(et["seeds"]) <= {0, 1} and len(et["diffs"]) == len(et["seeds"]) for et in compared)
    assert table["machine"]["torch"] and table["invocations"][0]["command"].startswith("unidgm reproduce")
    train_cmd, eval_cmd = table["run_commands"]["aa-vae-digits-1pct-8steps-val-quick"]["1"]
    assert train_cmd.startswith("unidgm train vae --data digits --technique aa") and "seed=1" in train_cmd
    assert (out / "figures" / "curve-table3-1pct-vae.png").exists()
    assert (out / "figures" / "samples-aa-vae-digits-1pct-8steps-val-quick.png").exists()
    assert (out / "table3.csv").exists() and (out / "reproduce.md").exists()
    assert "122.89" in printed
    # a second invocation skips every finished run and only rebuilds the report; a probe written before the
    # weights' ESS was measured is redone (its run's checkpoints are here)
    old_probe = out / "runs" / "aa-vae-digits-1pct-8steps-val-quick" / "seed-1" / "probe.json"
    old_probe.write_text(json.dumps({k: v for k, v in json.loads(old_probe.read_text()).items()
                                     if k not in ("d_train_ess", "version")}))
    assert main(["reproduce", "table3", "--quick", "--sizes", "1", "--seeds", "2", "--out", str(out),
                 "--data-root", str(tmp_path / "no-mnist-here")]) == 0
    printed = capsys.readouterr().out
    assert "12 of 12 runs already finished" in printed and "probed the discriminators of 1 finished run" in printed
    redone = json.loads(old_probe.read_text())
    assert "d_train_ess" in redone and redone["version"] == PROBE_VERSION


def test_table2_reports_svhn_as_skipped_without_its_files(tmp_path):
    out = tmp_path / "res"
    assert main(["reproduce", "table2", "--quick", "--sizes", "1", "--seeds", "1", "--steps", "2", "--out", str(out),
                 "--data-root", str(tmp_path / "none"), "--report-only"]) == 0
    md = (out / "table2.md").read_text()
    assert "skipped: no SVHN files" in md and "8.34" in md and "0.9412" in md


def test_without_mnist_a_full_run_refuses_clearly(tmp_path, capsys):
    assert main(["reproduce", "table3", "--out", str(tmp_path / "r"), "--data-root", str(tmp_path / "none")]) == 2
    assert "--quick" in capsys.readouterr().err


def test_recipe_option_sets_the_training_recipe_of_base_and_extended_models_alike():
    from types import SimpleNamespace
    from unidgm.experiments.reproduce.plan import Plan
    assert R.parse_training("small-data") == {f: "small-data" for f in R.FAMILIES}
    assert R.parse_training("vae=small-data,svae=converged") == {"vae": "small-data", "svae": "converged"}
    with pytest.raises(ConfigError, match="unknown recipe"):
        R.parse_training("vae=smalldata")
    with pytest.raises(ConfigError, match="families"):
        R.parse_training("vea=small-data")
    args = SimpleNamespace(quick=False, select="validation", seeds=1, steps=None, curve_points=None, data_root=None,
                           data="digits", sizes="1", gan_sizes="100", table="table3", recipe="vae=small-data")
    plan = Plan(args)
    vae, aa = plan.pair(next(c for c in plan.comparisons if c.base.key == "vae"))
    assert vae.overrides["recipe"] == aa.overrides["recipe"] == "small-data" and "eval_every" not in vae.overrides
    assert vae.steps == aa.steps == 30000 and vae.name.endswith("-30000steps-small-data-val")  # the recipe's budget
    svae = plan.pair(next(c for c in plan.comparisons if c.base.key == "svae"))[0]
    assert "recipe" not in svae.overrides and svae.overrides["eval_every"] >= 1  # families left out: as before
    plan = Plan(SimpleNamespace(**{**vars(args), "steps": "vae=500"}))
    assert plan.pair(plan.comparisons[0])[0].steps == 500  # --steps caps the recipe's budget
    plan = Plan(SimpleNamespace(**{**vars(args), "steps": "svae=700"}))
    assert plan.pair(plan.comparisons[0])[0].steps == 30000  # a family --steps does not name keeps the recipe's
    quick = Plan(SimpleNamespace(**{**vars(args), "quick": True}))
    assert quick.pair(quick.comparisons[0])[0].steps == R.QUICK_STEPS["vae"]  # a smoke run stays one
    with pytest.raises(ConfigError, match="select last"):
        Plan(SimpleNamespace(**{**vars(args), "select": "last"}))
    semi = Plan(SimpleNamespace(**{**vars(args), "recipe": "vae=small-data,svae=semi-supervised"}))
    svae, aa_svae = semi.pair(next(c for c in semi.comparisons if c.base.key == "svae"))
    assert svae.steps == aa_svae.steps == 50000 and svae.name.endswith("-50000steps-semi-supervised-val")


def test_only_trains_the_comparisons_of_the_named_base_models_and_reports_them_all():
    from types import SimpleNamespace
    from unidgm.experiments.reproduce.command import command_line
    from unidgm.experiments.reproduce.plan import Plan
    args = SimpleNamespace(quick=True, select="validation", seeds=1, steps=None, curve_points=None, data_root=None,
                           data="digits", sizes="1", gan_sizes="100", table="table3", recipe=None, ablations="all",
                           only="vae,cvae")
    plan = Plan(args)
    trained = {v.name.split("-digits-")[0] for v in plan.ordered()}
    assert trained == {"vae", "aa-vae", "cvae", "aa-cvae", *(f"aa-{b}-{s}" for b in ("vae", "cvae")
                                                            for s in ("warmup1000", "normmean", "ratio2"))}
    assert {c.base.key for c in plan.comparisons} == {"vae", "cvae", "svae"}  # the report: the whole table
    assert "--only vae,cvae" in command_line(SimpleNamespace(**vars(args), out="o", runs=None, jobs=1, threads=None,
                                                              report_only=False))
    with pytest.raises(ConfigError, match="base model"):
        Plan(SimpleNamespace(**{**vars(args), "only": "aa-vae"}))
    from unidgm.experiments.reproduce.plan import run_cost_ms
    cost = {v.name.split("-digits-")[0]: run_cost_ms(v) for v in plan.ordered()}
    assert cost["aa-vae-ratio2"] == cost["aa-vae"] > cost["vae"]  # an ablation costs as its model (longest first)
    some = SimpleNamespace(**{**vars(args), "ablations": "ratio2"})  # --ablations ratio2: that row only
    assert {v.name.split("-digits-")[0] for v in Plan(some).ordered()} == {"vae", "aa-vae", "cvae", "aa-cvae",
                                                                           "aa-vae-ratio2", "aa-cvae-ratio2"}
    assert command_line(SimpleNamespace(**vars(some), out="o", runs=None, jobs=1, threads=None,
                                        report_only=True)).endswith("--ablations ratio2 --report-only")
    with pytest.raises(ConfigError, match="unknown ratio3.*warmup1000,normmean,ratio2"):
        Plan(SimpleNamespace(**{**vars(args), "ablations": "ratio3"}))
    # --seed-list: a lane trains some seeds, the report covers --seeds
    lane = SimpleNamespace(**{**vars(args), "seeds": 3, "seed_list": "2"})
    assert Plan(lane).train_seeds == [2] and Plan(lane).seeds == [0, 1, 2] and Plan(args).train_seeds == [0]
    assert "--seed-list 2" in command_line(SimpleNamespace(**vars(lane), out="o", runs=None, jobs=1, threads=None,
                                                            report_only=False))
    for bad, why in (("3", "outside the report's seeds"), ("x", "not an integer")):
        with pytest.raises(ConfigError, match=why):
            Plan(SimpleNamespace(**{**vars(lane), "seed_list": bad}))


def test_ablation_rows_can_keep_a_budget_of_their_own():
    """``--recipe svae=semi-supervised,svae:ablations=none --steps svae=15000,svae:ablations=5000``: the main rows
    train longer under the recipe while the ablation rows (base and extended model alike) keep the budget they
    were run at, so a longer main budget does not orphan the committed ablation runs."""
    from types import SimpleNamespace
    from unidgm.experiments.reproduce.plan import Plan
    assert R.parse_training("svae=semi-supervised,svae:ablations=none") == {"svae": "semi-supervised",
                                                                            "svae:ablations": None}
    assert R.training_for({"vae": "converged", "vae@1:ablations": "small-data"}, "vae", 0.01, ablation=True) == \
        "small-data"
    assert R.training_for({"vae": "converged", "vae@1:ablations": "small-data"}, "vae", 0.01) == "converged"
    args = SimpleNamespace(quick=False, select="validation", seeds=1, data_root=None, curve_points=None,
                           data="digits", sizes="1", gan_sizes="100", table="table3", only=None, ablations="agree",
                           recipe="svae=semi-supervised,svae:ablations=none", steps="svae=15000,svae:ablations=5000")
    plan = Plan(args)
    svae = [c for c in plan.comparisons if c.base.key == "svae"]
    main_row, ablation_row = (next(c for c in svae if (c.ablation is None) == want) for want in (True, False))
    assert [v.name.split("-digits-")[1] for v in plan.pair(main_row)] == ["1pct-15000steps-semi-supervised-val"] * 2
    assert [v.name.split("-digits-")[1] for v in plan.pair(ablation_row)] == ["1pct-5000steps-val"] * 2
    assert "recipe" not in plan.pair(ablation_row)[1].overrides
    # without the :ablations keys the ablation rows follow the main budget, as before
    plain = Plan(SimpleNamespace(**{**vars(args), "recipe": "svae=semi-supervised", "steps": "svae=15000"}))
    row = next(c for c in plain.comparisons if c.base.key == "svae" and c.ablation)
    assert plain.pair(row)[1].name.endswith("-15000steps-semi-supervised-val")


def test_a_recipe_can_be_given_per_training_data_size():
    """``vae@1=small-data,vae=converged``: the small-data recipe at 1%, converged at the other sizes, base and
    extended model alike; the variant's name and the report's budget column say which."""
    from types import SimpleNamespace
    from unidgm.experiments.reproduce.plan import Plan
    from unidgm.experiments.reproduce.render import _ended
    assert R.parse_training("vae@1=small-data,vae=converged") == {"vae@1": "small-data", "vae": "converged"}
    assert R.training_for({"vae@1": "small-data", "vae": "converged"}, "vae", 0.01) == "small-data"
    assert R.training_for({"vae@1": "small-data", "vae": "converged"}, "vae", 0.1) == "converged"
    assert R.training_for({"vae@1": "small-data"}, "vae", None) is None  # all data: no recipe named
    for bad in ("vae@x=small-data", "vae@0=small-data", "vae@=converged"):
        with pytest.raises(ConfigError, match="percentage"):
            R.parse_training(bad)
    args = SimpleNamespace(quick=False, select="validation", seeds=1, steps=None, curve_points=None, data_root=None,
                           data="digits", sizes="1,10", gan_sizes="100", table="table3",
                           recipe="vae@1=small-data,vae=converged")
    plan = Plan(args)
    by_size = {c.setting: plan.pair(c) for c in plan.comparisons if c.base.key == "vae"}
    assert {v.overrides["recipe"] for v in by_size["1%"]} == {"small-data"}
    assert {v.overrides["recipe"] for v in by_size["10%"]} == {"converged"}
    assert by_size["10%"][0].name.endswith("-300000steps-converged-val")
    row = {"steps": 30000, "steps_done": [9500, 12000], "best_steps": [6500, 9000]}
    assert _ended(row) == "; trained 9500–12000 steps (early stopping), selected at 6500–9000"
    assert _ended({**row, "steps_done": [30000, 30000]}) == ""  # every run used its whole budget


def test_equal_wall_clock_compares_the_best_validation_reached_in_the_shorter_run():
    from unidgm.experiments.reproduce.verdicts import equal_time
    curve = lambda pts: {"source": "validation", "points": [{"step": s, "elbo": v} for s, v in pts]}  # noqa: E731
    base = {"by_seed": {0: {"curve": curve([(100, -10.0), (200, -8.0), (300, -9.0)]),
                            "wall": [(100, 10.0), (200, 20.0), (300, 30.0)]}}}
    # twice the time per step: when the base run ends (30 s) the extended one has validated at step 100 only
    ext = {"by_seed": {0: {"curve": curve([(100, -9.0), (200, -7.0), (300, -6.0)]),
                           "wall": [(100, 20.0), (200, 40.0), (300, 60.0)]}}}
    et = equal_time(base, ext, "elbo")
    assert et["seconds"] == [30.0] and et["base"] == [-8.0] and et["ext"] == [-9.0] and et["diffs"] == [-1.0]
    assert equal_time(ext, base, "elbo")["diffs"] == [1.0]  # the pair the other way round
    ext["by_seed"][0]["curve"]["source"] = "test-subset"  # a curve on test (select=last) is not used
    assert equal_time(base, ext, "elbo") is None


def test_late_gains_are_the_second_half_of_curves_that_stop_early():
    from unidgm.experiments.reproduce.verdicts import _curve_gain
    curve = lambda vals: {"points": [{"step": s, "elbo": v} for s, v in vals]}  # noqa: E731
    base = {"curves": [curve([(100, -10.0), (200, -9.0), (300, -8.0), (400, -7.5)])]}
    ext = {"curves": [curve([(100, -10.5), (200, -8.5), (300, -7.0), (400, -7.0)])]}
    g = _curve_gain(base, ext, "elbo", steps=30000)  # early-stopped at 400 of a 30000-step cap
    assert g["late_gains"] == [0.5, 1.0, 0.5]


def test_ablation_rows_change_one_setting_of_the_extended_model(tmp_path):
    comps = R.table3((1,)) + R.table2((1,), (100,), datasets=("mnist",))
    rows = R.ablations(comps)
    by = {(c.table, c.ext.key): c for c in rows}
    agree = by[("table2-right", "aa-svae-agree")]
    assert agree.ext.overrides == {"aa.agree": True} and agree.base is R.SVAE and agree.paper_base is None
    assert "beyond the paper" in agree.ablation and agree.key != R.table2((1,), (100,), ("mnist",))[-1].key
    assert by[("table2-left", "iwgan-tau0.5")].ext.overrides == {"model.arch": "auto", "iw.temper": 0.5}
    assert {k for t, k in by if t == "table3"} >= {"aa-vae-warmup1000", "aa-cvae-normmean", "aa-svae-agree",
                                                   "aa-svae-labelled-d"}
    out = tmp_path / "res"  # the rows as the report lists them (their runs train like any other variant's)
    # `--ablations table3`: the flag's optional value must not swallow the table
    assert main(["reproduce", "--quick", "--sizes", "1", "--seeds", "1", "--ablations", "table3", "--report-only",
                 "--out", str(out), "--data-root", str(tmp_path / "none")]) == 0
    table = json.loads((out / "table3.json").read_text())
    abl = [r for r in table["rows"] if r.get("ablation")]
    assert len(abl) == 9 and all(r["paper_base"] is None and r["ext_run"].startswith(r["extended"][:2].lower())
                                 for r in abl)
    assert len({r["ext_run"] for r in table["rows"]}) == len(table["rows"])  # runs of their own
    assert "(ablation)" in (out / "table3.md").read_text()
    assert main(["reproduce", "--ablations", "ratio2", "--out", str(out)]) == 2  # no table: a clear error


def test_a_report_lists_only_the_invocations_that_trained_its_runs(tmp_path):
    from unidgm.experiments.reproduce.command import invocations
    out = tmp_path / "res"
    out.mkdir()
    rows = [{"command": f"unidgm reproduce table3 --out {out} --runs runs/old"},
            {"command": f"unidgm reproduce table3 --out {out}"},
            {"command": "unidgm reproduce table3 --out elsewhere", "runs": str(out / "runs")}]
    (out / "invocations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert invocations(out, out / "runs") == rows[1:]
    assert invocations(out, Path("runs/old")) == rows[:1] and invocations(out) == rows


def test_a_lane_that_reports_elsewhere_leaves_its_command_beside_its_runs(tmp_path, monkeypatch):
    # a lane: `--out /tmp/lane --runs <the results' runs>`; the results' own report still lists it, and an
    # interrupted invocation is logged with its time too (its runs resume with the same command)
    from unidgm.experiments.reproduce import command as C
    from unidgm.experiments.sweep import SweepInterrupted
    results, lane = tmp_path / "results", tmp_path / "lane"
    calls = []

    def sweep(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise SweepInterrupted(15, 1, 0)
    monkeypatch.setattr(C, "run_sweep", sweep)

    def report(plan, runs, out, inv):
        (out / "table3.md").write_text("## Results\n## Verdict rule\n")
        return {"report": out / "reproduce.md"}
    monkeypatch.setattr(C, "write_report", report)
    monkeypatch.setattr(C, "probe_missing", lambda *a: None)
    argv = ["reproduce", "table3", "--quick", "--seeds", "1", "--only", "vae", "--out", str(lane),
            "--runs", str(results / "runs")]
    assert main(argv) == 0
    assert main(argv) == 143  # stopped by SIGTERM: the exit code of a process it ended
    logged = C.invocations(results, results / "runs")
    assert [r["command"].split("--out ")[1].split()[0] for r in logged] == [str(lane)] * 2
    assert "interrupted" in logged[1]["note"] and not (results / "invocations.jsonl").exists()
    assert C.invocations(lane, results / "runs") == logged  # read once, though both logs hold it


def test_a_cell_short_of_its_seeds_says_so():
    from unidgm.experiments.reproduce.render import _fmt
    assert _fmt([], 2, 3) == "not run"
    assert _fmt([-121.17], 2, 3) == "-121.17 (1 of 3 seeds)"  # one seed: no "± 0.00"
    assert _fmt([1.0, 2.0], 2, 3).endswith("(2 of 3 seeds)") and "±" in _fmt([1.0, 2.0], 2, 3)
    assert "seeds" not in _fmt([1.0, 2.0, 3.0], 2, 3)



def _fake_checkpoint(folder: Path, step: int) -> None:
    from unidgm.train.checkpoint import STATE, TENSORS
    ckpt = folder / "checkpoints" / f"ckpt-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / STATE).write_text("{}")
    (ckpt / TENSORS).write_bytes(b"")


def test_a_dry_run_lists_what_is_left_to_train_and_writes_nothing(tmp_path, capsys):
    from unidgm.experiments.reproduce.plan import Plan
    from unidgm.experiments.sweep import METRICS, run_dir
    out, runs = tmp_path / "res", tmp_path / "runs"
    argv = ["reproduce", "table3", "--quick", "--data", "digits", "--sizes", "1", "--seeds", "2", "--only", "vae",
            "--out", str(out), "--runs", str(runs), "--jobs", "2"]
    plan = Plan(build_parser().parse_args(argv[:-6]))  # the same plan (--out/--runs/--jobs do not change it)
    vae, aa = sorted(plan.ordered(), key=lambda v: v.name.startswith("aa-"))
    run_dir(runs, vae, 0).mkdir(parents=True)
    (run_dir(runs, vae, 0) / METRICS).write_text("{}")  # finished
    _fake_checkpoint(run_dir(runs, aa, 1), 7)  # interrupted at step 7
    assert main(argv + ["--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "3 run(s) to train" in text and "(1 finished, skipped)" in text and "--jobs 2" in text
    assert f"{aa.name} seed 1: at most {aa.steps} steps, resumes from step 7" in text
    assert f"\n  {vae.name} seed 0" not in text and not out.exists()  # nothing written, no run started
    assert sorted(p.name for p in runs.rglob("*") if p.is_file()) == [METRICS, "state.json", "tensors.safetensors"]


def test_models_splits_one_pair_between_two_lanes(tmp_path, capsys):
    base = ["reproduce", "table3", "--quick", "--data", "digits", "--sizes", "1", "--seeds", "2", "--only", "vae",
            "--ablations", "warmup1000", "--runs", str(tmp_path / "runs"), "--dry-run"]
    listed = {}
    for models in ("vae", "aa-vae,aa-vae-warmup1000"):
        assert main(base + ["--models", models]) == 0
        listed[models] = {ln.split()[0] for ln in capsys.readouterr().out.splitlines() if ln.startswith("  ")}
    assert {n.split("-digits")[0] for n in listed["vae"]} == {"vae"}
    assert {n.split("-digits")[0] for n in listed["aa-vae,aa-vae-warmup1000"]} == {"aa-vae", "aa-vae-warmup1000"}
    assert main(base + ["--models", "iwgan"]) == 2  # not a model of these comparisons
    assert "--models: iwgan is not a model of these comparisons" in capsys.readouterr().err


def test_a_reference_dry_run_lists_the_cells_left_and_trains_nothing(tmp_path, capsys):
    runs = tmp_path / "runs"
    _fake_checkpoint(runs / "dcgan-mnist" / "seed-1", 2500)
    assert main(["reproduce", "reference", "--only", "dcgan-mnist", "--seeds", "2", "--max-minutes", "60",
                 "--out", str(tmp_path / "res"), "--runs", str(runs), "--dry-run"]) == 0
    text = capsys.readouterr().out
    assert "2 cell(s) to train" in text and "dcgan-mnist seed 0: recipe converged, at most 60000 steps or 60 min" in text
    assert "seed 1: recipe converged, at most 60000 steps or 60 min, resumes from step 2500" in text
    assert not (tmp_path / "res").exists()


def test_the_mechanism_averages_finished_runs_only(tmp_path):
    """A run still training would put the first half of its log in place of its second: it must not count."""
    from unidgm.experiments.reproduce.render import mechanism
    from unidgm.experiments.sweep import Variant, run_dir
    variant = Variant("aa-vae-x", "vae", techniques=("aa",))
    for seed, fake, finished in ((0, 0.2, True), (1, 0.9, False)):
        folder = run_dir(tmp_path, variant, seed)
        folder.mkdir(parents=True)
        rows = [{"step": s, "theta_eta/aa_weight_fake": (0.0 if s <= 50 else fake)} for s in (50, 100, 150, 200)]
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        if finished:
            (folder / "metrics.json").write_text("{}")
    # seed 0's second half (steps 100-200) only; seed 1 has no metrics.json yet
    assert mechanism(tmp_path, variant, [0, 1]) == {"aa_weight_fake": pytest.approx(0.2)}
    (run_dir(tmp_path, variant, 1) / "metrics.json").write_text("{}")
    assert mechanism(tmp_path, variant, [0, 1])["aa_weight_fake"] == pytest.approx(0.55)
    # a generator's finished run brings the real test images' inception score (its ceiling) along
    (run_dir(tmp_path, variant, 0) / "metrics.json").write_text(json.dumps(
        {"inception_score": {"mean": 8.0, "real_test": {"mean": 9.8}}}))
    assert mechanism(tmp_path, variant, [0, 1])["is_real_test"] == pytest.approx(9.8)
