"""GAN vs VAE on one scale: AIS log-likelihood (Wu et al. 2017) beside mode coverage / classifier IS, with BDMC.

    python -m benchmarks.run ais [--data ring8] [--steps 2000] [--seeds 2] [--n-test 500] [--ais-steps 100]
                                 [--ais-chains 8] [--bdmc-T 10,100,1000] [--data-root DIR] [--report-only]
                                 [--recipe converged --max-minutes M] [--seed-list 0,1] [--only GAN,VAE]
                                 [--add-coverage]

``--recipe NAME --max-minutes M`` (MNIST): every model trained by the named recipe (its schedule, validation
and early stopping; the best validated checkpoint is what AIS scores) for the same wall-clock budget of M
minutes, ``--steps`` then being only a cap — equal time rather than equal steps, since the models' steps cost
different amounts. Each (model, seed) result is then a committed cell under ``benchmarks/results/<name>/``;
cells present are skipped (neither trained nor evaluated), so ``--seed-list 1`` in a later session adds a
seed, and the report is built from every cell with the same AIS settings. ``--add-coverage`` measures class
coverage for cells committed before it was part of the evaluation, where their run folders still exist.

1. Trains GAN, IWGAN, VAE, AA-VAE, VAE/GAN and AVB with the mode study's shared toy settings
   (``unidgm.theory.modes``: equal widths, z_dim, batch, lr, steps; one process at a time, one thread); on
   MNIST the library defaults with a Gaussian decoder for the VAE family, so every model sees the same
   continuous images, and the VAEs' decoder network for the GANs (``SAME_DECODER``). Finished runs are reused.
2. Evaluates each run with ``unidgm eval --metrics ais`` using the *Gaussian observation model for every model*
   (N(x; mean(z), σ²I), σ chosen per model on training images from ``unidgm.eval.ais.SIGMA_GRID``): one scale
   for explicit and implicit models, as Wu et al. do; plus mode coverage (toy) or, on MNIST, the classifier
   IS and class coverage (the classifier's labels of 10k samples as the modes: classes captured, KL to uniform).
3. BDMC at full size: for the first seed's VAE and GAN, forward and reverse AIS on data simulated from the
   model for each T in ``--bdmc-T`` — the gap between the bounds, which shrinks as T grows.
4. Writes ``benchmarks/results/ais-<data>.json``, ``.md`` and ``figures/ais-<data>.png``.
"""

from __future__ import annotations

import datetime
import os
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from benchmarks.run import RESULTS, write_results
from unidgm.report import machine, markdown_table, write_json
from unidgm.train.checkpoint import checkpoint_step, latest_checkpoint

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "bench" / "ais"
ROWS = (("GAN", "gan", (), {}),
        ("IWGAN", "gan", ("iw",), {}),
        ("VAE", "vae", (), {"model.likelihood": "gaussian"}),
        ("AA-VAE", "vae", ("aa",), {"model.likelihood": "gaussian"}),
        ("VAE/GAN", "vaegan", (), {"model.likelihood": "gaussian", "model.lr_phi": None}),
        ("AVB", "avb", (), {"model.likelihood": "gaussian"}))
# on images, the GANs get the VAEs' decoder network (an MLP 50-500-500-784) instead of the library's default
# DCGAN: the same p_θ(x|z) for every model, only the training objective differs (Wu et al. 2017 compare
# GAN, VAE and GMMN with one decoder architecture); AVB keeps its own 8-dimensional code. VAE/GAN's
# discriminator is an MLP too (784-256-256), like the GANs' (784-500-500). The GANs' generator has BatchNorm in
# its hidden layers: without it the discriminator wins within 500 steps (validation IS 1.00 at 500, 1.74 at
# 3000 steps even with dropout 0.3 in D; with BatchNorm 2.55 at 500, 4.32 at 1500 — /tmp probes, one seed)
SAME_DECODER = {"gan": {"model.arch": "mlp", "model.hidden": [500, 500], "model.z_dim": 50, "model.g_batch_norm": True},
                "vaegan": {"model.d_arch": "mlp"}}  # and an MLP discriminator, as the GANs': a DCGAN's costs 7x
