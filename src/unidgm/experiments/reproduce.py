"""`unidgm reproduce table2|table3|all`: the paper's tables, side by side with the published numbers.

Each comparison of the paper (base vs extended model, e.g. VAE vs AA-VAE at 1% of MNIST) becomes
two sweep variants with identical budgets (recipes.py); every (variant, seed) is one run folder, so
an interrupted reproduction continues where it stopped. The report (``<out>/reproduce.md`` and one
``tableN.md/.csv/.json`` per table) shows, per cell, the paper's numbers, ours as mean ± std over
seeds, the gain (extended − base) of both, a verdict, training curves, sample grids, the machine,
date, wall time and the exact commands.
"""

from __future__ import annotations

import json
import math
import shlex
import shutil
import time
from pathlib import Path

from ..errors import ConfigError
from . import recipes as R
from .sweep import Variant, collect, machine, run_dir, run_sweep

REPO = Path(__file__).resolve().parents[3]
FAMILY_COST_MS = {"vae": 18, "aa-vae": 30, "cvae": 18, "aa-cvae": 30, "svae": 105, "aa-svae": 127,
                  "gan": 195, "iwgan": 195, "cgan": 210, "iw-cgan": 215}  # per step, 1 CPU thread, MNIST
DIGITS = {"elbo": 2, "inception_score": 2, "cond_accuracy": 4, "ssl_accuracy": 4, "fid": 2}

VERDICT_RULE = (
    "Every published gain is positive (higher is better for all four metrics), so the claim tested is "
    "*extended > base*. With g = mean over seeds of the paired difference (extended − base, same seed, "
    "so the same data subset) and SE = its standard deviation / √n: **reproduced** — g > 0, g > 2·SE, "
    "and the gain (on the fixed test subset of the curves) is positive at every checkpoint of the "
    "second half of training; **direction reproduced** — g > 0 but not significant or not positive "
    "along the whole second half; **not reproduced** — g ≤ 0. The absolute level is reported next to "
    "the paper's but does not enter the verdict (our budgets are far below the paper's).")


def default_data_root():
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def add_parser(sub):
    p = sub.add_parser("reproduce", help="reproduce the paper's tables (table2, table3, all) next to its numbers",
                       description="Trains base and extended models with equal budgets over several seeds and "
                                   "writes a Markdown report with the paper's numbers, ours, gains and verdicts.")
    p.add_argument("table", choices=["table2", "table3", "all", "reference"],
                   help="reference: the reproducibility table (standard models to convergence vs published figures)")
    p.add_argument("--only", default=None, help="reference: comma-separated groups (default: all)")
    p.add_argument("--max-minutes", type=float, default=None, help="reference: wall-clock budget per training run")
    p.add_argument("--seed-list", default=None, help="reference: these seeds only, e.g. 2 or 0,1 (for parallel lanes)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model (paper: 5; default 5, --quick: 2)")
    p.add_argument("--sizes", default="1,10,100", help="training-data percentages for Table 3 / Table 2 right")
    p.add_argument("--gan-sizes", default="100", help="training-data percentages for Table 2 left/middle "
                                                      "(the paper: 100; e.g. 1,100 adds a 1%% row)")
    p.add_argument("--steps", default=None, help="training steps: N for every model, or family=N pairs "
                                                 "(vae=3000,svae=2000,gan=1000; families vae, svae, gan)")
    p.add_argument("--select", choices=["validation", "last"], default="validation",
                   help="the model each run reports: the best on the validation split (default) or the last one")
    p.add_argument("--quick", action="store_true", help="smoke run in minutes: tiny budgets, few test examples; "
                                                        "falls back to the embedded digits when MNIST is absent")
    p.add_argument("--data", default="mnist", help="dataset of the MNIST cells (default mnist)")
    p.add_argument("--out", default=None, help="results folder (report, tables, figures; default results/reproduce, "
                                               "for reference benchmarks/results)")
    p.add_argument("--runs", default=None, help="run folders (default: OUT/runs)")
    p.add_argument("--jobs", type=int, default=1, help="runs trained in parallel (one process each)")
    p.add_argument("--threads", type=int, default=None, help="torch threads per run (default: cores / jobs)")
    p.add_argument("--curve-points", type=int, default=None, help="checkpoints evaluated along training (default 5)")
    p.add_argument("--report-only", action="store_true", help="only rebuild the report from finished runs")
    p.add_argument("--data-root", default=None, help="dataset folder (default: ../shared/data next to the repo "
                                                     "if present, else $UNIDGM_DATA / ~/.cache/unidgm)")
    p.set_defaults(handler=cmd_reproduce)


