"""`unidgm demo`: a three-minute tour of the paper on 2 CPU cores, offline, on embedded data.

1. The unified Table 1, read off the model definitions (not typed in).
2. GAN vs IWGAN (Eq. 16) on ``ring8`` (8 Gaussians): modes captured and high-quality fraction.
3. VAE vs AA-VAE (Eq. 17) on ``digits`` (8x8 images): test ELBO.
Base and extended models share every setting (networks, optimiser, steps, batch, seeds); each pair
runs through the sweep runner, so the results folder holds run folders, sample grids, training
curves (the metric at several checkpoints) and a small Markdown/CSV/JSON table.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from ..report import markdown_table, write_text
from .sweep import Variant, collect, run_dir, run_sweep, write_summary

DEFAULT_STEPS = {"gan": 8000, "vae": 6000}  # about 2-3 minutes on 2 (otherwise idle) CPU cores
SEEDS = (0, 1)


def demo_variants(steps: int | None = None) -> list[Variant]:
    """The two pairs of the demo; the extended model is the base variant plus one technique switch."""
    gs, vs = (steps, steps) if steps else (DEFAULT_STEPS["gan"], DEFAULT_STEPS["vae"])
    gan_ov = {"steps": gs, "batch_size": 128, "model.hidden": [128, 128], "model.z_dim": 4, "model.lr": 1e-3}
    vae_ov = {"steps": vs, "batch_size": 100, "model.hidden": [256, 256], "model.z_dim": 16}
    n_curve = 4 if (steps or 999) >= 4 else 1
    ev_gan = {"n_samples": 2000, "curve_samples": 1000}
    ev_vae = {"curve_test": 297}
    return [Variant("gan", "gan", "ring8", (), gan_ov, ("modes",), n_curve, ev_gan),
            Variant("iwgan", "gan", "ring8", ("iw",), gan_ov, ("modes",), n_curve, ev_gan),
            Variant("vae", "vae", "digits", (), vae_ov, ("elbo",), n_curve, ev_vae),
            Variant("aa-vae", "vae", "digits", ("aa",), vae_ov, ("elbo",), n_curve, ev_vae)]


def run_demo(out="results/demo", steps: int | None = None, seeds=SEEDS, log=print, jobs: int | None = None) -> Path:
    """Run the tour, write ``out`` (summary, sample grids, curves) and return its path. ``jobs``: runs
    trained side by side (default: 2 on a machine with 2+ cores, one torch thread each)."""
    import os

    import torch

    from ..train.speed import torch_threads
    jobs = jobs or (2 if (os.cpu_count() or 1) >= 2 else 1)
    with torch_threads(1 if jobs > 1 else max(1, min(2, torch.get_num_threads()))):  # restored afterwards
        return _demo(Path(out), steps, seeds, log, jobs)


def _demo(out: Path, steps, seeds, log, jobs: int) -> Path:
    from .tables import table1_markdown
    t0 = time.time()
    runs = out / "runs"
    out.mkdir(parents=True, exist_ok=True)
    log("Table 1 of the paper, read off the library's model definitions:\n")
    log(table1_markdown(["ada", "gan", "infogan", "vae"]))
    variants = demo_variants(steps)
    log(f"\nTraining GAN vs IWGAN on ring8 and VAE vs AA-VAE on digits: {variants[0].steps} / {variants[2].steps} "
        f"steps each, seeds {list(seeds)}, equal budgets within each pair ...")
    run_sweep(variants, seeds, runs, jobs=jobs, threads=1 if jobs > 1 else None, log=log)
    paths = write_summary(variants, seeds, runs, out / "summary", digits=3, wall_s=time.time() - t0)
    figures = out / "figures"
    figures.mkdir(exist_ok=True)
    for v in variants:
        pngs = sorted((run_dir(runs, v, seeds[0]) / "samples").glob("step-*.png"))
        if pngs:
            shutil.copy(pngs[-1], figures / f"samples-{v.name}.png")
    _plot_pairs(variants, seeds, runs, figures)
    table = _score_table(variants, seeds, runs)
    log("\n" + table)
    write_text(out / "README.md", "# unidgm demo\n\n" + table + "\n\nTable 1 (from the code):\n\n"
               + table1_markdown(["ada", "gan", "infogan", "vae"])
               + "\n\nFull table: summary.md; sample grids and curves: figures/; run folders: runs/.\n")
    log(f"\nwall time {time.time() - t0:.0f} s; results in {out.resolve()} (summary: {paths['md'].name})")
    return out


def _score_table(variants, seeds, runs) -> str:
    from ..eval.table import format_mean_std, summarise
    rows = []
    for base, ext, metrics in ((variants[0], variants[1], ("modes_captured", "high_quality_fraction")),
                               (variants[2], variants[3], ("elbo",))):
        cb, ce = collect(runs, base, seeds), collect(runs, ext, seeds)
        for m in metrics:
            b, e = cb["metrics"].get(m, []), ce["metrics"].get(m, [])
            if not b or not e:
                continue
            gain = sum(e) / len(e) - sum(b) / len(b)
            rows.append([f"{base.name.upper()} → {ext.name.upper()}", base.data, m, format_mean_std(*summarise(b)),
                         format_mean_std(*summarise(e)), f"{gain:+.2f}"])
    table = markdown_table(["pair", "data", "metric", "base", "extended", "gain"], rows)
    return "\n".join(table) + (f"\n\n(mean ± std over seeds {list(seeds)}; {variants[0].steps} / {variants[2].steps} "
                               "steps per GAN / VAE; with so few seeds, a gain within the spread is not evidence)")


def _plot_pairs(variants, seeds, runs, figures: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    panels = [(variants[0], variants[1], "modes_captured"), (variants[0], variants[1], "high_quality_fraction"),
              (variants[2], variants[3], "elbo")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for ax, (base, ext, m) in zip(axes, panels):
        for v, col in ((base, "tab:blue"), (ext, "tab:red")):
            per_step: dict = {}
            for s in seeds:
                f = run_dir(runs, v, s) / "curve.json"
                if f.exists():
                    for p in json.loads(f.read_text())["points"]:
                        if m in p:
                            per_step.setdefault(p["step"], []).append(p[m])
            if not per_step:
                continue
            st = sorted(per_step)
            mean = np.array([np.mean(per_step[s]) for s in st])
            sd = np.array([np.std(per_step[s]) for s in st])
            ax.plot(st, mean, "o-", color=col, label=v.name.upper())
            ax.fill_between(st, mean - sd, mean + sd, color=col, alpha=0.2)
        ax.set_title(f"{base.data}: {m}", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(figures / "curves.png", dpi=100)
    plt.close(fig)