# the KL each model's generator minimises (Lemma 1 / Lemma 2): the paper's argument for mode missing/covering
KL = {"GAN": "KL(p_θ‖q^r) − JSD: mode seeking", "IWGAN": "as GAN, importance weighted",
      "VAE": "KL(q_η‖p_θ) in z,y: covering in x", "AA-VAE": "as VAE, D-weighted",
      "VAE/GAN": "both directions", "AVB": "as VAE, implicit q_η"}


def _opt(argv, name, default):
    return type(default)(argv[argv.index(name) + 1]) if name in argv else default


def _overrides(data: str, extra: dict, steps: int, seed: int, recipe: str | None = None,
               max_minutes: float | None = None, model: str | None = None) -> dict:
    from unidgm.theory.modes import _overrides as toy_overrides
    if data in ("ring8", "grid25"):
        return {**toy_overrides(extra, steps, seed), "threads": 1}
    out = {"steps": steps, "seed": seed, "threads": 1, "ckpt_every": 0, "log_every": max(steps, 1),
           "sample_every": 0, "device": "cpu"}
    if recipe:  # the recipe's schedule and validation; the wall clock, not its step budget, ends the run
        out.update({"recipe": recipe, "log_every": 1000, **({"max_minutes": max_minutes} if max_minutes else {})})
    out.update(SAME_DECODER.get(model, {}))
    out.update({k: v for k, v in extra.items() if v is not None})
    return out


def _budget_dir(steps: int, recipe: str | None, max_minutes: float | None) -> str:
    return f"steps{steps}" if not recipe else f"{recipe}-{max_minutes:g}min" if max_minutes else f"{recipe}-{steps}"


def train_all(data: str, steps: int, seeds, data_root, recipe: str | None = None,
              max_minutes: float | None = None, cells: Path | None = None,
              only: list[str] | None = None) -> dict[tuple[str, int], Path]:
    """Train (or reuse) every row's run for ``seeds`` (the rows named in ``only``, if given); a run whose result
    cell is committed is not trained."""
    from unidgm import api
    runs = {}
    for seed in seeds:
        for label, model, techs, extra in ROWS:
            if only and label not in only:
                continue
            if cells is not None and _cell(cells, label, seed).exists():
                continue
            folder = OUT / data / _budget_dir(steps, recipe, max_minutes) / _slug(label) / f"seed-{seed}"
            if not (folder / "checkpoints" / "latest").exists():  # finished runs are reused
                t = time.perf_counter()
                api.train(model, data, overrides=_overrides(data, extra, steps, seed, recipe, max_minutes, model),
                          techniques=list(techs), out=folder, data_root=data_root, progress=False)
                print(f"trained {label} seed {seed} in {time.perf_counter() - t:.0f} s", flush=True)
            runs[label, seed] = folder
    return runs


def _slug(label: str) -> str:
    return label.replace("/", "").lower()


def _cell(cells: Path, label: str, seed: int) -> Path:
    return cells / f"{_slug(label)}-seed-{seed}.json"


