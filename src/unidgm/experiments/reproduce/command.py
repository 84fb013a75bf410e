"""The command line of ``unidgm reproduce``: options, training the plan's runs, the invocation log."""

from __future__ import annotations

import json
import os
import shlex
import time
from pathlib import Path

from ...errors import ConfigError
from .. import recipes as R
from ..sweep import SweepInterrupted, run_sweep
from .plan import Plan
from .probe import probe_missing
from .render import write_report

LOG = "invocations.jsonl"  # one JSON line per invocation that trained (results folder and runs folder)


TABLES = ("table2", "table3", "all", "reference")


def add_parser(sub):
    p = sub.add_parser("reproduce", help="reproduce the paper's tables (table2, table3, all) next to its numbers",
                       description="Trains base and extended models with equal budgets over several seeds and "
                                   "writes a Markdown report with the paper's numbers, ours, gains and verdicts.")
    # optional to argparse only so that `--ablations table3` (the flag's value is optional) still finds its table
    p.add_argument("table", nargs="?", choices=TABLES,
                   help="reference: the reproducibility table (standard models to convergence vs published figures)")
    p.add_argument("--only", default=None, help="reference: comma-separated groups (default: all); table2/table3: "
                                                "train only the comparisons of these base models (e.g. vae,cvae; "
                                                "their ablation rows too), while the report still covers the whole "
                                                "table")
    p.add_argument("--models", default=None, help="table2/table3: of the comparisons trained, only these models "
                                                  "(e.g. iwgan, or aa-vae-warmup1000 for an ablation row's), so that "
                                                  "two lanes can share one seed of a pair")
    p.add_argument("--max-minutes", type=float, default=None, help="reference: wall-clock budget per training run")
    p.add_argument("--seed-list", default=None, help="train these seeds only, e.g. 2 or 0,1 (for parallel lanes; "
                                                     "tables: the report still covers --seeds)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per model (paper: 5; default 5, --quick: 2)")
    p.add_argument("--sizes", default="1,10,100", help="training-data percentages for Table 3 / Table 2 right")
    p.add_argument("--gan-sizes", default="100", help="training-data percentages for Table 2 left/middle "
                                                      "(the paper: 100; e.g. 1,100 adds a 1%% row)")
    p.add_argument("--steps", default=None, help="training steps: N for every model, or family=N pairs "
                                                 "(vae=3000,svae=2000,gan=1000; families vae, svae, gan), with @PCT for one "
                                                 "training-data size and :ablations for the ablation rows only "
                                                 "(svae=15000,svae:ablations=5000)")
    p.add_argument("--recipe", default=None, help="training recipe for base and extended models alike (unidgm "
                                                  "explain MODEL lists them): NAME, or family=NAME pairs such as "
                                                  "vae=small-data,svae=converged, with @PCT for one training-data "
                                                  "size (vae@1=small-data,vae=converged) and :ablations for the "
                                                  "ablation rows only (svae:ablations=none: as without a recipe); its "
                                                  "schedule, validation and early stopping, its step budget unless "
                                                  "--steps names one")
    p.add_argument("--ablations", nargs="?", const="all", default=None, metavar="NAMES",
                   help="add the ablation rows: AA's warm-up, weight normalisation and generated samples per real "
                        "one; IW's tempered weights and group size; for the AA-SVAE, only samples its classifier "
                        "agrees with (beyond the paper). Alone: all of them; or some, comma-separated: "
                        f"{','.join(R.ABLATION_NAMES)}")
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
    p.add_argument("--dry-run", action="store_true",
                   help="list the runs still to train (finished ones are skipped; an interrupted one resumes from "
                        "its checkpoint) with their step caps and CPU time, then stop: trains and writes nothing")
    p.add_argument("--data-root", default=None, help="dataset folder, e.g. ../shared/data (default: $UNIDGM_DATA, "
                                                     "else ~/.cache/unidgm)")
    p.set_defaults(handler=cmd_reproduce)


