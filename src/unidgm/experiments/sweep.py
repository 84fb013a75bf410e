"""The sweep runner: one config over N seeds and over model/technique variants, as mean ± std.

Every (variant, seed) trains into its own run folder ``<runs>/<variant>/seed-<s>``; a folder whose
``metrics.json`` exists is finished and skipped, one with checkpoints but no ``metrics.json`` is
resumed from its latest checkpoint (bit-exact on CPU), so an interrupted sweep continues where it
stopped. With several jobs, a SIGINT or SIGTERM (Ctrl-C, or ``kill`` of the sweep's own process) stops
every running training after its step with a checkpoint, starts no further run, and ends the sweep with
the command to resume; a second one stops at once (the last checkpoints stay on disk). Besides the final
metrics, each run stores ``curve.json``: the same metrics evaluated at every kept checkpoint on a fixed
test subset, so that a gain can be checked along training.

    from unidgm.experiments.sweep import Variant, run_sweep, write_summary
    vs = [Variant("vae", "vae", "digits", overrides={"steps": 300}, metrics=("elbo",)),
          Variant("aa-vae", "vae", "digits", ("aa",), {"steps": 300}, ("elbo",))]
    results = run_sweep(vs, seeds=[0, 1, 2], runs="runs/sweep")
    write_summary(vs, [0, 1, 2], "runs/sweep", "results/sweep")   # .md, .csv, .json
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..report import machine, write_json, write_text

CURVE, TIMING, METRICS = "curve.json", "timing.json", "metrics.json"


@dataclass(frozen=True)
class Variant:
    """One configuration of a sweep: model, data, technique switches, overrides, what to evaluate."""

    name: str                                # folder name under the runs folder
    model: str
    data: str = "digits"
    techniques: tuple[str, ...] = ()
    overrides: dict = field(default_factory=dict, hash=False, compare=False)
    metrics: tuple[str, ...] = ()            # final metrics (evaluate_run); () = all that apply
    curve_points: int = 4                    # checkpoints evaluated along training (0: none)
    eval: dict = field(default_factory=dict, hash=False, compare=False)  # n_samples, k, max_test, curve_test

    @property
    def steps(self) -> int:
        from ..train.config import TrainConfig
        return int(self.overrides.get("steps", self.overrides.get("train.steps", TrainConfig().steps)))

    def run_overrides(self, seed: int) -> dict:
        """The variant's overrides plus seed and a checkpoint schedule that keeps every curve point."""
        ov = {**self.overrides, "seed": seed, "progress": False}
        if self.curve_points > 0:
            ov["ckpt_every"] = max(1, self.steps // self.curve_points)
            ov["keep_ckpts"] = self.curve_points + 2
        return ov

    def commands(self, seed: int, run: Path, data_root=None) -> list[str]:
        """The equivalent CLI commands of one run (train, then eval)."""
        root = f" --data-root {shlex.quote(str(data_root))}" if data_root else ""
        techs = "".join(f" --technique {t}" for t in self.techniques)
        ov = " ".join(f"{k}={_cli_value(v)}" for k, v in self.run_overrides(seed).items() if k != "progress")
        train = f"unidgm train {self.model} --data {self.data}{techs} {ov} --out {run} --no-progress{root}"
        ev = self.eval
        evc = (f"unidgm eval {run} --metrics {','.join(self.metrics) or 'auto'}"
               f" --n-samples {ev.get('n_samples', 10000)} --k {ev.get('k', 1)}"
               + (f" --max-test {ev['max_test']}" if ev.get("max_test") else "") + root)
        return [train, evc]


def _cli_value(v) -> str:
    if isinstance(v, (tuple, list)):
        return "[" + ",".join(str(e) for e in v) + "]"
    return str(v).lower() if isinstance(v, bool) else str(v)


def run_dir(runs, variant: Variant, seed: int) -> Path:
    return Path(runs) / variant.name / f"seed-{seed}"


def is_done(runs, variant: Variant, seed: int) -> bool:
    return (run_dir(runs, variant, seed) / METRICS).exists()


# --- one run ---------------------------------------------------------------------------------------------

def run_one(variant: Variant, seed: int, runs, data_root=None, threads: int | None = None) -> dict:
    """Train (or resume), evaluate along checkpoints and at the end; skip a finished run."""
    from ..train.speed import torch_threads
    with torch_threads(threads):  # restored after the run: API callers keep their thread count
        return _run_one(variant, seed, runs, data_root)


def _run_one(variant: Variant, seed: int, runs, data_root=None) -> dict:
    from .. import api
    from ..train import checkpoint as ckpt
    folder = run_dir(runs, variant, seed)
    if (folder / METRICS).exists():
        return {"variant": variant.name, "seed": seed, "skipped": True, **json.loads((folder / METRICS).read_text())}
    t0 = time.time()
    latest = ckpt.latest_checkpoint(folder / "checkpoints") if folder.exists() else None
    if latest is None and folder.exists():
        shutil.rmtree(folder)  # started but never checkpointed: start afresh
    if latest is None:
        api.train(variant.model, variant.data, overrides=variant.run_overrides(seed), techniques=variant.techniques,
                  out=folder, data_root=data_root, progress=False)
    elif ckpt.checkpoint_step(latest) < variant.steps:
        api.resume(folder, data_root=data_root, progress=False)
    t_train = time.time() - t0
    if variant.curve_points > 0 and not (folder / CURVE).exists():
        # a run that validated has its curve already, on the validation split: the test set stays read once
        curve = validation_curve(folder) or evaluate_curve(folder, variant, data_root)
        write_json(folder / CURVE, curve, indent=1)
    t_curve = time.time() - t0 - t_train
    timing = {"train_s": t_train, "curve_s": t_curve, "threads": torch.get_num_threads()}
    write_json(folder / TIMING, timing)
    from ..eval.run import evaluate_run
    ev = variant.eval
    result = evaluate_run(folder, list(variant.metrics) or None, data_root=data_root,
                          n_samples=ev.get("n_samples", 10000), k=ev.get("k", 1), max_test=ev.get("max_test"),
                          progress=False)  # writes metrics.json last: the run's "done" mark
    timing["eval_s"] = time.time() - t0 - t_train - t_curve
    timing["total_s"] = time.time() - t0
    write_json(folder / TIMING, timing)
    return {"variant": variant.name, "seed": seed, "skipped": False, **result}


def _run_task(args):
    variant, seed, runs, data_root, threads = args
    return run_one(variant, seed, runs, data_root, threads)


# --- stopping a parallel sweep in order -----------------------------------------------------------------
# A worker that has been asked to stop finishes what it is doing (a training stops after its step with a
# checkpoint; an evaluation completes) and starts no further run, so neither Ctrl-C (which reaches every process
# of the group) nor a signal to the sweep alone leaves workers training on, or a pool waiting on them forever.

_STOP: int | None = None  # in a sweep worker: the signal that asked it to stop
_FORWARD = getattr(signal, "SIGUSR1", None)  # the sweep's own request to its workers (POSIX)


class SweepInterrupted(Exception):
    """A sweep stopped by SIGINT/SIGTERM: its running runs saved checkpoints; the same command resumes them."""

    def __init__(self, signum: int, stopped: int, not_started: int):
        super().__init__(f"stopped by {signal.Signals(signum).name}: {stopped} run(s) stopped with a checkpoint, "
                         f"{not_started} not started; run the same command again to resume (finished runs are "
                         "skipped)")
        self.signum = signum


def _worker_init() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, _FORWARD):
        if sig is not None:
            signal.signal(sig, _worker_signal)


