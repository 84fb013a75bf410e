"""M2 (semi-supervised VAE): which weighting of the labelled and unlabelled halves to use by default.

    python -m benchmarks.run m2_alpha [--steps 3000] [--seeds 2] [--labels 600,6000] [--data-root DIR] [--out DIR]

``--seeds`` is one count for every label budget or one per budget (``--seeds 2,1``). Runs go to ``--out``
(default ``runs/bench/m2-alpha``); a finished run found there with the same settings is reused, not retrained.

Compares ``model.weighting=balanced`` (each half's batch mean, 1 : 1, α = 50) with ``kingma`` (the halves weighed
N_l : N_u, α = 0.1·N; Kingma et al. 2014) on MNIST with 1% and 10% labels. The choice is made on a **validation**
set: 5,000 class-balanced images held out of the MNIST training set and never trained on (neither labelled nor
unlabelled); the test set is read only after the choice, to report the chosen setting's test accuracy. One
training process at a time, ``threads=1``. Writes ``benchmarks/results/m2-alpha.json`` and ``.md``.
"""

from __future__ import annotations

import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import shutil

import numpy as np
import torch

from benchmarks.run import write_results
from unidgm.report import machine, markdown_table

N_VAL, VAL_SEED = 5000, 12345  # held out of MNIST's training set, 500 per class
OUT = Path(__file__).resolve().parents[1] / "runs" / "bench" / "m2-alpha"
WEIGHTINGS = ("balanced", "kingma")


def _opt(argv, name, default):
    return type(default)(argv[argv.index(name) + 1]) if name in argv else default


def _accuracy(model, x, y) -> float:
    from unidgm.eval.accuracy import classification_accuracy
    return classification_accuracy(model.classify, x, y)


def _finished(run: Path, steps: int, weighting: str, n_l: int, seed: int) -> bool:
    """A run folder holding the final checkpoint of exactly this cell."""
    try:
        cfg = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        return False
    same = (cfg["model_config"]["weighting"], cfg["train"]["n_labelled"], cfg["train"]["seed"],
            cfg["train"]["steps"]) == (weighting, n_l, seed, steps)
    return same and (run / "checkpoints" / f"ckpt-{steps:08d}").is_dir()


def main(argv: list[str]) -> dict:
    import unidgm
    from unidgm.data import balanced_subset, get_dataset
    torch.set_num_threads(1)  # as the runs (threads=1): one core, the machine recorded as it ran
    steps = _opt(argv, "--steps", 3000)
    labels = [int(v) for v in _opt(argv, "--labels", "600,6000").split(",")]
    seeds = [int(v) for v in _opt(argv, "--seeds", "2").split(",")]
    seeds = seeds * len(labels) if len(seeds) == 1 else seeds
    root, out = _opt(argv, "--data-root", "/work/shared/data"), Path(_opt(argv, "--out", str(OUT)))
    train = get_dataset("mnist", "train", root)
    val, rest = balanced_subset(train, N_VAL, VAL_SEED)
    started, t0 = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), time.time()
    cells = []
    out.mkdir(parents=True, exist_ok=True)
    # the training images without the validation ones, as a file the library reads like any other data
    npz = out / "mnist-train-minus-val.npz"
    if not npz.exists():
        np.savez(npz, x=(rest.x[:, 0] * 255).round().to(torch.uint8).numpy(), y=rest.y.numpy())
    for n_l, n_seeds in zip(labels, seeds):
        for weighting in WEIGHTINGS:
            for seed in range(n_seeds):
                t, folder = time.time(), out / f"{n_l}-{weighting}-{seed}"
                reused = _finished(folder, steps, weighting, n_l, seed)
                if reused:
                    model = unidgm.load(folder)
                else:
                    shutil.rmtree(folder, ignore_errors=True)
                    model = unidgm.train("svae", f"npz:{npz}", out=folder, progress=False,
                                         overrides={"steps": steps, "seed": seed, "n_labelled": n_l, "threads": 1,
                                                    "model.weighting": weighting, "ckpt_every": 0}).model
                cells.append({"n_labelled": n_l, "weighting": weighting, "seed": seed, "steps": steps,
                              "val_accuracy": _accuracy(model, val.x, val.y), "reused": reused,
                              "wall_s": None if reused else round(time.time() - t, 1), "_model": model})
                how = "reused" if reused else f"{cells[-1]['wall_s']} s"
                print(f"{n_l} labels, {weighting}, seed {seed}: validation accuracy {cells[-1]['val_accuracy']:.4f} "
                      f"({how})", flush=True)
    # each label budget counts once, whatever its number of seeds
    mean_val = {w: statistics.mean(statistics.mean(c["val_accuracy"] for c in cells
                                                   if c["weighting"] == w and c["n_labelled"] == n_l)
                                   for n_l in labels) for w in WEIGHTINGS}
    chosen = max(WEIGHTINGS, key=lambda w: mean_val[w])  # on validation only; the test set is read below
    test = get_dataset("mnist", "test", root)
    for c in cells:
        c["test_accuracy"] = _accuracy(c.pop("_model"), test.x, test.y)
    table = {}
    for n_l in labels:
        for w in WEIGHTINGS:
            cs = [c for c in cells if c["n_labelled"] == n_l and c["weighting"] == w]
            table[f"{n_l}/{w}"] = {k: {"mean": statistics.mean(c[k] for c in cs),
                                       "std": statistics.stdev(c[k] for c in cs) if len(cs) > 1 else None,
                                       "seeds": len(cs)}
                                   for k in ("val_accuracy", "test_accuracy")}
    res = {"command": "python -m benchmarks.run m2_alpha " + " ".join(argv), "started": started,
           "wall_s": round(time.time() - t0), "machine": machine(), "steps": steps,
           "seeds": {n_l: list(range(k)) for n_l, k in zip(labels, seeds)},
           "validation": f"{N_VAL} class-balanced MNIST training images (balanced_subset seed {VAL_SEED}), "
                         "excluded from training", "mean_val_accuracy": mean_val, "chosen": chosen,
           "cells": cells, "summary": table}
    lines = ["# M2 weighting: balanced (1 : 1, α = 50) vs kingma (N_l : N_u, α = 0.1·N)", "",
             f"Command: `{res['command']}` · started {started} · {res['wall_s']} s · host {res['machine']['host']}, "
             f"torch {res['machine']['torch']}, {res['machine']['torch_threads']} thread(s)", "",
             f"MNIST, {steps} steps, batch 64, seeds per label budget {res['seeds']}; runs marked reused in the JSON were "
             "trained by an earlier invocation of the same command (one at a time, threads=1, on a 2-core machine "
             f"shared with other jobs). Validation: {res['validation']}. "
             f"The default is chosen by mean **validation** accuracy over both label budgets: **{chosen}** "
             f"({', '.join(f'{w} {v:.4f}' for w, v in mean_val.items())}). Test accuracy was computed after the choice.",
             ""]

    def cell(v):
        return f"{v['mean']:.4f}" + (f" ± {v['std']:.4f}" if v["std"] is not None else " (1 seed)")
    rows = []
    for key, row in table.items():
        n_l, w = key.split("/")
        rows.append([n_l, w + (" (chosen)" if w == chosen else ""), cell(row["val_accuracy"]),
                     cell(row["test_accuracy"])])
    lines += markdown_table(["labels", "weighting", "validation accuracy (choice)", "test accuracy"], rows)
    write_results("m2-alpha", res, "\n".join(lines) + "\n")
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