def parse_steps(text: str | None, quick: bool) -> dict[str, int]:
    steps = dict(R.QUICK_STEPS if quick else R.DEFAULT_STEPS)
    if not text:
        return steps
    if "=" not in text:
        return {f: _positive(text, "--steps") for f in R.FAMILIES}
    for item in text.split(","):
        fam, _, n = item.partition("=")
        if fam.strip() not in R.FAMILIES:
            raise ConfigError(f"--steps: unknown family {fam!r}; families: {', '.join(R.FAMILIES)}")
        steps[fam.strip()] = _positive(n, "--steps")
    return steps


def _positive(text, what) -> int:
    try:
        v = int(text)
    except ValueError:
        raise ConfigError(f"{what}: {text!r} is not an integer") from None
    if v <= 0:
        raise ConfigError(f"{what}: {v} must be > 0")
    return v


def _sizes(text: str, what: str) -> tuple[int, ...]:
    out = tuple(_positive(s, what) for s in text.split(",") if s.strip())
    if not out:
        raise ConfigError(f"{what}: give percentages, e.g. 1,10,100")
    return out


def _available(name: str, root) -> bool:
    from ..data import get_dataset
    from ..errors import DataError
    try:
        get_dataset(name, "test", root)
        return True
    except (DataError, OSError):
        return False


# --- planning ----------------------------------------------------------------------------------------

class Plan:
    """The comparisons of one invocation, their variants (deduplicated), skipped cells and settings."""

    def __init__(self, args):
        self.quick = args.quick
        self.select = getattr(args, "select", "validation")
        self.seeds = list(range(args.seeds if args.seeds is not None else (2 if args.quick else 5)))
        if not self.seeds:
            raise ConfigError("--seeds must be >= 1")
        self.steps = parse_steps(args.steps, args.quick)
        self.curve_points = args.curve_points if args.curve_points is not None else (2 if args.quick else 5)
        self.data_root = Path(args.data_root) if args.data_root else default_data_root()
        self.main = args.data
        self.notes: list[str] = []
        if not _available(self.main, self.data_root):
            if not args.quick:
                raise ConfigError(f"{self.main} is not in the data root {self.data_root}: pass --data-root "
                                  f"(e.g. ../shared/data), or --quick to smoke-test on the embedded digits")
            self.notes.append(f"{self.main} is absent from the data root, so this quick run uses the embedded "
                              "8x8 `digits` (1500 training images) with the sizes as fractions of it")
            self.main = "digits"
        sizes, gan_sizes = _sizes(args.sizes, "--sizes"), _sizes(args.gan_sizes, "--gan-sizes")
        comps = []
        if args.table in ("table2", "all"):
            comps += R.table2(sizes, gan_sizes)
        if args.table in ("table3", "all"):
            comps += R.table3(sizes)
        self.tables = ["table2", "table3"] if args.table == "all" else [args.table]
        self.eval = ({"n_samples": 200, "max_test": 200, "curve_test": 200, "curve_samples": 200} if args.quick else
                     {"n_samples": 10000, "curve_test": 2000, "curve_samples": 2000})
        self.comparisons, self.skipped, self.variants = [], [], {}
        self._n_total: dict[str, int] = {}
        svhn = None
        for c in comps:
            if c.data == "svhn":
                svhn = _available("svhn", self.data_root) if svhn is None else svhn
                if not svhn:
                    self.skipped.append((c, "skipped: no SVHN files in the data root"))
                    continue
            self.comparisons.append(c)
            for recipe in (c.base, c.ext):
                v = self.variant(recipe, c)
                self.variants.setdefault(v.name, v)

    def dataset(self, c: R.Comparison) -> str:
        return self.main if c.data == "mnist" else c.data

    def n_total(self, data: str) -> int:
        if data not in self._n_total:
            from ..data import get_dataset
            self._n_total[data] = len(get_dataset(data, "train", self.data_root))
        return self._n_total[data]

    def variant(self, recipe: R.Recipe, c: R.Comparison) -> Variant:
        data = self.dataset(c)
        n = R.size_to_n(c.size, self.n_total(data))
        steps, batch = self.steps[recipe.family], R.BATCH[recipe.family]
        if n is not None:
            batch = min(batch, n)
        pct = "all" if c.size is None else f"{c.size * 100:g}pct"
        name = f"{recipe.key}-{data}-{pct}-{steps}steps" + ("-val" if self.select == "validation" else "") + \
            ("-quick" if self.quick else "")
        return Variant(name, recipe.model, data, recipe.techniques,
                       R.train_overrides(recipe, n, steps, batch, self.quick, self.select),
                       recipe.metrics, self.curve_points, self.eval)

    def pair(self, c: R.Comparison) -> tuple[Variant, Variant]:
        return self.variant(c.base, c), self.variant(c.ext, c)

    def ordered(self) -> list[Variant]:
        """Most expensive first (longest-job-first keeps parallel workers busy to the end)."""
        cost = lambda v: FAMILY_COST_MS.get(v.name.split(f"-{v.data}-")[0], 100) * v.steps  # noqa: E731
        return sorted(self.variants.values(), key=cost, reverse=True)