def _worker_signal(signum, frame) -> None:
    """Outside a training (whose own handler takes SIGINT/SIGTERM) and for the sweep's request: stop in order."""
    global _STOP
    from ..train.loop import request_stop
    _STOP = _STOP or (signal.SIGTERM if signum == _FORWARD else signum)
    request_stop(_STOP)


def _pool_task(args) -> dict:
    global _STOP
    from ..train.loop import Interrupted
    variant, seed = args[0], args[1]
    if _STOP is not None:
        return {"variant": variant.name, "seed": seed, "stopped": "not started"}
    try:
        return _run_task(args)
    except Interrupted as e:  # returned, not raised: the parent counts it, and no further run starts here
        _STOP = _STOP or e.signum
        return {"variant": variant.name, "seed": seed, "stopped": str(e)}


@contextlib.contextmanager
def _stop_in_order(pool, futures):
    """While the parent waits on ``pool``: a first SIGINT/SIGTERM cancels the runs not started and asks every
    worker to stop in order; a second kills the workers. Yields a dict whose "signum" is set once stopped."""
    state = {"signum": None}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def workers():
        return list((getattr(pool, "_processes", None) or {}).values())  # the executor's worker processes

    def on_signal(signum, frame):
        if state["signum"] is not None:
            for p in workers():
                p.kill()
            raise KeyboardInterrupt(f"second {signal.Signals(signum).name}: runs stopped without saving")
        state["signum"] = signum
        for f in futures:
            f.cancel()
        for p in workers():
            with contextlib.suppress(ProcessLookupError):
                if _FORWARD is not None:
                    os.kill(p.pid, _FORWARD)
                else:  # no SIGUSR1 (Windows): the worker's training takes this as its first signal
                    p.terminate()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield state
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


