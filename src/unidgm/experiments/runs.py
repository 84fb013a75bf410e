"""Run folders side by side: `unidgm config` (an editable experiment file), `unidgm runs` (a listing) and
`unidgm compare` (one table and one figure: curves overlaid, sample grids side by side).

A run's state is read off its folder alone (a live run is not told apart from a dead one):

    finished     the newest checkpoint is at the configured number of steps (or early stopping ended it)
    interrupted  it stopped early on a checkpoint (a signal saves one at the step it stopped)
    failed       no checkpoint, or the log went past the newest checkpoint (the process died unsaved)

The selection metric is ``RUN/best.json`` ({"metric", "value", "step", "higher_is_better"}, written by
validation) when present, else the last logged losses.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from ..errors import RunDirError
from ..train.rundir import BEST_JSON



# --- reading one run --------------------------------------------------------------------------------------

def find_runs(root: str | os.PathLike) -> list[Path]:
    """Every run folder (one holding config.json) under ``root``, ``root`` itself included, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise RunDirError(f"{root} is not a folder; pass the folder that holds your run folders (default: runs)")
    found = []
    for here, dirs, files in os.walk(root):
        if "config.json" in files:
            found.append(Path(here))
            dirs[:] = []  # a run folder holds no runs: checkpoints/, samples/, tb/ need no walk
        else:
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    return sorted(found)


def _short_data(spec: str) -> str:
    from ..data.registry import spec_path
    path = spec_path(spec)
    return spec if path is None else spec.replace(str(path), path.name, 1)


def _state(path: Path) -> dict:
    """A checkpoint's state.json ({} when unreadable: the listing must not fail on one damaged folder)."""
    try:
        state = json.loads((path / "state.json").read_text())
        int(state["step"])
        return state
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def selection(run: Path, rows: list[dict]) -> dict | None:
    """The run's selection metric: best.json when validation wrote one, else None."""
    f = run / BEST_JSON
    if not f.is_file():
        return None
    try:
        best = json.loads(f.read_text())
        return {"metric": str(best["metric"]), "value": float(best["value"]), "step": int(best["step"]),
                "higher_is_better": bool(best.get("higher_is_better", True))}
    except (OSError, ValueError, KeyError, TypeError):
        return None  # a damaged best.json: fall back to the losses rather than fail the listing


def summary(run: str | os.PathLike) -> dict:
    """One run folder as a row: model, techniques, data, steps done / configured, state, metric."""
    from ..train import checkpoint as ckpt
    from ..train.rundir import RunDir
    rd = RunDir(run)
    config = rd.read_config()
    rows = rd.metrics()
    steps = int(config.get("train", {}).get("steps", 0))
    patience = config.get("train", {}).get("patience")
    latest = ckpt.latest_checkpoint(rd.checkpoints)
    saved = _state(latest) if latest is not None else {}
    done = int(saved["step"]) if saved else None
    logged = rows[-1]["step"] if rows else 0
    since_best = (saved.get("selection") or {}).get("since_best", 0)
    if done is not None and done >= steps:
        state = "finished"
    elif done is not None and patience and since_best >= patience:
        state = "finished (early stop)"  # validation stopped improving: patience spent
    elif done is not None and logged <= done:
        state = "interrupted"
    else:
        state = "failed"
    best = selection(rd.path, rows)
    if best is not None:
        metric = f"{best['metric']} {best['value']:.4g} (best, step {best['step']})"
    else:
        losses = {k: v for k, v in (rows[-1] if rows else {}).items() if k.endswith("/loss")}
        metric = ", ".join(f"{k} {v:.4g}" for k, v in losses.items()) or "—"
    return {"path": rd.path, "model": config.get("model", "?"), "techniques": "+".join(config.get("techniques", {}))
            or "—", "data": _short_data(str(config.get("data", "?"))), "steps": f"{done or 0}/{steps}",
            "state": state, "metric": metric, "best": best, "rows": rows}


def _table(rows: list[dict], columns: list[str]) -> str:
    cells = [[str(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    line = lambda vals: "  ".join(v.ljust(w) for v, w in zip(vals, widths)).rstrip()  # noqa: E731
    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(r) for r in cells)])


def list_runs(root: str | os.PathLike = "runs") -> str:
    """The `unidgm runs` table of every run folder under ``root``."""
    root = Path(root)
    runs = find_runs(root)
    if not runs:
        return f"no run folders under {root} (a run folder holds config.json; train one with `unidgm train`)"
    rows = []
    for r in runs:
        try:
            s = summary(r)
        except RunDirError as e:  # one damaged folder must not hide the others
            s = {"model": "?", "state": "damaged", "metric": str(e)}
        s["run"] = str(r.relative_to(root)) if r != root else r.name
        rows.append(s)
    return _table(rows, ["run", "model", "techniques", "data", "steps", "state", "metric"])


# --- comparing ----------------------------------------------------------------------------------------------

def _eval_columns(run: Path) -> dict:
    from .sweep import headline
    f = run / "metrics.json"
    if not f.is_file():
        return {}
    try:
        res = json.loads(f.read_text())
    except (OSError, ValueError):
        return {}
    out = {}
    for k, v in res.items():
        for name, value in headline(k, v).items():
            out[name] = f"{value:.4g}"
    return out