# --- the command -------------------------------------------------------------------------------------

def cmd_reproduce(args) -> int:
    import os

    import torch
    if args.table == "reference":
        from .reference import cmd_reference
        return cmd_reference(args, Path(args.out or "benchmarks/results"), args.data_root or default_data_root())
    args.out = args.out or "results/reproduce"
    t0, cpu0 = time.time(), _cpu_seconds()
    plan = Plan(args)
    out = Path(args.out)
    runs = Path(args.runs) if args.runs else out / "runs"
    out.mkdir(parents=True, exist_ok=True)
    jobs = max(1, args.jobs)
    threads = args.threads or max(1, (os.cpu_count() or 1) // jobs)
    torch.set_num_threads(threads)
    command = command_line(args)
    for note in plan.notes:
        print(f"note: {note}")
    for c, why in plan.skipped:
        print(f"{c.table} {c.setting} {c.base.label} vs {c.ext.label}: {why}")
    if not args.report_only:
        variants = plan.ordered()
        print(f"reproduce {args.table}: {len(variants)} models x {len(plan.seeds)} seeds on {plan.main}, "
              f"steps {plan.steps}, {jobs} job(s) x {threads} thread(s); runs in {runs}")
        if any(v.model in ("gan", "cgan") for v in variants):
            _warm_classifier(plan)  # trained once here, not by every worker at the same time
        run_sweep(variants, plan.seeds, runs, plan.data_root, jobs=jobs, threads=threads)
    wall = time.time() - t0
    if not args.report_only:  # a report-only pass changes no result: not an invocation of record
        _log_invocation(out, command, wall, args, plan, _cpu_seconds() - cpu0)
    paths = write_report(plan, runs, out)
    print(f"report: {paths['report']}")
    for t in plan.tables:
        text = (out / f"{t}.md").read_text()
        print(text[text.index("## Results"):text.index("## Verdict rule")].rstrip())
    return 0


def command_line(args) -> str:
    """The invocation as an explicit ``unidgm reproduce`` command (every option spelled out)."""
    parts = ["unidgm", "reproduce", args.table, "--seeds", str(args.seeds) if args.seeds is not None else None,
             "--sizes", args.sizes, "--gan-sizes", args.gan_sizes, "--steps", args.steps, "--data", args.data,
             "--out", args.out, "--runs", args.runs, "--jobs", str(args.jobs), "--threads",
             None if args.threads is None else str(args.threads), "--curve-points",
             None if args.curve_points is None else str(args.curve_points), "--data-root", args.data_root]
    words = []
    for flag, value in zip(parts[3::2], parts[4::2]):
        if value is not None:
            words += [flag, shlex.quote(str(value))]
    words += [f for f, on in (("--quick", args.quick), ("--report-only", args.report_only)) if on]
    return " ".join(parts[:3] + words)


def _warm_classifier(plan: Plan) -> None:
    from ..data import get_dataset
    from ..eval.classifier import get_classifier
    from ..eval.run import writable_cache
    for data in sorted({v.data for v in plan.variants.values() if v.model in ("gan", "cgan")}):
        train = get_dataset(data, "train", plan.data_root, seed=0)
        test = get_dataset(data, "test", plan.data_root, seed=1)
        _, acc = get_classifier(data, train, test, writable_cache(plan.data_root), progress=False)
        print(f"domain classifier for {data}: test accuracy {acc:.4f}")


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the sweep's worker processes)."""
    import os
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _log_invocation(out: Path, command: str, wall: float, args, plan: Plan, cpu: float) -> None:
    entry = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "wall_s": round(wall, 1),
             "cpu_s": round(cpu, 1),
             "report_only": bool(args.report_only), "quick": plan.quick, "steps": plan.steps,
             "seeds": plan.seeds, "data": plan.main, "data_root": str(plan.data_root) if plan.data_root else None,
             "jobs": args.jobs, "threads": args.threads}
    with open(out / "invocations.jsonl", "a") as f:
        f.write(json.dumps(entry) + "\n")