# --- curves --------------------------------------------------------------------------------------------

def validation_curve(folder: Path) -> dict | None:
    """The run's own validation rows (``val/<metric>`` in metrics.jsonl, written during training by
    ``eval_every``) as a curve with the final metrics' names; None for a run that did not validate."""
    from ..train.rundir import RunDir
    points = []
    for row in RunDir(folder).metrics():
        vals = {k[4:]: v for k, v in row.items() if k.startswith("val/") and not k.endswith("_best")}
        if vals:
            points.append({"step": row["step"], **vals})
    return {"source": "validation", "points": points} if points else None


def evaluate_curve(folder: Path, variant: Variant, data_root=None) -> dict:
    """Each kept checkpoint evaluated on a fixed test subset (first ``curve_test`` examples; a fixed
    sample seed), for every final metric that is cheap enough: elbo, ssl_accuracy, inception_score,
    cond_accuracy, fid (with ``curve_samples`` generated samples)."""
    from ..api import load, read_settings, run_data
    from ..data import get_dataset
    from ..eval.accuracy import classification_accuracy
    from ..eval.run import sample_quality, test_inputs
    settings = read_settings(folder)
    settings.data, data_root = run_data(settings, folder, None, data_root)
    ev = variant.eval
    n_test, n_samples = ev.get("curve_test", 2000), ev.get("curve_samples", 2000)
    test = get_dataset(settings.data, "test", data_root, seed=settings.train.seed + 1)
    test = test.subset(torch.arange(min(n_test, len(test))))
    metrics = [m for m in variant.metrics
               if m in ("elbo", "ssl_accuracy", "inception_score", "cond_accuracy", "fid", "modes")]
    train = None
    points = []
    for path in sorted((folder / "checkpoints").glob("ckpt-*")):
        step = int(path.name.split("-")[1])
        model = load(folder, checkpoint=str(path))
        torch.manual_seed(0)
        point = {"step": step}
        with torch.no_grad():
            if "elbo" in metrics:
                x, _ = test_inputs(model, test.x, 0)
                y = test.y if model.bound_needs_labels else None  # as evaluate_run
                point["elbo"] = float(torch.cat([model.elbo(x[i:i + 500], None if y is None else y[i:i + 500])
                                                 for i in range(0, len(x), 500)]).mean())
            if "ssl_accuracy" in metrics:
                point["ssl_accuracy"] = classification_accuracy(model.classify, test.x, test.y)
            if "modes" in metrics:
                from ..eval.modes import mode_metrics
                point.update(headline("modes", mode_metrics(model.sample(n_samples), test.modes, test.mode_std)))
            wanted = [m for m in metrics if m in ("inception_score", "cond_accuracy", "fid")]
            if wanted:
                if train is None:
                    train = get_dataset(settings.data, "train", data_root, seed=settings.train.seed)
                q = sample_quality(model, settings.data, train, test, wanted, n_samples, 10, data_root, False)
                for m in wanted:
                    point[m] = q[m]["mean"] if "mean" in q[m] else q[m]["value"]
        points.append(point)
    return {"n_test": len(test), "n_samples": n_samples, "points": points}


