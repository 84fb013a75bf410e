"""The ``unidgm`` command line. Every library error becomes one clear message and exit code 2."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .errors import UnidgmError

EPILOG = "Overrides are key=value (e.g. steps=500 model.z_dim=20 aa.warmup=100); sections: model, train, iw, aa."


def _add_data_root(p):
    p.add_argument("--data-root", default=None, help="dataset folder (default: $UNIDGM_DATA, then ~/.cache/unidgm)")


def _add_checkpoint(p):
    p.add_argument("--checkpoint", default=None, help="best (default when the run validated), last, or a checkpoint "
                   "name/path")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="unidgm", description="Unified deep generative models (Hu et al., ICLR 2018).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    sub.add_parser("models", help="list every model: family, Table-1 KL, techniques that apply, matched pairs")
    p = sub.add_parser("explain", help="a model's parts, phases, matched pairs and the KL it minimises")
    p.add_argument("model")
    p.add_argument("--iw", action="store_true", help="with importance weighting (Eq. 16)")
    p.add_argument("--aa", action="store_true", help="with adversary activation (Eq. 17)")

    p = sub.add_parser("train", help="train a model and write a run folder", epilog=EPILOG)
    p.add_argument("model", nargs="?", help="model name (see `unidgm models`); omit with --resume or --config")
    p.add_argument("overrides", nargs="*", help="key=value config overrides")
    p.add_argument("--data", default=None, help="dataset name or spec: digits (default), mnist, ring8, idx:DIR, "
                   "npz:FILE, images:DIR[,size=32] ... (with --resume: where the run's data are now)")
    p.add_argument("--config", metavar="FILE", default=None,
                   help="experiment file (JSON or TOML, e.g. a run's config.json; see `unidgm config MODEL`)")
    p.add_argument("--iw", action="store_true", help="importance weighting (IWGAN, Eq. 16)")
    p.add_argument("--aa", action="store_true", help="adversary activation (AA-VAE, Eq. 17)")
    p.add_argument("--technique", action="append", default=[], help="a technique by name (iw, aa); repeatable")
    p.add_argument("--out", default=None, help="run folder (default: runs/<model>-<data>-<time>)")
    p.add_argument("--resume", metavar="RUN", default=None, help="continue the run in this folder")
    p.add_argument("--force", action="store_true", help="resume even though the config changed")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--download", action="store_true",
                   help="fetch the dataset from its canonical source first (checksums verified)")
    _add_data_root(p)

    from .eval import METRICS
    lines = "; ".join(f"{k}: {v}" for k, v in METRICS.items())
    p = sub.add_parser("eval", help="evaluate a run; writes metrics.json into it",
                       description=f"Metrics: {lines}")
    p.add_argument("run")
    p.add_argument("--metrics", default="auto", help=f"comma-separated from: {', '.join(METRICS)}, auto (all that apply but ais; "
                                       "e.g. auto,ais)")
    p.add_argument("--n-samples", type=int, default=10000, help="generated samples for IS/FID/accuracy/modes")
    p.add_argument("--k", type=int, default=1000, help="importance samples for the log-likelihood (up to 5000)")
    p.add_argument("--max-test", type=int, default=None, help="evaluate on the first N test examples only")
    _add_checkpoint(p)
    p.add_argument("--data", default=None, help="the run's data from elsewhere (default: the spec it recorded)")
    p.add_argument("--ais-chains", type=int, default=8, help="AIS: chains per test example (log-mean-exp over them)")
    p.add_argument("--ais-steps", type=int, default=100,
                   help="AIS: intermediate distributions T, sigmoid schedule (defaults fit a CPU check; a reported "
                        "number wants more, e.g. --ais-steps 1000 --ais-chains 16, with a small BDMC gap)")
    p.add_argument("--ais-leapfrog", type=int, default=5, help="AIS: HMC leapfrog steps per transition")
    p.add_argument("--ais-observation", choices=("auto", "gaussian"), default="auto",
                   help="AIS: auto = a decoder's own likelihood, N(x; G(z), σ²I) for a generator; gaussian = "
                        "the Gaussian observation on every model's mean (one scale for all)")
    p.add_argument("--ais-sigma", type=float, default=None,
                   help="AIS: the Gaussian observation's σ (default: chosen on training images from a small grid)")
    p.add_argument("--ais-bdmc", type=int, default=10,
                   help="AIS: simulated examples for the bidirectional Monte Carlo gap (0: none)")
    _add_data_root(p)

    p = sub.add_parser("sample", help="write a sample grid (PNG) from a run")
    p.add_argument("run")
    p.add_argument("--n", type=int, default=64)
    p.add_argument("--labels", default=None,
                   help="comma-separated labels for conditional models (numbers, or an image folder's class names)")
    p.add_argument("--out", default=None, help="PNG path (default: RUN/samples/sample.png)")
    p.add_argument("--seed", type=int, default=0)
    _add_checkpoint(p)

    p = sub.add_parser("demo", help="a three-minute tour of the paper on embedded data (offline)")
    p.add_argument("--out", default="results/demo")
    p.add_argument("--steps", type=int, default=None, help="training steps per model (default: fits ~3 minutes)")

    from .experiments.runs import add_parsers as add_runs_parsers
    add_runs_parsers(sub)
    from .experiments import add_reproduce_parser
    add_reproduce_parser(sub)
    from .experiments.theory_command import add_theory_parser
    add_theory_parser(sub)
    return parser


def cmd_models(args) -> int:
    from .experiments.tables import models_table, technique_matrix_table
    print(models_table())
    print()
    print(technique_matrix_table())
    return 0


def cmd_explain(args) -> int:
    from .api import build_model
    from .core import DataSpec
    techs = {t: None for t, on in (("iw", args.iw), ("aa", args.aa)) if on}
    model = build_model(args.model, spec=DataSpec((1, 28, 28), 10), techniques=techs)
    print(model.explain())
    from .api import resolve
    from .recipes import describe, known_keys
    s = resolve(args.model, techniques=list(techs))
    print("\n" + describe(model.family, known_keys({"model": s.model_config, "train": s.train, **s.techniques})))
    return 0


def _options_not_overrides(overrides: list[str], options: tuple[str, ...]):
    """``data=mnist`` where ``--data mnist`` was meant: name the option instead of listing every config key."""
    for o in overrides:
        key, _, value = o.partition("=")
        if key in options:
            raise UnidgmError(f"{o!r} is a command-line option, not a config key: write --{key.replace('_', '-')} "
                              f"{value or '...'}")


def cmd_train(args) -> int:
    from . import api
    techs = [t for t, on in (("iw", args.iw), ("aa", args.aa)) if on] + list(args.technique)
    progress = False if args.no_progress else None
    model, overrides = args.model, list(args.overrides)
    if model and "=" in model:  # `train --config FILE steps=5`: the first override lands in `model`
        model, overrides = None, [model] + overrides
    _options_not_overrides(overrides, ("data", "out", "config", "resume", "data_root", "data-root", "technique"))
    if args.config and args.resume:
        raise UnidgmError("--config starts a new run and --resume continues one; pass one of them")
    if not args.resume and not model and not args.config:
        raise UnidgmError("name a model to train (see `unidgm models`), pass --config FILE, or --resume RUN")
    if args.download and not args.resume:
        from .data import download
        download((args.data or "digits").partition(":")[0], args.data_root)
    from .train.distributed import launch
    with launch() as ctx:  # a DDP context under torchrun, else None
        if args.resume:
            run = api.resume(args.resume, data_root=args.data_root, overrides=([model] if model else []) + overrides,
                             force=args.force, progress=progress, distributed=ctx, data=args.data)
        else:
            run = api.train(model, args.data, overrides=overrides, techniques=techs, out=args.out,
                            data_root=args.data_root, progress=progress, distributed=ctx, config=args.config)
    if ctx is not None and ctx.rank != 0:
        return 0
    shown = {k: round(v, 4) for k, v in run.metrics.items() if k.endswith("loss") or "elbo" in k}
    print(f"trained {run.model.name} on {run.settings.data}: {shown}")
    if run.best:
        print(f"best validation: {run.best['metric']} = {run.best['value']:.4f} at step {run.best['step']} "
              f"(kept in {run.path / 'best'}; eval, sample and load use it)")
    if run.stopped == "early":
        print(f"stopped early: no better {run.best['metric'] if run.best else 'validation'} in "
              f"{run.settings.train.patience} validations")
    elif run.stopped == "budget":
        root = f" --data-root {args.data_root}" if args.data_root else ""
        print(f"stopped at the wall-clock budget (max_minutes={run.settings.train.max_minutes}) with a checkpoint; "
              f"continue with `unidgm train --resume {run.path}{root}`")
    print(f"run folder: {run.path}")
    return 0


def cmd_eval(args) -> int:
    from .eval.run import evaluate_run, format_metrics, write_metrics
    metrics = None if args.metrics == "auto" else [m.strip() for m in args.metrics.split(",") if m.strip()]
    ais = {"n_chains": args.ais_chains, "n_steps": args.ais_steps, "n_leapfrog": args.ais_leapfrog,
           "observation": args.ais_observation, "sigma": args.ais_sigma, "n_bdmc": args.ais_bdmc}
    result = evaluate_run(args.run, metrics, data_root=args.data_root, n_samples=args.n_samples, k=args.k,
                          max_test=args.max_test, checkpoint=args.checkpoint, data=args.data, ais=ais,
                          write=False)
    print(result.get("checkpoint", {}).get("note", ""))
    print(format_metrics(result), flush=True)  # shown before writing: a read-only run folder loses nothing
    print(f"wrote {write_metrics(args.run, result)}")
    return 0


def _sample_labels(text: str, n: int, model):
    """--labels '0,3,7' → n labels cycling through them, checked against the model."""
    import torch
    if not model.conditional:
        raise UnidgmError(f"--labels: {model.name} is not conditional, it takes no labels; drop --labels")
    values = [_label(v.strip(), model) for v in text.split(",") if v.strip()]  # indices or class names
    bad = [v for v in values if not 0 <= v < model.num_classes]
    if not values or bad:
        raise UnidgmError(f"--labels {text!r}: class indices must be 0..{model.num_classes - 1}"
                          + (f" ({bad} are not)" if bad else ""))
    return torch.tensor(values).repeat_interleave(max(1, n // len(values)))


def _sample_path(args) -> Path:
    if args.out is None:
        return Path(args.run) / "samples" / "sample.png"
    out = Path(args.out)
    if out.is_dir() or args.out.endswith(("/", "\\")):  # a folder: the grid goes inside it
        return out / "sample.png"
    if out.suffix.lower() != ".png":
        raise UnidgmError(f"--out {args.out}: sample grids are written as PNG; name a .png file or a folder")
    return out


def cmd_sample(args) -> int:
    import torch

    from .api import load
    from .train.images import save_samples
    from .api import describe_checkpoint
    if args.n < 1:
        raise UnidgmError(f"--n {args.n}: the number of samples must be at least 1")
    out = _sample_path(args)
    model = load(args.run, args.checkpoint)
    print(describe_checkpoint(model))
    torch.manual_seed(args.seed)
    labels = _sample_labels(args.labels, args.n, model) if args.labels else None
    x = model.sample(len(labels) if labels is not None else args.n, labels)
    try:
        save_samples(x, out, title=model.name)
    except OSError as e:
        raise UnidgmError(f"could not write {out} ({e.strerror or e}); choose a writable --out") from None
    print(f"wrote {out}")
    return 0


def _label(value: str, model) -> int:
    """A label given on the command line: a class index, or a class (folder) name the run recorded."""
    classes = getattr(model, "classes", None) or []
    if value in classes:
        return classes.index(value)
    if value.lstrip("-").isdigit():
        return int(value)
    from .errors import ConfigError, did_you_mean
    raise ConfigError(f"--labels: {value!r} is neither a class index nor a class name of this run."
                      + (did_you_mean(value, classes) if classes else " Give numbers 0..K-1."))


def cmd_demo(args) -> int:
    from .experiments.demo import run_demo
    run_demo(args.out, steps=args.steps)
    return 0


COMMANDS = {"models": cmd_models, "explain": cmd_explain, "train": cmd_train, "eval": cmd_eval,
            "sample": cmd_sample, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt as e:  # also during start-up (imports, parsing), not only inside a command
        print(f"interrupted ({e})" if str(e) else "interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come before or after options: collect them wherever they stand
    overrides = [e for e in extra if "=" in e and not e.startswith("-")]
    if len(overrides) != len(extra) or (overrides and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(e for e in extra if e not in overrides) or ' '.join(extra)}")
    if overrides:
        args.overrides = list(args.overrides) + overrides
    if args.command is None:
        parser.print_help()
        return 0
    handler = COMMANDS.get(args.command) or getattr(args, "handler", None)
    try:
        with warnings.catch_warnings():  # e.g. a damaged checkpoint skipped: one line, not a source excerpt
            warnings.showwarning = _show_warning
            return handler(args)
    except UnidgmError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        print(f"interrupted ({e})" if str(e) else "interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        from .experiments.sweep import SweepInterrupted
        from .train.loop import Interrupted
        if isinstance(e, (Interrupted, SweepInterrupted)):
            print(str(e), file=sys.stderr)
            return 130 if e.signum == 2 else 143
        raise


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