def invocations(out: Path) -> list[dict]:
    f = out / "invocations.jsonl"
    return [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()] if f.exists() else []


# --- the report ------------------------------------------------------------------------------------

def _fmt(values, digits) -> str:
    from ..eval.table import format_mean_std, summarise
    if not values:
        return "not run"
    return format_mean_std(*summarise(values), digits=digits)


def _paper(p, digits) -> str:
    if p is None:
        return "—"
    return f"{p[0]:.{digits}f}" + (f" ± {p[1]:.{digits}f}" if p[1] is not None else "")


def _signed(v, digits) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.{digits}f}"


def compare(plan: Plan, c: R.Comparison, runs) -> dict:
    """Numbers of one comparison: per-model values, paired gain, curve gains, verdict."""
    from ..eval.table import summarise
    vb, ve = plan.pair(c)
    base, ext = collect(runs, vb, plan.seeds), collect(runs, ve, plan.seeds)
    m = c.metric
    bvals = dict(zip(base["seeds"], base["metrics"].get(m, [])))
    evals = dict(zip(ext["seeds"], ext["metrics"].get(m, [])))
    common = sorted(set(bvals) & set(evals))
    diffs = [evals[s] - bvals[s] for s in common]
    row = {"comparison": c, "base_variant": vb.name, "ext_variant": ve.name, "base": list(bvals.values()),
           "ext": list(evals.values()), "diffs": diffs, "steps": vb.steps, "batch": vb.overrides["batch_size"],
           "n": vb.overrides.get("n_train", vb.overrides.get("n_labelled")), "data": vb.data,
           "train_s": base["train_s"] + ext["train_s"], "curve": _curve_gain(base, ext, m, vb.steps)}
    if diffs:
        g, sd = summarise(diffs)
        se = sd / math.sqrt(len(diffs)) if len(diffs) > 1 else float("inf")
        row.update(gain=g, gain_sd=sd, gain_se=se, verdict=verdict(diffs, row["curve"]["late_gains"]))
    else:
        row.update(gain=None, gain_sd=None, gain_se=None, verdict="not run")
    return row


def verdict(diffs: list[float], late_gains: list[float]) -> str:
    """VERDICT_RULE: ``diffs`` are the per-seed paired gains at the last step, ``late_gains`` the mean
    gains at the checkpoints of the second half of training."""
    from ..eval.table import summarise
    if not diffs:
        return "not run"
    g, sd = summarise(diffs)
    se = sd / math.sqrt(len(diffs)) if len(diffs) > 1 else float("inf")
    if g <= 0:
        return "not reproduced"
    if g > 2 * se and late_gains and all(x > 0 for x in late_gains):
        return "reproduced"
    return "direction reproduced"


def _curve_gain(base: dict, ext: dict, metric: str, steps: int) -> dict:
    """Mean curves over seeds and the gain at each checkpoint present in every seed of both models."""
    def mean_curve(curves):
        per_step: dict[int, list] = {}
        for cv in curves:
            for p in cv["points"]:
                if metric in p:
                    per_step.setdefault(p["step"], []).append(p[metric])
        return {s: v for s, v in sorted(per_step.items()) if len(v) == len(curves)}
    mb, me = mean_curve(base["curves"]), mean_curve(ext["curves"])
    steps_common = sorted(set(mb) & set(me))
    gains = {s: sum(me[s]) / len(me[s]) - sum(mb[s]) / len(mb[s]) for s in steps_common}
    late = [s for s in steps_common if s >= steps / 2]
    return {"base": mb, "ext": me, "gain": gains, "positive": sum(g > 0 for g in gains.values()),
            "total": len(gains), "late_gains": [gains[s] for s in late]}