def evaluate(runs, data, n_test, ais_opts, data_root, cells: Path | None = None, command: str = "") -> dict:
    """Each run's result row; with ``cells``, each row is written there as soon as it is measured (a small
    JSON, committed), so a table grows seed by seed over sessions without keeping any checkpoint."""
    from unidgm.eval.run import evaluate_run
    toy = data in ("ring8", "grid25")
    out = {}
    for (label, seed), folder in runs.items():
        t = time.perf_counter()
        metrics = ["ais", "modes"] if toy else ["ais", "inception_score"]
        r = evaluate_run(folder, metrics, data_root=data_root, max_test=n_test, n_samples=5000 if toy else 10000,
                         progress=False, ais={**ais_opts, "observation": "gaussian"})
        modes = r.get("modes", {})
        classes = r.get("class_coverage", {})
        out[label, seed] = row = {
            "model": label, "seed": seed, "run": os.path.relpath(folder, ROOT), "ais": r["ais"]["value"],
            "sigma": r["ais"]["sigma"], "sigma_selection": r["ais"]["sigma_selection"], "bdmc": r["ais"]["bdmc"],
            "bdmc_gap": r["ais"]["bdmc"]["gap"], "accept_rate": r["ais"]["accept_rate"],
            "ais_seconds": r["ais"]["seconds"], "modes_captured": modes.get("modes_captured"),
            "high_quality": modes.get("high_quality_fraction"),
            "inception_score": r.get("inception_score", {}).get("mean"),
            "classes_captured": classes.get("modes_captured"), "class_kl": classes.get("kl_to_uniform"),
            "class_counts": classes.get("counts"), **_run_info(folder),
            "settings": {"n_test": n_test, **ais_opts}, "command": command, "machine": machine(),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
        if cells is not None:
            write_json(_cell(cells, label, seed), row, indent=1, default=float)
        print(f"{label} seed {seed}: AIS {r['ais']['value']:.2f} (σ={r['ais']['sigma']}, BDMC gap "
              f"{r['ais']['bdmc']['gap']:.2f}) in {time.perf_counter() - t:.0f} s", flush=True)
    return out


def add_class_coverage(cells: Path, data_root, n_samples: int = 10000) -> None:
    """Class coverage for committed MNIST cells measured before it was part of the evaluation, from their run's
    best checkpoint where the folder still exists: a *separate* draw of ``n_samples`` samples (evaluation seed 0;
    the cell's IS came from the draw after AIS), recorded with that draw's own IS so the two can be compared."""
    from unidgm.eval.run import evaluate_run
    for path in sorted(cells.glob("*-seed-*.json")):
        row = json.loads(path.read_text())
        folder = ROOT / row["run"]
        if row.get("class_kl") is not None or not folder.exists():
            continue
        r = evaluate_run(folder, ["inception_score"], data_root=data_root, n_samples=n_samples, progress=False,
                         write=False)
        c = r["class_coverage"]
        row.update(classes_captured=c["modes_captured"], class_kl=c["kl_to_uniform"], class_counts=c["counts"],
                   class_coverage_draw={"inception_score": r["inception_score"]["mean"], "n_samples": n_samples,
                                        "note": "a separate draw from the cell's IS (evaluation seed 0, no AIS before "
                                                "it), added after the cell was measured"})
        write_json(path, row, indent=1, default=float)
        print(f"{path.name}: {c['modes_captured']} classes, KL to uniform {c['kl_to_uniform']:.3f} "
              f"(IS of this draw {r['inception_score']['mean']:.2f}, the cell's {row['inception_score']:.2f})",
              flush=True)


def bdmc_curve(folder: Path, sigma: float, Ts, n: int, chains: int, leapfrog: int) -> list[dict]:
    """BDMC gap vs T on ``n`` examples simulated from the run's model (Gaussian observation with its σ)."""
    from unidgm.api import load
    from unidgm.eval.ais import bdmc
    model = load(folder)
    points = []
    with model.evaluating():
        for T in Ts:
            torch.manual_seed(0)
            t = time.perf_counter()
            r = bdmc(model, n, None, "gaussian", sigma, n_chains=chains, n_steps=T, n_leapfrog=leapfrog,
                     progress=False)
            points.append({"T": T, **r, "seconds": time.perf_counter() - t})
            print(f"  BDMC T={T}: [{r['lower']:.2f}, {r['upper']:.2f}] gap {r['gap']:.2f}", flush=True)
    return points


def _run_info(folder: Path) -> dict:
    """Steps trained and the validated checkpoint AIS scored (a run without validation: its last step)."""
    info = {"steps_trained": None, "best": None}
    latest = latest_checkpoint(folder / "checkpoints")
    if latest is not None:
        info["steps_trained"] = checkpoint_step(latest)
    try:
        best = json.loads((folder / "best.json").read_text())
        info["best"] = {k: best.get(k) for k in ("metric", "value", "step")}
    except (OSError, ValueError):
        pass
    return info


def _mean_std(vals, digits: int = 2):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "—"
    return f"{statistics.mean(vals):.{digits}f}" + (f" ± {statistics.stdev(vals):.{digits}f}" if len(vals) > 1 else "")


def render(res: dict) -> str:
    toy = res["data"] in ("ring8", "grid25")
    a = res["ais_settings"]
    lines = [f"# GAN vs VAE on one scale: AIS log-likelihood on {res['data']}", "",
             (f"{res['steps']} training steps per model ({res['budget']})" if not res.get("recipe") else
              f"Budget: {res['budget']}") + f", seeds {res['seeds']}; "
             f"AIS: {a['n_chains']} chains, T = {a['n_steps']} intermediate distributions (sigmoid schedule), "
             f"{a['n_leapfrog']} leapfrog steps, HMC step size adapted per chain to 65% acceptance, on the first "
             f"{res['n_test']} test examples. Observation model for *every* model: N(x; mean(z), σ²I), σ per run "
             f"chosen from {res['sigma_grid']} on " + ("the run's validation split" if res.get("recipe") else
             "training images") + " (never test) — one scale for explicit and "
             "implicit generators (Wu et al. 2017). AIS is a stochastic lower bound; the BDMC gap (forward vs "
             "reverse AIS on data simulated from each model, same settings) bounds its error there.", ""]
    head = ["model", "KL minimised", "seeds", "AIS log p(x) (nats)", "σ", "BDMC gap",
            *([f"modes captured (of {res['n_modes']})", "high-quality fraction"] if toy else
              ["classifier IS", "classes captured (of 10)", "class KL to uniform"]),
            *(["steps trained", "selected at step (metric)"] if res.get("recipe") else [])]
    rows = []
    for label, _, _, _ in ROWS:
        cells = [r for r in res["runs"] if r["model"] == label]
        if not cells:
            continue
        row = [label, KL[label], len(cells), _mean_std([c["ais"] for c in cells]), ", ".join(str(c["sigma"]) for c in cells),
               _mean_std([c["bdmc_gap"] for c in cells])]
        if toy:
            row += [_mean_std([c["modes_captured"] for c in cells]), _mean_std([c["high_quality"] for c in cells])]
        else:
            row += [_mean_std([c["inception_score"] for c in cells]),
                    _mean_std([c.get("classes_captured") for c in cells]),
                    _mean_std([c.get("class_kl") for c in cells], digits=3)]
        if res.get("recipe"):
            row += [", ".join(str(c.get("steps_trained")) for c in cells),
                    ", ".join(f"{c['best']['step']}" for c in cells if c.get("best")) +
                    (f" ({cells[0]['best']['metric']})" if cells[0].get("best") else "")]
        rows.append(row)
    lines += markdown_table(head, rows)
    if res.get("bdmc_curves"):
        lines += ["", "BDMC at growing T (examples simulated from the first seed's model, σ as in the table):", ""]
        lines += markdown_table(["model", "T", "lower (forward AIS)", "upper (reverse AIS)", "gap", "seconds"],
                                [[label, p["T"], f"{p['lower']:.2f}", f"{p['upper']:.2f}", f"{p['gap']:.2f}",
                                  f"{p['seconds']:.0f}"] for label, pts in res["bdmc_curves"].items() for p in pts])
    lines += ["", "Commands:", "", *[f"    {c}" for c in res["commands"]], "",
              "Machine: " + ", ".join(f"{k} {v}" for k, v in res["machine"].items()
                                       if k in ("torch", "cpu_count", "torch_threads", "cuda", "git_commit"))
              + f"; finished {res['finished']}.", ""]
    return "\n".join(lines)


def figure(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    toy = res["data"] in ("ring8", "grid25")
    key = "modes_captured" if toy else "inception_score"
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for label, _, _, _ in ROWS:
        cells = [r for r in res["runs"] if r["model"] == label and r[key] is not None]
        if cells:
            ax.scatter([c[key] for c in cells], [c["ais"] for c in cells], label=label, s=40)
    ax.set_xlabel("modes captured" if toy else "classifier inception score")
    ax.set_ylabel("AIS log p(x) (nats, Gaussian observation)")
    budget = f"{res['max_minutes']:g} min each" if res.get("max_minutes") else f"{res['steps']} steps"
    ax.set_title(f"{res['data']}: sample coverage vs likelihood ({budget})")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> dict:
    from unidgm.eval.ais import SIGMA_GRID
    data = _opt(argv, "--data", "ring8")
    steps = _opt(argv, "--steps", 2000 if data in ("ring8", "grid25") else 2000)
    seeds = _opt(argv, "--seeds", 2)
    n_test = _opt(argv, "--n-test", 500 if data in ("ring8", "grid25") else 100)
    ais_opts = {"n_chains": _opt(argv, "--ais-chains", 8), "n_steps": _opt(argv, "--ais-steps", 100),
                "n_leapfrog": _opt(argv, "--ais-leapfrog", 5), "n_bdmc": _opt(argv, "--n-bdmc", 20)}
    Ts = [int(t) for t in _opt(argv, "--bdmc-T", "10,100,1000").split(",") if t]
    recipe, max_minutes = _opt(argv, "--recipe", ""), _opt(argv, "--max-minutes", 0.0)
    data_root = _opt(argv, "--data-root", str(ROOT.parent / "shared" / "data"))
    # the budget is part of the name: cells of another budget never mix with these, nor are they skipped for them
    name = f"ais-{data}" + (f"-{recipe}" if recipe else "") + (f"-{max_minutes:g}min" if recipe and max_minutes else "")
    torch.set_num_threads(1)
    seed_list = [int(x) for x in str(_opt(argv, "--seed-list", "")).split(",") if x != ""] or list(range(seeds))
    # MNIST with a recipe: one committed cell per (model, seed) under benchmarks/results/<name>/, skipped when
    # present, so seeds can be added in later sessions (run folders do not survive a fresh machine)
    cells = RESULTS / name if recipe else None
    if "--add-coverage" in argv and cells is not None:
        add_class_coverage(cells, data_root)
    if "--report-only" in argv and cells is None:
        res = json.loads((RESULTS / f"{name}.json").read_text())
    else:
        if "--report-only" not in argv:
            only = [x for x in str(_opt(argv, "--only", "")).split(",") if x]
            unknown = set(only) - {label for label, *_ in ROWS}
            if unknown:
                raise SystemExit(f"--only: unknown model(s) {sorted(unknown)}; rows: {', '.join(r[0] for r in ROWS)}")
            runs = train_all(data, steps, seed_list, data_root, recipe or None, max_minutes or None, cells, only)
            rows = list(evaluate(runs, data, n_test, ais_opts, data_root, cells,
                                 command="python -m benchmarks.run ais " + " ".join(argv)).values())
        if cells is not None:  # every committed cell with these settings, this invocation's and earlier ones
            rows = [json.loads(p.read_text()) for p in sorted(cells.glob("*-seed-*.json"))]
            rows = [r for r in rows if r.get("settings") == {"n_test": n_test, **ais_opts}]
        curves = {}
        for label in ("VAE", "GAN"):
            first = min((r for r in rows if r["model"] == label), key=lambda r: r["seed"], default=None)
            saved = cells / f"bdmc-{_slug(label)}.json" if cells is not None else None
            if saved is not None and saved.exists():
                curves[label] = json.loads(saved.read_text())["points"]
                continue
            if first is None or "--report-only" in argv or (label, first["seed"]) not in runs:
                continue
            print(f"BDMC vs T for {label} (σ={first['sigma']})", flush=True)
            curves[label] = bdmc_curve(runs[label, first["seed"]], first["sigma"], Ts, ais_opts["n_bdmc"],
                                       ais_opts["n_chains"], ais_opts["n_leapfrog"])
            if saved is not None:
                write_json(saved, {"model": label, "seed": first["seed"], "sigma": first["sigma"], "points": curves[label]})
        from unidgm.data import get_dataset
        test = get_dataset(data, "test", data_root)
        res = {"data": data, "steps": steps, "seeds": sorted({r["seed"] for r in rows}), "n_test": n_test,
               "recipe": recipe or None, "max_minutes": max_minutes or None,
               "budget": (f"recipe {recipe}, {max_minutes:g} minutes of training per run on one thread (equal wall "
                          "clock; steps differ by model), the best validated checkpoint" if recipe else
                          "short CPU budget, not converged" if data not in ("ring8", "grid25") else
                          "the mode study's toy budget"),
               "ais_settings": ais_opts, "sigma_grid": list(SIGMA_GRID), "n_modes": 0 if test.modes is None
               else len(test.modes), "runs": rows, "bdmc_curves": curves,
               "commands": sorted({r["command"] for r in rows if r.get("command")})
               or ["python -m benchmarks.run ais " + " ".join(argv)], "machine": machine(),
               "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    figure(res, RESULTS / "figures" / f"{name}.png")
    write_results(name, res, render(res))
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
