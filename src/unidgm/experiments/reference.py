"""The reproducibility table: standard models trained to convergence, selected on validation, next to
their published figures (``unidgm reproduce reference``).

Each *group* is one training recipe (model, recipe, overrides) run for several seeds; each seed is a
*cell*: a run folder trained with validation (the best validated checkpoint is the result), evaluated on
the test set once, and written as a small JSON file under ``benchmarks/results/reference/<group>/`` with
the metrics, the validation curve, the config, the command, the machine and the versions (never a
checkpoint). A cell already on disk with the same recipe and budget is skipped, so the table fills in
over several sessions; an interrupted cell resumes from its run folder. ``reference.json`` / ``.md``
are rebuilt from whatever cells exist. Nothing here looks at test numbers to choose anything.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import models as _zoo  # noqa: F401  (registers the zoo: groups name models)
from ..errors import ConfigError
from ..recipes import SEMI_SUPERVISED
from ..report import machine, markdown_table, write_json, write_text


@dataclass(frozen=True)
class Row:
    name: str
    metric: str          # key in the cell's metrics
    reference: float
    source: str
    higher_is_better: bool = True


@dataclass(frozen=True)
class Group:
    key: str
    model: str
    recipe: str
    overrides: dict = field(hash=False)
    metrics: tuple[str, ...]
    rows: tuple[Row, ...]
    k: int = 1000             # importance samples for log_likelihood
    note: str = ""


# the converged recipe with the semi-supervised one's cadence (written this way before that recipe existed; the
# committed cells record these settings, so they stay as they are)
_M2 = dict(SEMI_SUPERVISED)

GROUPS = {g.key: g for g in (
    Group("vae-1pct", "vae", "small-data", {"n_train": 600}, ("elbo",),
          (Row("VAE on 1% of MNIST (600 images), recipe small-data: test ELBO", "elbo", -122.89, "the paper, Table 3"),),
          note="recipe chosen on validation between the paper's 784-500-500-50 net and small-data (784-200-20)"),
    Group("vae-mnist", "vae", "converged", {}, ("elbo", "log_likelihood"),
          (Row("VAE 784-500-500-50, full MNIST, dynamic binarisation: test ELBO", "elbo", -92.53, "the paper, Table 3"),
           Row("the same model: importance-sampled log-likelihood, k = 5000", "log_likelihood", -86.76,
               "Burda et al. 2016, VAE, one stochastic layer, k=1")), k=5000),
    Group("iwae-k5-mnist", "iwae", "converged", {"model.k": 5}, ("log_likelihood",),
          (Row("IWAE k = 5, full MNIST: log-likelihood, k = 5000", "log_likelihood", -85.54, "Burda et al. 2016"),),
          k=5000),
    Group("m2-600", "svae", "converged", _M2 | {"n_labelled": 600}, ("ssl_accuracy",),
          (Row("M2 semi-supervised VAE, 600 labels: test accuracy", "ssl_accuracy", 0.9437,
               "Pyro's example (the paper: 0.9412)"),)),
    Group("m2-3000", "svae", "converged", _M2 | {"n_labelled": 3000}, ("ssl_accuracy",),
          (Row("M2 semi-supervised VAE, 3000 labels: test accuracy", "ssl_accuracy", 0.9582, "Pyro's example"),)),
    Group("dcgan-mnist", "gan", "converged", {"model.arch": "dcgan"}, ("inception_score",),
          (Row("DCGAN on MNIST: classifier inception score (10k samples)", "inception_score", 8.34,
               "the paper, Table 2"),)),
    Group("cgan-mnist", "cgan", "converged", {"model.arch": "dcgan"}, ("cond_accuracy",),
          (Row("conditional DCGAN on MNIST: conditional-generation accuracy", "cond_accuracy", 0.985,
               "the paper, Table 2"),)),
)}


def metric_value(metrics: dict, name: str) -> float | None:
    m = metrics.get(name)
    if not isinstance(m, dict):
        return None
    return m.get("value", m.get("mean"))


def cell_path(results: Path, group: str, seed: int) -> Path:
    return results / "reference" / group / f"seed-{seed}.json"


def cell_matches(path: Path, budget: dict) -> bool:
    """A committed cell counts when it ran the same recipe with at least the requested budget."""
    try:
        cell = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    b = cell.get("budget", {})
    return (b.get("recipe") == budget["recipe"] and b.get("settings") == budget.get("settings")
            and (b.get("max_minutes") or 1e9) >= (budget.get("max_minutes") or 1e9))


def group_settings(group: Group) -> dict:
    """What the group's recipe and overrides set (a recipe edited since a cell ran makes the cell stale)."""
    from ..recipes import RECIPES
    from ..registry import MODELS
    return json.loads(json.dumps({**RECIPES[group.recipe].overrides(MODELS.get(group.model).family),
                                  **group.overrides}))