def write_report(plan: Plan, runs, out: Path) -> dict:
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    rows = [compare(plan, c, runs) for c in plan.comparisons]
    for r in rows:
        r["figure"] = _plot_curve(r, figures, plan)
    grids = _copy_sample_grids(plan, runs, figures)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), "seeds": plan.seeds,
            "steps": plan.steps, "batch": R.BATCH, "quick": plan.quick, "data": plan.main,
            "data_root": str(plan.data_root) if plan.data_root else None, "runs": str(runs),
            "invocations": invocations(out), "verdict_rule": VERDICT_RULE, "notes": plan.notes}
    sections, paths = [], {}
    for t in plan.tables:
        md, payload = _table_section(t, rows, plan, grids, meta, runs, out)
        (out / f"{t}.md").write_text(md, encoding="utf-8")
        (out / f"{t}.json").write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
        _write_csv(out / f"{t}.csv", payload["rows"])
        sections.append(md)
        paths[t] = out / f"{t}.md"
    report = out / "reproduce.md"  # every table of this invocation in one file
    report.write_text("\n\n".join(sections), encoding="utf-8")
    paths["report"] = report
    return paths


def _write_csv(path: Path, rows: list[dict]) -> None:
    import csv
    cols = list(dict.fromkeys(k for r in rows for k in r if not isinstance(r[k], (dict, list))))
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


TITLES = {"table2": "Table 2 — IWGAN vs GAN (inception score), IW-CGAN vs CGAN (conditional accuracy), "
                    "AA-SVAE vs SVAE (test accuracy)",
          "table3": "Table 3 — test variational lower bound (nats) on MNIST: VAE / CVAE / SVAE and their AA variants"}


