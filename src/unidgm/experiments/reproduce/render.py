"""The report of ``unidgm reproduce``: ``<out>/tableN.md/.csv/.json`` per table, ``reproduce.md`` with
every table of the invocation, and the figures (training curves, sample grids)."""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

from ...eval.table import format_over_seeds
from ...report import machine, markdown_table, write_csv, write_json, write_text
from .. import recipes as R
from ..sweep import is_done, run_dir
from .plan import Plan
from .probe import read_probe
from .verdicts import VERDICT_RULE, compare

DIGITS = {"elbo": 2, "inception_score": 2, "cond_accuracy": 4, "ssl_accuracy": 4, "fid": 2}
TITLES = {"table2": "Table 2 — IWGAN vs GAN (inception score), IW-CGAN vs CGAN (conditional accuracy), "
                    "AA-SVAE vs SVAE (test accuracy)",
          "table3": "Table 3 — test variational lower bound (nats) on MNIST: VAE / CVAE / SVAE and their AA variants"}


def _fmt(values, digits, n_seeds: int | None = None) -> str:
    """Mean ± std over seeds; a single seed has no spread to show, and a cell short of ``n_seeds`` says so."""
    if not values:
        return "not run"
    return format_over_seeds(values, digits) + (
        f" ({len(values)} of {n_seeds} seeds)" if n_seeds and len(values) < n_seeds else "")


def _paper(p, digits) -> str:
    if p is None:
        return "—"
    return f"{p[0]:.{digits}f}" + (f" ± {p[1]:.{digits}f}" if p[1] is not None else "")


def _signed(v, digits) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.{digits}f}"


def write_report(plan: Plan, runs, out: Path, invocations: list[dict]) -> dict:
    """The report of ``plan``'s finished runs in ``out``; ``invocations``: the commands of record so far."""
    figures = out / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    rows = [compare(plan, c, runs) for c in plan.comparisons]
    for r in rows:
        r["figure"] = _plot_curve(r, figures, plan)
    grids = _copy_sample_grids(plan, runs, figures)
    meta = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine(), "seeds": plan.seeds,
            "steps": plan.steps, "batch": R.BATCH, "quick": plan.quick, "data": plan.main,
            "data_root": str(plan.data_root) if plan.data_root else None, "runs": str(runs),
            "invocations": invocations, "verdict_rule": VERDICT_RULE, "notes": plan.notes}
    sections, paths = [], {}
    for t in plan.tables:
        md, payload = _table_section(t, rows, plan, grids, meta, runs, out)
        paths[t] = write_text(out / f"{t}.md", md)
        write_json(out / f"{t}.json", payload, default=str)
        # flat columns only (curves and per-seed lists are in the JSON); csv's own "\r\n" line ends, as the
        # committed tables were written, so that a regenerated table diffs cleanly
        cols = list(dict.fromkeys(k for r in payload["rows"] for k in r if not isinstance(r[k], (dict, list))))
        write_csv(out / f"{t}.csv", payload["rows"], cols, line_end="\r\n")
        sections.append(md)
    paths["report"] = write_text(out / "reproduce.md", "\n\n".join(sections))  # every table of this invocation
    return paths


def _ended(row: dict) -> str:
    """Where the runs of a row stopped and the steps of the models selected, when some stopped before the cap."""
    done = [s for s in row.get("steps_done", []) if s is not None]
    if not done or min(done) >= row["steps"]:
        return ""
    span = lambda v: f"{min(v)}" if min(v) == max(v) else f"{min(v)}–{max(v)}"  # noqa: E731
    best = row.get("best_steps") or []
    return f"; trained {span(done)} steps (early stopping)" + (f", selected at {span(best)}" if best else "")