# --- the sweep ----------------------------------------------------------------------------------------

# What of a run folder stays out of git: committing the rest of a finished run (config, metrics.json,
# curve.json, timing.json, metrics.jsonl, split.json — kilobytes) lets a long table complete over several
# sessions, since a folder with metrics.json is skipped as finished. Never checkpoints.
RUNS_GITIGNORE = """# unidgm sweep: commit the small files of finished runs, never checkpoints or event files
checkpoints/
best/
tb/
samples/
.lock
"""


def run_sweep(variants: list[Variant], seeds, runs, data_root=None, jobs: int = 1, threads: int | None = None,
              log=print) -> list[dict]:
    """Every (variant, seed) not yet finished, in order (``jobs`` worker processes of ``threads`` torch
    threads each); returns one result dict per (variant, seed). The runs folder gets a ``.gitignore``
    (``RUNS_GITIGNORE``) so that finished runs can be committed as small result cells."""
    Path(runs).mkdir(parents=True, exist_ok=True)
    if not (Path(runs) / ".gitignore").exists():
        (Path(runs) / ".gitignore").write_text(RUNS_GITIGNORE)
    tasks = [(v, s, str(runs), None if data_root is None else str(data_root), threads) for v in variants for s in seeds]
    todo = [t for t in tasks if not is_done(runs, t[0], t[1])]
    if len(todo) < len(tasks):
        log(f"sweep: {len(tasks) - len(todo)} of {len(tasks)} runs already finished, skipped")
    results = []
    if jobs <= 1 or len(todo) <= 1:
        from ..train.loop import Interrupted
        for i, t in enumerate(todo):
            t0 = time.time()
            try:
                results.append(_run_task(t))
            except Interrupted as e:  # the sweep's command resumes it (and runs the rest), not `train --resume`
                log(f"  [{i + 1}/{len(todo)}] {t[0].name} seed {t[1]} stopped with a checkpoint")
                raise SweepInterrupted(e.signum, 1, len(todo) - i - 1) from e
            log(f"  [{i + 1}/{len(todo)}] {t[0].name} seed {t[1]}: {time.time() - t0:.1f} s")
    else:
        import concurrent.futures as cf
        import multiprocessing as mp
        stopped = not_started = 0
        with cf.ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"), initializer=_worker_init) as pool:
            futures = {pool.submit(_pool_task, t): t for t in todo}
            with _stop_in_order(pool, futures) as state:
                for i, fut in enumerate(cf.as_completed(futures)):
                    t = futures[fut]
                    res = None if fut.cancelled() else fut.result()
                    if res is None or res.get("stopped") == "not started":
                        not_started += 1
                    elif res.get("stopped"):
                        stopped += 1
                        log(f"  [{i + 1}/{len(todo)}] {t[0].name} seed {t[1]} stopped with a checkpoint")
                    else:
                        results.append(res)
                        log(f"  [{i + 1}/{len(todo)}] {t[0].name} seed {t[1]} finished")
        if stopped or not_started:
            raise SweepInterrupted(state["signum"] or signal.SIGTERM, stopped, not_started)
    return results


# --- collecting ---------------------------------------------------------------------------------------