def _table_section(table: str, rows, plan: Plan, grids: dict, meta: dict, runs, out: Path) -> tuple[str, dict]:
    from ..eval.table import write_table  # noqa: F401  (same formatting helpers as every table)
    mine = [r for r in rows if r["comparison"].table.startswith(table)]
    skipped = [(c, why) for c, why in plan.skipped if c.table.startswith(table)]
    head = ["part", "train data", "metric", "base → extended", "paper base", "paper ext", "paper gain",
            f"ours base (mean ± std, {len(plan.seeds)} seeds)", "ours ext", "ours gain (paired ± sd)",
            "gain > 0 at checkpoints", "verdict", "budget"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    jrows = []
    for r in mine:
        c = r["comparison"]
        d = DIGITS[c.metric]
        n = "all" if r["n"] is None else f"n={r['n']}"
        budget = f"{r['steps']} steps × batch {r['batch']}, {r['data']} {n}"
        cg = r["curve"]
        at_ckpt = f"{cg['positive']}/{cg['total']}" if cg["total"] else "—"
        part = c.table.replace(table, "").strip("-") or "—"
        ours_gain = "—" if r["gain"] is None else f"{r['gain']:+.{d}f} ± {r['gain_sd']:.{d}f}"
        cells = [part, c.setting, R.METRIC_TEXT[c.metric], f"{c.base.label} → {c.ext.label}",
                 _paper(c.paper_base, d), _paper(c.paper_ext, d), _signed(c.paper_gain, d),
                 _fmt(r["base"], d), _fmt(r["ext"], d), ours_gain, at_ckpt, r["verdict"], budget]
        lines.append("| " + " | ".join(cells) + " |")
        jrows.append({"part": part, "train_data": c.setting, "metric": c.metric, "base": c.base.label,
                      "extended": c.ext.label, "paper_base": c.paper_base, "paper_ext": c.paper_ext,
                      "paper_gain": c.paper_gain, "ours_base_values": r["base"], "ours_ext_values": r["ext"],
                      "ours_base": _fmt(r["base"], d), "ours_ext": _fmt(r["ext"], d), "ours_gain": r["gain"],
                      "ours_gain_sd": r["gain_sd"], "paired_diffs": r["diffs"], "verdict": r["verdict"],
                      "gain_positive_checkpoints": at_ckpt, "steps": r["steps"], "batch": r["batch"],
                      "n": r["n"], "data": r["data"], "base_run": r["base_variant"], "ext_run": r["ext_variant"],
                      "selection": "validation" if "-val" in r["base_variant"] else "last",
                      "train_s_total": round(sum(r["train_s"]), 1),
                      "curve": {"base": cg["base"], "ext": cg["ext"], "gain": cg["gain"]},
                      "figure": r["figure"]})
    for c, why in skipped:
        d = DIGITS[c.metric]
        part = c.table.replace(table, "").strip("-") or "—"
        lines.append("| " + " | ".join([part, c.setting, R.METRIC_TEXT[c.metric], f"{c.base.label} → {c.ext.label}",
                                        _paper(c.paper_base, d), _paper(c.paper_ext, d), _signed(c.paper_gain, d),
                                        why, "", "", "", "skipped", ""]) + " |")
        jrows.append({"part": part, "train_data": c.setting, "metric": c.metric, "base": c.base.label,
                      "extended": c.ext.label, "paper_base": c.paper_base, "paper_ext": c.paper_ext,
                      "verdict": "skipped", "why": why})
    md = [f"# {TITLES[table]}", ""]
    md += [f"Reproduction of Hu et al. (ICLR 2018), {TITLES[table].split(' — ')[0]}, by `unidgm reproduce`. "
           + ("**Quick smoke run: tiny budgets and small networks (hidden 64-64, 8-d codes); the numbers "
              "are meaningless.** " if plan.quick else "")
           + "Paper numbers are from the paper (PAPER.md, Section 4); ours are mean ± std (ddof 1) over seeds "
           "of the model after the last training step.", ""]
    md += [f"## Results", "", *lines, ""]
    md += ["## Verdict rule", "", VERDICT_RULE, ""]
    discussion = out / f"{table}-discussion.md"  # hand-written analysis, kept across regenerations
    if discussion.exists():
        md += ["## Discussion", "", discussion.read_text(encoding="utf-8").strip(), ""]
    if mine:
        md += ["## Training curves", "",
               "The same metric at evenly spaced checkpoints (mean ± std over seeds) on a fixed test subset "
               f"(first {plan.eval['curve_test']} test examples; {plan.eval['curve_samples']} samples for sample "
               "scores). A gain that holds at one step count only is not counted as a gain.", ""]
        for r in mine:
            c, cg = r["comparison"], r["curve"]
            d = DIGITS[c.metric]
            if not cg["total"]:
                continue
            md.append(f"**{c.setting}: {c.base.label} → {c.ext.label}** ({R.METRIC_TEXT[c.metric]}) "
                      f"— ![]({r['figure']})" if r["figure"] else "")
            md.append("")
            md.append("| step | " + " | ".join(str(s) for s in cg["gain"]) + " |")
            md.append("|---|" + "---|" * len(cg["gain"]))
            for label, key in ((c.base.label, "base"), (c.ext.label, "ext")):
                md.append(f"| {label} | " + " | ".join(f"{sum(cg[key][s]) / len(cg[key][s]):.{d}f}"
                                                       for s in cg["gain"]) + " |")
            md.append("| gain | " + " | ".join(f"{g:+.{d}f}" for g in cg["gain"].values()) + " |")
            md.append("")
        shown = [(v, grids[v]) for v in dict.fromkeys(x for r in mine for x in (r["base_variant"], r["ext_variant"]))
                 if v in grids]
        if shown:
            md += ["## Samples (seed 0, last step)", ""]
            md += [f"- {v}: ![]({p})" for v, p in shown]
            md.append("")
    md += _budget_section(plan)
    md += _provenance_section(meta, mine, plan, runs)
    names = list(dict.fromkeys(x for r in mine for x in (r["base_variant"], r["ext_variant"])))
    run_commands = {n: {str(s): plan.variants[n].commands(s, run_dir(runs, plan.variants[n], s), plan.data_root)
                        for s in plan.seeds} for n in names}
    payload = {"table": table, "title": TITLES[table], "rows": jrows, **meta, "run_commands": run_commands,
               "choices": R.__doc__.split("Choices the paper leaves open")[1].strip()}
    return "\n".join(md) + "\n", payload


def _budget_section(plan: Plan) -> list[str]:
    doc = R.__doc__.split("Choices the paper leaves open, and what we do (all recorded in every report):")[1]
    return ["## Choices the paper leaves open", "", doc.strip(), "",
            f"Budget of this report: steps per family {plan.steps}, batch per family {R.BATCH}, seeds {plan.seeds}. "
            "Budgets are far below the paper's (which trains to convergence); base and extended models of a row "
            "always share steps, batch, networks and optimiser.", ""]


def _provenance_section(meta: dict, mine, plan: Plan, runs) -> list[str]:
    m = meta["machine"]
    lines = ["## Machine, date, wall time, commands", "",
             f"- date of this report: {meta['date']}",
             f"- machine: {m['host']}, {m['processor']}, {m['cpu_count']} CPUs, {m['platform']}; CUDA: {m['cuda']}",
             f"- versions: unidgm {m['unidgm']} (git {m['git_commit']}), torch {m['torch']}, numpy {m['numpy']}, "
             f"python {m['python']}",
             f"- data: {plan.main} from {plan.data_root or 'the default data root'}; runs in `{runs}`"]
    for n in plan.notes:
        lines.append(f"- note: {n}")
    train_total = sum(sum(r["train_s"]) for r in mine)
    lines.append(f"- training time of these cells: {train_total / 60:.1f} min summed over runs (one torch thread "
                 "per run, several runs in parallel; wall-clock, so it includes waiting for CPUs shared with "
                 "other jobs)")
    lines += ["", "Invocations (each continues the runs of the previous ones; finished runs are skipped):", ""]
    for inv in meta["invocations"]:
        cpu = f", CPU time {inv['cpu_s'] / 60:.1f} min" if inv.get("cpu_s") is not None else ""
        lines.append(f"- `{inv['command']}` — {inv['date']}, wall time {inv['wall_s'] / 60:.1f} min{cpu}"
                     + (" (report only)" if inv.get("report_only") else "")
                     + (f" — {inv['note']}" if inv.get("note") else ""))
    done = [inv for inv in meta["invocations"] if not inv.get("report_only")]
    if done:
        wall = sum(inv["wall_s"] for inv in done)
        cpu = sum(inv.get("cpu_s") or 0 for inv in done)
        lines += ["", f"Total over these invocations: wall time {wall / 60:.1f} min, CPU time {cpu / 60:.1f} min "
                      f"(one torch thread per run; on otherwise idle cores, wall ≈ CPU / jobs)."]
    variants = list(dict.fromkeys(x for r in mine for x in (r["base_variant"], r["ext_variant"])))
    if variants:
        v0 = plan.variants[variants[0]]
        lines += ["", "Each run is equivalent to (first seed of the first model shown; every run's commands are "
                  "in the JSON):", "", "```"]
        lines += v0.commands(plan.seeds[0], run_dir(runs, v0, plan.seeds[0]), plan.data_root)
        lines += ["```", ""]
    return lines


def _plot_curve(r: dict, figures: Path, plan: Plan) -> str | None:
    cg, c = r["curve"], r["comparison"]
    if not cg["total"]:
        return None
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(5, 3.4))
    for label, key, col, paper in ((c.base.label, "base", "tab:blue", c.paper_base),
                                   (c.ext.label, "ext", "tab:red", c.paper_ext)):
        steps = sorted(cg[key])
        vals = [np.asarray(cg[key][s]) for s in steps]
        mean = np.array([v.mean() for v in vals])
        sd = np.array([v.std(ddof=1) if len(v) > 1 else 0.0 for v in vals])
        ax.plot(steps, mean, "o-", color=col, label=f"{label} (ours)")
        ax.fill_between(steps, mean - sd, mean + sd, color=col, alpha=0.2)
        if paper is not None and not plan.quick:
            ax.axhline(paper[0], color=col, ls=":", lw=1, label=f"{label} (paper)")
    ax.set_xlabel("training step")
    ax.set_ylabel(R.METRIC_TEXT[c.metric])
    ax.set_title(f"{c.table} {c.setting}: {c.base.label} vs {c.ext.label}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    name = f"curve-{c.table}-{c.setting.replace('%', 'pct').replace(' ', '_')}-{c.base.key}.png"
    fig.savefig(figures / name, dpi=100)
    plt.close(fig)
    return f"figures/{name}"


def _copy_sample_grids(plan: Plan, runs, figures: Path) -> dict:
    out = {}
    for v in plan.variants.values():
        folder = run_dir(runs, v, plan.seeds[0]) / "samples"
        pngs = sorted(folder.glob("step-*.png")) if folder.exists() else []
        if pngs:
            shutil.copy(pngs[-1], figures / f"samples-{v.name}.png")
            out[v.name] = f"figures/samples-{v.name}.png"
    return out