def wall_at_step(run_dir: Path, step: int) -> float | None:
    """Training wall seconds until ``step`` (``RunDir.wall_at``); None if the log does not reach ``step``."""
    from ..train.rundir import RunDir
    wall = RunDir(run_dir).wall_at(step)
    return None if wall is None else round(wall, 1)


def run_cell(group: Group, seed: int, runs: Path, results: Path, data_root, *, data: str = "mnist",
             max_minutes: float | None = None, threads: int = 1, extra: dict | None = None) -> dict:
    """Train (or resume) one seed of ``group``, evaluate its best validated model on test, write the cell."""
    from .. import api
    from ..eval.run import evaluate_run
    run_dir = runs / group.key / f"seed-{seed}"
    over = {"recipe": group.recipe, **group.overrides, "seed": seed, "threads": threads, "progress": False,
            **(extra or {})}
    if max_minutes:
        over["max_minutes"] = max_minutes
    t0 = time.time()
    if (run_dir / "checkpoints" / "latest").exists():
        run = api.resume(run_dir, data_root=data_root, overrides={"max_minutes": max_minutes} if max_minutes else None,
                         force=True, progress=False)
    else:
        run = api.train(group.model, data, overrides=over, out=run_dir, data_root=data_root, progress=False)
    train_s = time.time() - t0
    t1 = time.time()
    metrics = evaluate_run(run_dir, list(group.metrics), data_root=data_root, k=group.k, progress=False)
    rows = api.RunDir(run_dir).metrics()
    curve = [{k: v for k, v in r.items() if k == "step" or k.startswith("val/")} for r in rows
             if any(k.startswith("val/") for k in r)]
    cfg = run.settings.to_dict()
    steps_done = max((r["step"] for r in rows), default=0)
    n_train = json.loads((run_dir / "split.json").read_text()).get("n_train") if (run_dir / "split.json").exists() else None
    cell = {"group": group.key, "seed": seed, "model": group.model, "data": data,
            "metrics": {m: metric_value(metrics, m) for m in group.metrics}, "evaluation": metrics,
            "selection": "validation", "best": run.best, "stopped": run.stopped or "steps",
            "validation_curve": curve, "steps": steps_done,
            "epochs": round(steps_done * cfg["train"]["batch_size"] / n_train, 1) if n_train else None,
            "budget": {"recipe": group.recipe, "settings": group_settings(group), "max_minutes": max_minutes,
                       "steps": cfg["train"]["steps"]},
            "train_wall_s": round(train_s, 1), "train_wall_to_best_s": wall_at_step(run_dir, (run.best or {}).get("step", 0)),
            "eval_wall_s": round(time.time() - t1, 1),
            "config": cfg, "command": cell_command(group.key, seed, max_minutes, threads),
            "machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M")}
    write_json(cell_path(results, group.key, seed), cell, indent=1, default=float)
    return cell


def cell_command(group: str, seed: int, max_minutes: float | None, threads: int | None = 1) -> str:
    """The command that trains (or resumes) and evaluates this one cell."""
    return (f"unidgm reproduce reference --only {group} --seed-list {seed}"
            + (f" --max-minutes {max_minutes:g}" if max_minutes else "") + f" --threads {threads or 1}"
            + " --data-root DIR")


def late_gain(curve: list[dict], higher_is_better: bool = True, key: str | None = None) -> dict | None:
    """How much the best validation value of ``key`` (the selection metric; by default the curve's first)
    moved over the last quarter of a run's steps (positive: it still improved), from the cell's validation
    curve: whether the budget, not the recipe, ended the run."""
    key = key or next((k for r in curve for k in r if k.startswith("val/") and not k.endswith("_best")), None)
    pts = [(r["step"], r[key]) for r in curve if key in r and r[key] == r[key]]
    if len(pts) < 4:
        return None
    best = max if higher_is_better else min
    cut = 0.75 * pts[-1][0]
    before, end = best(v for s, v in pts if s <= cut), best(v for _, v in pts)
    return {"metric": key, "at_three_quarters": before, "best": end, "last_step": pts[-1][0],
            "gain": (end - before) if higher_is_better else (before - end)}