def _table_section(table: str, rows, plan: Plan, grids: dict, meta: dict, runs, out: Path) -> tuple[str, dict]:
    mine = [r for r in rows if r["comparison"].table.startswith(table)]
    skipped = [(c, why) for c, why in plan.skipped if c.table.startswith(table)]
    head = ["part", "train data", "metric", "base → extended", "paper base", "paper ext", "paper gain",
            f"ours base (mean ± std, {len(plan.seeds)} seeds)", "ours ext", "ours gain (paired ± sd)",
            "gain > 0 at checkpoints", "verdict", "budget"]
    cells, jrows = [], []
    for r in mine:
        c = r["comparison"]
        d = DIGITS[c.metric]
        n = "all" if r["n"] is None else f"n={r['n']}"
        budget = f"{r['steps']} steps × batch {r['batch']}, {r['data']} {n}" + (
            f", recipe {r['recipe']}" if r["recipe"] else "") + _ended(r)
        cg = r["curve"]
        at_ckpt = f"{cg['positive']}/{cg['total']}" if cg["total"] else "—"
        part = (c.table.replace(table, "").strip("-") or "—") + (" (ablation)" if c.ablation else "")
        ours_gain = "—" if r["gain"] is None else f"{r['gain']:+.{d}f}" + (
            f" ± {r['gain_sd']:.{d}f}" if len(r["diffs"]) > 1 else " (1 seed)")
        cells.append([part, c.setting, R.METRIC_TEXT[c.metric], f"{c.base.label} → {c.ext.label}",
                      _paper(c.paper_base, d), _paper(c.paper_ext, d), _signed(c.paper_gain, d),
                      _fmt(r["base"], d, len(plan.seeds)), _fmt(r["ext"], d, len(plan.seeds)), ours_gain, at_ckpt,
                      r["verdict"], budget])
        jrows.append({"part": part, "train_data": c.setting, "metric": c.metric, "base": c.base.label,
                      "extended": c.ext.label, "paper_base": c.paper_base, "paper_ext": c.paper_ext,
                      "paper_gain": c.paper_gain, "ours_base_values": r["base"], "ours_ext_values": r["ext"],
                      "ours_base": _fmt(r["base"], d), "ours_ext": _fmt(r["ext"], d), "ours_gain": r["gain"],
                      "ours_gain_sd": r["gain_sd"], "paired_diffs": r["diffs"], "verdict": r["verdict"],
                      "gain_positive_checkpoints": at_ckpt, "steps": r["steps"], "batch": r["batch"],
                      "recipe": r["recipe"], "steps_done": r["steps_done"], "best_steps": r["best_steps"],
                      "n": r["n"], "data": r["data"], "base_run": r["base_variant"], "ext_run": r["ext_variant"],
                      "selection": "validation" if "-val" in r["base_variant"] else "last",
                      "train_s_total": round(sum(r["train_s"]), 1),
                      "curve": {"base": cg["base"], "ext": cg["ext"], "gain": cg["gain"]},
                      "figure": r["figure"], "ablation": c.ablation, "equal_time": r["equal_time"]})
    for c, why in skipped:
        d = DIGITS[c.metric]
        part = c.table.replace(table, "").strip("-") or "—"
        cells.append([part, c.setting, R.METRIC_TEXT[c.metric], f"{c.base.label} → {c.ext.label}",
                      _paper(c.paper_base, d), _paper(c.paper_ext, d), _signed(c.paper_gain, d),
                      why, "", "", "", "skipped", ""])
        jrows.append({"part": part, "train_data": c.setting, "metric": c.metric, "base": c.base.label,
                      "extended": c.ext.label, "paper_base": c.paper_base, "paper_ext": c.paper_ext,
                      "verdict": "skipped", "why": why})
    md = [f"# {TITLES[table]}", ""]
    md += [f"Reproduction of Hu et al. (ICLR 2018), {TITLES[table].split(' — ')[0]}, by `unidgm reproduce`. "
           + ("**Quick smoke run: tiny budgets and small networks (hidden 64-64, 8-d codes); the numbers "
              "are meaningless.** " if plan.quick else "")
           + "Paper numbers are from the paper (PAPER.md, Section 4); ours are mean ± std (ddof 1) over seeds "
           + ("of the model each run selected on its validation split, measured once on test." if
              plan.select == "validation" else "of the model after the last training step."), ""]
    md += ["## Results", "", *markdown_table(head, cells), ""]
    md += ["## Verdict rule", "", VERDICT_RULE, ""]
    discussion = out / f"{table}-discussion.md"  # hand-written analysis, kept across regenerations
    if discussion.exists():
        md += ["## Discussion", "", discussion.read_text(encoding="utf-8").strip(), ""]
    if mine:
        where = ("on the validation split (each run's own validations, so the test set is read once)"
                 if plan.select == "validation" else
                 f"on a fixed test subset (first {plan.eval['curve_test']} test examples; "
                 f"{plan.eval['curve_samples']} samples for sample scores)")
        md += ["## Training curves", "",
               f"The same metric along training (mean over seeds) {where}. A gain that holds at one step count "
               "only is not counted as a gain.", ""]
        for r in mine:
            c, cg = r["comparison"], r["curve"]
            d = DIGITS[c.metric]
            if not cg["total"]:
                continue
            md.append(f"**{c.setting}: {c.base.label} → {c.ext.label}** ({R.METRIC_TEXT[c.metric]}) "
                      f"— ![]({r['figure']})" if r["figure"] else "")
            md.append("")
            curve = [[label, *(f"{sum(cg[key][s]) / len(cg[key][s]):.{d}f}" for s in cg["gain"])]
                     for label, key in ((c.base.label, "base"), (c.ext.label, "ext"))]
            curve.append(["gain", *(f"{g:+.{d}f}" for g in cg["gain"].values())])
            md += [*markdown_table(["step", *cg["gain"]], curve), ""]
        md += _equal_time_section(mine)
        md += _mechanism_section(mine, plan, runs)
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