def cmd_reproduce(args) -> int:
    import torch
    if args.table is None and args.ablations in TABLES:  # `--ablations table3`: the table, and every ablation
        args.table, args.ablations = args.ablations, "all"
    if args.table is None:
        raise ConfigError(f"unidgm reproduce needs a table: one of {', '.join(TABLES)} "
                          "(e.g. unidgm reproduce table3 --ablations)")
    if args.table == "reference":
        from ..reference import cmd_reference
        return cmd_reference(args, Path(args.out or "benchmarks/results"), args.data_root)
    args.out = args.out or "results/reproduce"
    t0, cpu0 = time.time(), _cpu_seconds()
    plan = Plan(args)
    out = Path(args.out)
    runs = Path(args.runs) if args.runs else out / "runs"
    jobs = max(1, args.jobs)
    if getattr(args, "dry_run", False):
        print(pending_runs(plan, runs, jobs))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    threads = args.threads or max(1, (os.cpu_count() or 1) // jobs)
    torch.set_num_threads(threads)
    command = command_line(args)
    for note in plan.notes:
        print(f"note: {note}")
    for c, why in plan.skipped:
        print(f"{c.table} {c.setting} {c.base.label} vs {c.ext.label}: {why}")
    if not args.report_only:
        variants = plan.ordered()
        # each run's own cap: a recipe's budget replaces the --steps default unless --steps names the family
        caps = {}
        for v in variants:
            caps.setdefault(v.overrides.get("recipe", "no recipe"), set()).add(v.steps)
        budgets = ", ".join(f"{'/'.join(map(str, sorted(s)))} steps ({r})" for r, s in sorted(caps.items()))
        print(f"reproduce {args.table}: {len(variants)} models x {len(plan.train_seeds)} seeds on {plan.main}, at most "
              f"{budgets}, {jobs} job(s) x {threads} thread(s); runs in {runs}")
        if any(v.model in ("gan", "cgan") for v in variants):
            _warm_classifier(plan)  # trained once here, not by every worker at the same time
        try:
            run_sweep(variants, plan.train_seeds, runs, plan.data_root, jobs=jobs, threads=threads)
        except SweepInterrupted as e:  # its training time is part of the record too
            _log_invocation(out, command, time.time() - t0, args, plan, _cpu_seconds() - cpu0, runs,
                            interrupted=str(e))
            raise
        # a report-only pass changes no result: not an invocation of record
        _log_invocation(out, command, time.time() - t0, args, plan, _cpu_seconds() - cpu0, runs)
    probe_missing(plan.variants.values(), plan.seeds, runs, plan.data_root)
    paths = write_report(plan, runs, out, invocations(out, runs))
    print(f"report: {paths['report']}")
    for t in plan.tables:
        text = (out / f"{t}.md").read_text()
        print(text[text.index("## Results"):text.index("## Verdict rule")].rstrip())
    return 0


def pending_runs(plan: Plan, runs: Path, jobs: int = 1) -> str:
    """The runs an invocation would train, in its order: each run's step cap, the step its checkpoint resumes
    from, and its CPU time at the measured cost per step (``FAMILY_COST_MS``: an upper bound, since early
    stopping may end a run before its cap)."""
    from ...train.checkpoint import checkpoint_step, latest_checkpoint
    from ..sweep import is_done, run_dir
    from .plan import run_cost_ms
    lines, total, done = [], 0.0, 0
    for v in plan.ordered():
        for seed in plan.train_seeds:
            if is_done(runs, v, seed):
                done += 1
                continue
            ckpt = latest_checkpoint(run_dir(runs, v, seed) / "checkpoints")
            start = checkpoint_step(ckpt) if ckpt else 0
            minutes = run_cost_ms(v) * (v.steps - start) / v.steps / 60e3
            total += minutes
            lines.append(f"  {v.name} seed {seed}: at most {v.steps} steps"
                         + (f", resumes from step {start}" if start else "") + f", ~{minutes:.0f} min")
    head = (f"{len(lines)} run(s) to train in {runs} ({done} finished, skipped); at most ~{total / 60:.1f} CPU hours "
            f"at one thread per run, ~{total / 60 / max(1, jobs):.1f} h wall with --jobs {jobs}")
    return "\n".join([head, *lines])


def command_line(args) -> str:
    """The invocation as an explicit ``unidgm reproduce`` command (every option spelled out)."""
    parts = ["unidgm", "reproduce", args.table, "--seeds", str(args.seeds) if args.seeds is not None else None,
             "--sizes", args.sizes, "--gan-sizes", args.gan_sizes, "--steps", args.steps,
             "--recipe", getattr(args, "recipe", None), "--only", getattr(args, "only", None),
             "--models", getattr(args, "models", None),
             "--seed-list", getattr(args, "seed_list", None), "--data", args.data,
             "--out", args.out, "--runs", args.runs, "--jobs", str(args.jobs), "--threads",
             None if args.threads is None else str(args.threads), "--curve-points",
             None if args.curve_points is None else str(args.curve_points), "--data-root", args.data_root]
    words = []
    for flag, value in zip(parts[3::2], parts[4::2]):
        if value is not None:
            words += [flag, shlex.quote(str(value))]
    ablations = getattr(args, "ablations", None)
    words += ["--quick"] * bool(args.quick) + ["--ablations"] * bool(ablations)
    words += [ablations] if ablations not in (None, "all") else []
    words += ["--report-only"] * bool(args.report_only)
    return " ".join(parts[:3] + words)


def _warm_classifier(plan: Plan) -> None:
    from ...data import get_dataset
    from ...eval.classifier import get_classifier
    from ...eval.run import writable_cache
    for data in sorted({v.data for v in plan.variants.values() if v.model in ("gan", "cgan")}):
        train = get_dataset(data, "train", plan.data_root, seed=0)
        test = get_dataset(data, "test", plan.data_root, seed=1)
        _, acc = get_classifier(data, train, test, writable_cache(plan.data_root), progress=False)
        print(f"domain classifier for {data}: test accuracy {acc:.4f}")


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the sweep's worker processes)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _log_invocation(out: Path, command: str, wall: float, args, plan: Plan, cpu: float, runs: Path,
                    interrupted: str | None = None) -> None:
    """Appends the invocation to ``out``'s log and to the runs folder's own: a lane that writes its report
    elsewhere (``--out /tmp/lane --runs benchmarks/results/runs``) still leaves its command beside its runs."""
    entry = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "wall_s": round(wall, 1),
             "cpu_s": round(cpu, 1),
             "report_only": bool(args.report_only), "quick": plan.quick, "steps": plan.steps,
             "seeds": plan.train_seeds, "data": plan.main, "data_root": str(plan.data_root) if plan.data_root else None,
             "jobs": args.jobs, "threads": args.threads, "runs": str(runs)}
    if interrupted:
        entry["note"] = f"interrupted: {interrupted}"
    runs.mkdir(parents=True, exist_ok=True)
    for log in dict.fromkeys([out / LOG, runs / LOG]):
        with open(log, "a") as f:
            f.write(json.dumps(entry) + "\n")


def invocations(out: Path, runs: Path | None = None) -> list[dict]:
    """The invocations of record: ``out``'s log, and with ``runs`` only those that trained into that runs folder
    (a report lists the commands behind its own runs, not those of an earlier set of runs), joined with the runs
    folder's own log (every invocation that trained into it, wherever its report went), by date."""
    rows = _read_log(out / LOG)
    if runs is None:
        return rows
    mine = [r for r in rows if Path(r.get("runs") or _runs_of(r["command"], out)) == Path(runs)]
    seen = {(r["command"], r.get("date")) for r in mine}
    mine += [r for r in _read_log(Path(runs) / LOG) if (r["command"], r.get("date")) not in seen]
    return sorted(mine, key=lambda r: r.get("date") or "")


def _read_log(f: Path) -> list[dict]:
    return [json.loads(ln) for ln in f.read_text().splitlines() if ln.strip()] if f.exists() else []


def _runs_of(command: str, out: Path) -> str:
    """The runs folder a logged command trained into (``--runs``, else its ``--out``/runs)."""
    words = shlex.split(command)
    if "--runs" in words:
        return words[words.index("--runs") + 1]
    return str(Path(words[words.index("--out") + 1]) / "runs") if "--out" in words else str(out / "runs")