def newest_grid(run: Path) -> Path | None:
    """The run's newest sample grid: the highest step-*.png, else the newest other PNG in samples/."""
    folder = run / "samples"
    steps = sorted(folder.glob("step-*.png"))
    if steps:
        return steps[-1]
    others = sorted(folder.glob("*.png"), key=lambda p: p.stat().st_mtime)
    return others[-1] if others else None


def curve_keys(summaries: list[dict], limit: int = 3) -> list[str]:
    """The curves worth overlaying: validation metrics first, then the phases' losses."""
    keys = list(dict.fromkeys(k for s in summaries for row in s["rows"] for k in row if k != "step"))
    picked = [k for k in keys if k.startswith("val/")] + [k for k in keys if k.endswith("/loss")]
    return picked[:limit]


def compare(runs: list[str | os.PathLike], out: str | os.PathLike | None = None) -> tuple[str, Path]:
    """(table, figure path): the runs in one table and one PNG with their curves overlaid (top) and their
    newest sample grids side by side (bottom). Default figure: ``compare.png`` beside the first run."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not runs:
        raise RunDirError("compare needs at least one run folder, e.g. unidgm compare runs/a runs/b")
    paths = [Path(r) for r in runs]
    summaries = [summary(p) for p in paths]
    names = _names(paths)
    extra = [_eval_columns(p) for p in paths]
    eval_cols = list(dict.fromkeys(k for e in extra for k in e))
    rows = [{"run": n, **s, **e} for n, s, e in zip(names, summaries, extra)]
    table = _table(rows, ["run", "model", "techniques", "data", "steps", "state", "metric", *eval_cols])

    keys = curve_keys(summaries)
    fig = plt.figure(figsize=(max(4.0 * max(len(keys), 1), 2.6 * len(paths)), 6.4), constrained_layout=True)
    top, bottom = fig.subfigures(2, 1, height_ratios=(1.0, 1.1))
    axes = top.subplots(1, max(len(keys), 1), squeeze=False)[0]
    for ax, key in zip(axes, keys or ["(no curves logged)"]):
        for name, s in zip(names, summaries):
            pts = [(r["step"], r[key]) for r in s["rows"] if isinstance(r.get(key), (int, float))
                   and math.isfinite(r[key])]
            if pts:
                ax.plot(*zip(*pts), marker="." if len(pts) < 20 else None, label=name)
        ax.set_title(key)
        ax.set_xlabel("step")
        if keys:
            ax.legend(fontsize="small")
    grids = bottom.subplots(1, len(paths), squeeze=False)[0]
    for ax, name, p in zip(grids, names, paths):
        grid = newest_grid(p)
        if grid is not None:
            ax.imshow(plt.imread(grid), cmap="gray")
        else:
            ax.text(0.5, 0.5, "no sample grid", ha="center", va="center")
        ax.set_title(f"{name}" + (f"\n{grid.name}" if grid is not None else ""), fontsize="small")
        ax.axis("off")
    out = Path(out) if out else paths[0].parent / "compare.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return table, out


def _names(paths: list[Path]) -> list[str]:
    """Short distinct names: the folder names, or the paths where two folders share a name."""
    names = [p.name or str(p) for p in paths]
    return names if len(set(names)) == len(names) else [str(p) for p in paths]


# --- the commands -------------------------------------------------------------------------------------------

def add_parsers(sub) -> None:
    p = sub.add_parser("config", help="print a model's full default experiment file (TOML, every key explained)")
    p.add_argument("model")
    p.add_argument("--technique", action="append", default=[], help="include a technique's table (iw, aa)")
    p.add_argument("--iw", action="store_true", help="include importance weighting (Eq. 16)")
    p.add_argument("--aa", action="store_true", help="include adversary activation (Eq. 17)")
    p.add_argument("--data", default="digits", help="the data spec written into the file")
    p.add_argument("--out", default=None, help="write the file here instead of printing it")
    p.set_defaults(handler=cmd_config)

    p = sub.add_parser("runs", help="list run folders: model, data, steps, state, selection metric")
    p.add_argument("dir", nargs="?", default="runs", help="folder holding run folders (default: runs)")
    p.set_defaults(handler=cmd_runs)

    p = sub.add_parser("compare", help="runs side by side: one table, one figure (curves and sample grids)")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", default=None, help="figure path (default: compare.png beside the first run)")
    p.set_defaults(handler=cmd_compare)


def cmd_config(args) -> int:
    from ..api import build_model
    from ..core import DataSpec
    from .configfile import default_toml
    techs = [t for t, on in (("iw", args.iw), ("aa", args.aa)) if on] + list(args.technique)
    # refuses a technique that does not apply, naming the models where it does, before a file is written
    build_model(args.model, spec=DataSpec((1, 8, 8), 10), techniques={t: None for t in techs})
    text = default_toml(args.model, techs, args.data)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}; train it with: unidgm train --config {args.out}")
    else:
        print(text, end="")
    return 0


def cmd_runs(args) -> int:
    print(list_runs(args.dir))
    return 0


def cmd_compare(args) -> int:
    table, figure = compare(args.runs, args.out)
    print(table)
    print(f"wrote {figure}")
    return 0