def collect(results: Path) -> dict:
    """reference.json: one row per published figure, with every committed seed's test value."""
    rows = []
    for g in GROUPS.values():
        cells = []
        for p in sorted((results / "reference" / g.key).glob("seed-*.json")):
            try:
                cells.append(json.loads(p.read_text()))
            except (OSError, ValueError):
                continue
        for r in g.rows:
            vals = [c["metrics"].get(r.metric) for c in cells if c["metrics"].get(r.metric) is not None]
            # the classifier's score of the real test images (inception score): the ceiling beside the row
            real = [c["evaluation"][r.metric]["real_test"]["mean"] for c in cells
                    if "real_test" in (c.get("evaluation", {}).get(r.metric) or {})]
            rows.append({"name": r.name, "group": g.key, "metric": r.metric, "reference": r.reference,
                         "source": r.source, "higher_is_better": r.higher_is_better, "ours_values": vals,
                         "real_test_values": real,
                         "seeds": [c["seed"] for c in cells if c["metrics"].get(r.metric) is not None],
                         "selection": "validation", "budget": _budget_text(cells, recipe_label(g)),
                         "command": f"unidgm reproduce reference --only {g.key} --seeds 3",
                         "cells": [{"seed": c["seed"], "stopped": c.get("stopped"), "steps": c.get("steps"),
                                    "best_step": (c.get("best") or {}).get("step"),
                                    "late_gain": late_gain(c.get("validation_curve") or [], r.higher_is_better,
                                                           (c.get("best") or {}).get("metric")),
                                    "command": cell_command(g.key, c["seed"], c.get("budget", {}).get("max_minutes"),
                                                            c.get("config", {}).get("train", {}).get("threads"))}
                                   for c in cells if c["metrics"].get(r.metric) is not None],
                         "verdict": verdict(vals, r)})
    return {"rows": rows, "generated": time.strftime("%Y-%m-%d %H:%M"), "machine": machine()}


def _span(values: list) -> str:
    return f"{values[0]}" if values[0] == values[-1] else f"{values[0]}–{values[-1]}"


def recipe_label(group: Group) -> str:
    """The recipe a group's settings amount to: its own name, or the named recipe its overrides reproduce (the M2
    rows were written as converged + the semi-supervised cadence before that recipe had a name), else the name
    followed by the overrides that change it."""
    from ..recipes import RECIPES
    from ..registry import MODELS
    family = MODELS.get(group.model).family
    base = RECIPES[group.recipe].overrides(family)
    changed = {k: v for k, v in group.overrides.items() if k in base and base[k] != v}
    if not changed:
        return group.recipe
    merged = {**base, **changed}
    for name, r in RECIPES.items():
        if r.overrides(family) == merged:
            return name
    return group.recipe + " with " + ", ".join(f"{k} {v}" for k, v in changed.items())


def _budget_text(cells: list[dict], recipe: str) -> str:
    if not cells:
        return "not run yet"
    steps = sorted({c["steps"] for c in cells})
    epochs = sorted({c.get("epochs") for c in cells if c.get("epochs") is not None})
    stops = sorted({c.get("stopped", "?") for c in cells})
    wall = sum(c.get("train_wall_s", 0) for c in cells) / len(cells) / 60
    to_best = [c["train_wall_to_best_s"] / 60 for c in cells if c.get("train_wall_to_best_s")]
    return (f"recipe {recipe}; steps {_span(steps)}"
            + (f" ({_span(epochs)} epochs)" if epochs else "")
            + f"; stopped by {', '.join(stops)}; {wall:.0f} min/seed of training"
            + (f" (best checkpoint after {sum(to_best) / len(to_best):.0f} min)" if to_best else ""))


def verdict(vals: list[float], r: Row) -> str:
    import statistics as st
    if len(vals) == 0:
        return "not run yet"
    m = st.mean(vals)
    sd = st.stdev(vals) if len(vals) > 1 else 0.0
    gap = (m - r.reference) if r.higher_is_better else (r.reference - m)
    if gap >= 0:
        return "reached"
    if -gap <= 2 * sd / max(1, len(vals)) ** 0.5:
        return "within noise"
    return f"short by {-gap:.4g}"