def headline(metric: str, value) -> dict[str, float]:
    """The numbers a metric's entry in metrics.json stands for: its value (the mean for the inception
    score); for mode coverage, modes captured and the high-quality fraction."""
    if not isinstance(value, dict):
        return {}
    if metric == "modes":
        return {"modes_captured": float(value["modes_captured"]),
                "high_quality_fraction": float(value["high_quality_fraction"])}
    if "mean" in value or "value" in value:
        return {metric: float(value["mean"] if "mean" in value else value["value"])}
    return {}


def collect(runs, variant: Variant, seeds) -> dict:
    """Per finished seed: final metrics, curve, timing. Keys: seeds, metrics{name: [values]}, curves, timing."""
    from ..train.rundir import RunDir
    out = {"seeds": [], "metrics": {}, "curves": [], "train_s": [], "total_s": [], "steps": variant.steps,
           "steps_done": [], "best_steps": [], "by_seed": {}}
    for s in seeds:
        folder = run_dir(runs, variant, s)
        if not (folder / METRICS).exists():
            continue
        res = json.loads((folder / METRICS).read_text())
        out["seeds"].append(s)
        for m in variant.metrics or list(res):
            for name, v in headline(m, res.get(m)).items():
                out["metrics"].setdefault(name, []).append(v)
        curve = json.loads((folder / CURVE).read_text()) if (folder / CURVE).exists() else None
        if curve is not None:
            out["curves"].append(curve)
        # where training ended (early stopping ends it before variant.steps) and the step of the model selected
        run = RunDir(folder)
        out["by_seed"][s] = {"curve": curve, "wall": run.wall_clock()}
        out["steps_done"].append(max((r["step"] for r in run.metrics()), default=None))
        if run.best_json.exists():
            out["best_steps"].append(json.loads(run.best_json.read_text())["step"])
        if (folder / TIMING).exists():
            t = json.loads((folder / TIMING).read_text())
            out["train_s"].append(t.get("train_s", 0.0))
            out["total_s"].append(t.get("total_s", 0.0))
    return out


def write_summary(variants: list[Variant], seeds, runs, out_stem, data_root=None, digits: int = 3,
                  command: str | None = None, wall_s: float | None = None) -> dict:
    """One row per variant: seeds finished, steps, each metric as mean ± std over seeds; written as
    ``<out_stem>.md/.csv/.json`` (eval/table.py), with a ``<out_stem>.meta.json`` holding the command,
    the per-run commands, versions, machine, date and wall time (also appended to the Markdown)."""
    from ..eval.table import summarise, write_table
    rows, per_run = [], {}
    collected = {v.name: collect(runs, v, seeds) for v in variants}
    names = list(dict.fromkeys(m for c in collected.values() for m in c["metrics"]))
    for v in variants:
        c = collected[v.name]
        row = {"variant": v.name, "model": v.model, "techniques": "+".join(v.techniques) or "—", "data": v.data,
               "steps": v.steps, "seeds": len(c["seeds"])}
        for m in names:
            row[m] = summarise(c["metrics"][m]) if c["metrics"].get(m) else None
        row["train s/seed"] = sum(c["train_s"]) / len(c["train_s"]) if c["train_s"] else None
        rows.append(row)
        per_run[v.name] = {str(s): v.commands(s, run_dir(runs, v, s), data_root) for s in seeds}
    paths = write_table(rows, path_stem=out_stem, digits=digits)
    meta = {"command": command or " ".join(shlex.quote(a) for a in sys.argv), "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "wall_s": wall_s, "seeds": list(seeds), "runs": str(runs), "machine": machine(), "run_commands": per_run}
    stem = Path(out_stem)
    meta_path = write_json(stem.with_name(stem.name + ".meta.json"), meta)
    write_text(paths["md"], paths["md"].read_text()
               + f"\nMean ± std (ddof 1) over seeds {list(seeds)}. Command: `{meta['command']}`; date {meta['date']}"
               + (f"; wall time {wall_s:.0f} s" if wall_s is not None else "")
               + f"; machine {meta['machine']['host']} ({meta['machine']['cpu_count']} CPUs), torch "
               f"{meta['machine']['torch']}, unidgm {meta['machine']['unidgm']}. Per-run commands: {meta_path.name}.\n")
    return {**paths, "meta": meta_path}


# --- `unidgm sweep` ------------------------------------------------------------------------------------

def add_parser(sub) -> None:
    p = sub.add_parser("sweep", help="one config over N seeds and technique variants: mean ± std table",
                       description="Trains MODEL once per (variant, seed) into OUT/runs/<variant>/seed-<s> "
                                   "(finished runs are skipped, interrupted ones resumed) and writes "
                                   "OUT/summary.md/.csv/.json with mean ± std over seeds.")
    p.add_argument("model", nargs="?", help="model name; omit with --config")
    p.add_argument("overrides", nargs="*", help="key=value config overrides shared by every variant")
    p.add_argument("--data", default=None, help="dataset spec (default: digits, or the --config file's)")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="experiment file (JSON or TOML, e.g. a run's config.json) every variant starts from")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--variants", default="none", help="comma-separated technique sets, '+'-joined, e.g. none,iw")
    p.add_argument("--metrics", default="", help="comma-separated metrics (default: all that apply)")
    p.add_argument("--curve-points", type=int, default=4, help="checkpoints evaluated along training")
    p.add_argument("--n-samples", type=int, default=10000)
    p.add_argument("--max-test", type=int, default=None)
    p.add_argument("--k", type=int, default=100, help="importance samples for log_likelihood")
    p.add_argument("--out", default="results/sweep")
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--data-root", default=None)
    p.set_defaults(handler=cmd_sweep)