def _equal_time_section(mine) -> list[str]:
    cells = []
    for r in mine:
        c, et = r["comparison"], r["equal_time"]
        if not et:
            continue
        d = DIGITS[c.metric]
        mean = lambda v: sum(v) / len(v)  # noqa: E731
        cells.append([f"{c.setting}: {c.base.label} → {c.ext.label}", R.METRIC_TEXT[c.metric].replace("test ", ""),
                      f"{min(et['seconds']) / 60:.1f}–{max(et['seconds']) / 60:.1f}", f"{mean(et['base']):.{d}f}",
                      f"{mean(et['ext']):.{d}f}", f"{et['gain']:+.{d}f} ± {et['gain_sd']:.{d}f}", len(et["diffs"])])
    if not cells:
        return []
    return ["## Equal wall clock (validation)", "",
            "The table compares models at equal training steps; AA and IW cost extra per step. Here each pair of "
            "runs (same seed) is compared after the same training time — the shorter run's — by the best "
            "validation value each had reached by then (the test set is not read; validation values, so not "
            "the test numbers above).", "",
            *markdown_table(["cell", "validation metric", "minutes", "base", "extended", "gain (paired ± sd)",
                             "seeds"], cells), ""]


# what the techniques log each step (Eq. 16's weights, Eq. 17's D(x), the AA-SVAE's label agreement)
MECHANISM_TERMS = {"iw_ess_fraction": "IW: effective sample size of the weights / group size",
                   "iw_weight_max": "IW: largest weight (uniform = 1)",
                   "aa_weight_real": "AA: D(x) on real examples", "aa_weight_fake": "AA: D(x) on generated examples",
                   "aa_label_agreement": "AA-SVAE: share of generated examples the classifier labels as requested",
                   "d_train": "D(x) of the selected model on its training images (RUN/probe.json)",
                   "d_train_ess": "the same D(x) as weights (Eq. 17's, real examples): effective sample size / n",
                   "d_unlabelled": "D(x) of the selected model on its unlabelled training images (RUN/probe.json)",
                   "d_heldout": "D(x) of the selected model on held-out validation images (RUN/probe.json)",
                   "is_real_test": "the same classifier's inception score of as many real test images (the ceiling)"}


def mechanism(runs, variant, seeds) -> dict[str, float]:
    """The technique's logged terms (``MECHANISM_TERMS``) averaged over the second half of each run's training log
    (metrics.jsonl), then over seeds: what the weights did while the model converged. Finished runs only: the
    first half of a run still training would stand in for its second."""
    from ...train.rundir import RunDir
    per_seed: dict[str, list[float]] = {}
    for seed in seeds:
        if not is_done(runs, variant, seed):
            continue
        folder = run_dir(runs, variant, seed)
        rows = RunDir(folder).metrics()
        last = max((r["step"] for r in rows), default=0)
        probe = read_probe(folder) or {}
        real = json.loads((folder / "metrics.json").read_text()).get("inception_score", {}).get("real_test")
        if real:
            probe = {**probe, "is_real_test": real["mean"]}
        for term in MECHANISM_TERMS:
            if term == "d_train_ess" and "aa" not in variant.techniques:
                continue  # a GAN's D(x) on real images weighs nothing
            vals = [v for r in rows if r["step"] >= last / 2 for k, v in r.items() if k.rsplit("/", 1)[-1] == term]
            if term in probe:
                vals = [probe[term]]
            if vals:
                per_seed.setdefault(term, []).append(sum(vals) / len(vals))
    return {t: sum(v) / len(v) for t, v in per_seed.items()}


def _mechanism_section(mine, plan: Plan, runs) -> list[str]:
    cells = []
    for r in mine:
        c = r["comparison"]
        for label, key in ((c.base.label, "base_variant"), (c.ext.label, "ext_variant")):
            for term, value in mechanism(runs, plan.variants[r[key]], plan.seeds).items():
                cells.append([f"{c.setting}: {label}", MECHANISM_TERMS[term], f"{value:.3f}"])
    if not cells:
        return []
    return ["## Mechanism: what the techniques' weights did", "",
            "Logged every step by the models with a discriminator; mean over the second half of each run's "
            "training, then over seeds. The D(x) rows are the selected model's discriminator on up to 2,000 of its "
            "own training images and as many held-out validation images (the test set is not read): D(x) higher "
            "on the training images than on held-out ones means D has memorised them.", "",
            *markdown_table(["cell", "quantity", "value"], cells), ""]


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
    name = (f"curve-{c.table}-{c.setting.replace('%', 'pct').replace(' ', '_')}-{c.base.key}"
            + (f"-{c.ext.key}" if c.ablation else "") + ".png")
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