def render(table: dict) -> str:
    from ..eval.table import format_over_seeds
    lines = ["# Reproducibility table: unidgm against published figures", "",
             f"Generated {table['generated']} on {table['machine'].get('processor')} "
             f"({table['machine'].get('cpu_count')} cores), torch {table['machine'].get('torch')}. "
             "Every number is a model selected on the validation split (held out of the training images), "
             "measured once on the test set. Command per row below; cells: `benchmarks/results/reference/`.", ""]
    rows = []
    for r in table["rows"]:
        d = 4 if abs(r["reference"]) < 2 else 2
        vals = r["ours_values"]
        ours = "—" if not vals else format_over_seeds(vals, d) + (" (one seed)" if len(vals) == 1 else "")
        real = r.get("real_test_values") or []
        published = f"{r['reference']} ({r['source']})" + (
            f"; real test images: {sum(real) / len(real):.{d}f}" if real else "")
        rows.append([r["name"], published, ours, len(r["ours_values"]), r["verdict"],
                     r["budget"]])
    lines += markdown_table(["row", "published", "ours (mean ± std)", "seeds", "verdict", "budget"], rows)
    lines += ["", "## Where each run ended (validation only)", "",
              "The best validation value at three quarters of a run's steps and at its end: a run whose value still "
              "moved over its last quarter was ended by its budget, not by convergence. Test numbers play no part.", ""]
    cells, seen = [], set()
    for r in table["rows"]:
        for c in r.get("cells", []):
            if (r["group"], c["seed"]) in seen:
                continue
            seen.add((r["group"], c["seed"]))
            g = c.get("late_gain")
            cells.append([r["group"], c["seed"], c.get("stopped"), c.get("steps"), c.get("best_step"),
                          "—" if not g else f"{g['metric']} {g['at_three_quarters']:.4g} → {g['best']:.4g} "
                                            f"({g['gain']:+.3g})",
                          f"`{c['command']}`"])
    lines += markdown_table(["group", "seed", "stopped by", "steps", "best at step",
                             "last quarter: best validation", "command"], cells)
    return "\n".join(lines) + "\n"


def write(results: Path) -> dict:
    table = collect(results)
    write_json(results / "reference.json", table, indent=1, default=float)
    write_text(results / "reference.md", render(table))
    return table


def pending_budget(group: Group, run_dir: Path, max_minutes: float | None) -> str:
    """A cell's budget as a dry run states it: the step cap, the wall-clock cap, where its checkpoint resumes."""
    from ..train.checkpoint import checkpoint_step, latest_checkpoint
    steps = group_settings(group).get("steps")
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    return (f"recipe {group.recipe}, at most {steps} steps" + (f" or {max_minutes:g} min" if max_minutes else "")
            + (f", resumes from step {checkpoint_step(ckpt)}" if ckpt else "") + f"; evaluates {', '.join(group.metrics)}"
            + (f" (k = {group.k})" if "log_likelihood" in group.metrics else ""))


def cmd_reference(args, results: Path, data_root) -> int:
    only = [g.strip() for g in (args.only or "").split(",") if g.strip()] or list(GROUPS)
    bad = [g for g in only if g not in GROUPS]
    if bad:
        raise ConfigError(f"--only: unknown group(s) {bad}; groups: {', '.join(GROUPS)}")
    from .reproduce.plan import parse_seed_list
    seeds = parse_seed_list(getattr(args, "seed_list", None)) or range(args.seeds or 3)
    runs = Path(args.runs) if args.runs else Path("runs") / "reference"
    todo = []
    for key in only:
        for seed in seeds:
            budget = {"recipe": GROUPS[key].recipe, "settings": group_settings(GROUPS[key]),
                      "max_minutes": args.max_minutes}
            path = cell_path(results, key, seed)
            if path.exists() and cell_matches(path, budget):
                print(f"{key} seed {seed}: committed ({path}), skipped")
            else:
                todo.append((key, seed))
    if getattr(args, "dry_run", False):
        print(f"{len(todo)} cell(s) to train in {runs}:")
        for key, seed in todo:
            print(f"  {key} seed {seed}: {pending_budget(GROUPS[key], runs / key / f'seed-{seed}', args.max_minutes)}")
        return 0
    if not args.report_only:
        for key, seed in todo:
            print(f"{key} seed {seed}: training (recipe {GROUPS[key].recipe}) ...", flush=True)
            cell = run_cell(GROUPS[key], seed, runs, results, data_root, max_minutes=args.max_minutes,
                            threads=args.threads or 1)
            print(f"{key} seed {seed}: {cell['metrics']} after {cell['steps']} steps ({cell['stopped']})",
                  flush=True)
            write(results)
    table = write(results)
    done = sum(len(r["ours_values"]) >= 3 for r in table["rows"])
    print(f"wrote {results / 'reference.md'}: {done}/{len(table['rows'])} rows with >= 3 seeds")
    return 0