def cmd_sweep(args) -> int:
    from ..config import parse_overrides
    t0 = time.time()
    model, pairs = args.model, list(args.overrides)
    if model and "=" in model:  # `sweep --config FILE steps=5`: the first override lands in `model`
        model, pairs = None, [model] + pairs
    overrides = parse_overrides(pairs)
    base: tuple[str, ...] = ()
    data = args.data or "digits"
    if args.config:
        from .configfile import flat_overrides, settings_from_file
        settings = settings_from_file(args.config, model=model, data=args.data, overrides=overrides)
        model, data, base = settings.model, settings.data, tuple(settings.techniques)
        overrides = flat_overrides(settings)  # the file's values and the overrides, validated above
        if args.data_root is None:
            args.data_root = settings.data_root
    elif model is None:
        from ..errors import ConfigError
        raise ConfigError("name a model to sweep (see `unidgm models`), or pass --config FILE")
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    ev = {"n_samples": args.n_samples, "max_test": args.max_test, "curve_test": args.max_test or 2000, "k": args.k}
    variants = []
    for spec in args.variants.split(","):
        techs = tuple(dict.fromkeys(base + tuple(t for t in spec.strip().split("+") if t and t != "none")))
        name = "-".join((*techs, model))
        variants.append(Variant(name, model, data, techs, overrides, metrics, args.curve_points, ev))
    out = Path(args.out)
    seeds = list(range(args.seeds))
    if args.threads:
        torch.set_num_threads(args.threads)
    run_sweep(variants, seeds, out / "runs", args.data_root, jobs=args.jobs, threads=args.threads)
    command = "unidgm sweep " + " ".join(shlex.quote(a) for a in [model, *pairs]) + \
        (f" --config {args.config}" if args.config else "") + \
        f" --data {data} --seeds {args.seeds} --variants {args.variants}" + \
        (f" --metrics {args.metrics}" if args.metrics else "") + f" --out {args.out}"
    paths = write_summary(variants, seeds, out / "runs", out / "summary", args.data_root, command=command,
                          wall_s=time.time() - t0)
    print(paths["md"].read_text())
    print(f"wrote {paths['md']}, {paths['csv'].name}, {paths['json'].name}")
    return 0
