"""GAN vs IWGAN on MNIST 1% (600 training images), longer budgets, and why the IW gain does or does not appear.

    python -m benchmarks.run iwgan [--steps 3000] [--seeds 3] [--k 8] [--n-train 600] [--report-only] [--data-root DIR]

1. Trains (through ``unidgm sweep``; finished runs are reused) GAN and IWGAN with the same DCGAN, Adam, batch 64
   and steps, over seeds, with the classifier inception score at 6 checkpoints; optionally IWGAN with groups
   of ``--k`` (Eq. 16 over k < batch samples).
2. For every kept checkpoint of every run, measures what Eq. 16 does to the generator's gradient, on fresh
   batches of 64 generated in training mode exactly as the θ phase sees them: the effective sample size of
   the weights (k=64 and k=8, as a fraction of k), and the discriminator's state — mean D(x) on generated,
   on the 600 training images and on held-out test images (a train/test gap: D has memorised the training set).
3. Writes ``benchmarks/results/iwgan.json`` and ``.md`` (``iwgan-all`` / ``iwgan-n<N>`` for other ``--n-train``): IS mean ± std per variant at each checkpoint, the paired
   gain (same seed) at each checkpoint, and the diagnostics.
"""

from __future__ import annotations

import datetime
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from benchmarks.run import write_results
from unidgm.report import machine, markdown_table

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "runs" / "bench" / "iwgan"


def _opt(argv, name, default):
    return type(default)(argv[argv.index(name) + 1]) if name in argv else default


def _sweep(out: Path, variants: str, steps: int, seeds: int, extra: list[str], data_root: str,
           n_train: int = 600) -> list[str]:
    size = [] if n_train >= 60000 else [f"n_train={n_train}"]
    cmd = [sys.executable, "-m", "unidgm", "sweep", "gan", "model.arch=auto", f"steps={steps}", "batch_size=64",
           *size, *extra, "--data", "mnist", "--seeds", str(seeds), "--variants", variants,
           "--metrics", "inception_score,fid", "--curve-points", "6", "--out", str(out), "--jobs", "1",
           "--threads", "1", "--data-root", data_root]
    subprocess.run(cmd, cwd=ROOT, check=True)
    return cmd


@torch.no_grad()
def diagnostics(run: Path, data_root: str, test, n_batches: int = 10) -> list[dict]:
    """Per checkpoint: ESS of the Eq. 16 weights and D's outputs on generated / training / ``test`` images."""
    from unidgm.api import load, prepare, read_settings
    from unidgm.core import iw_weights_eq16
    from unidgm.techniques.importance_weighting import iw_ess_fraction
    settings = read_settings(run)
    _, _, train = prepare(settings, data_root)  # the images the run trained on (n_train of them)
    points = []
    for path in sorted((run / "checkpoints").glob("ckpt-*")):
        model = load(run, checkpoint=str(path))
        model.train()  # as the θ phase sees D and G: BatchNorm on batch statistics
        torch.manual_seed(0)
        d, g, prior = model["discriminator"], model["generator"], model["prior"]
        ess64, ess8, d_fake = [], [], []
        for _ in range(n_batches):
            logit = d(g(prior.sample(64)))
            ess64.append(float(iw_ess_fraction(iw_weights_eq16(logit), 64)))
            ess8.append(float(iw_ess_fraction(iw_weights_eq16(logit, 8), 8)))
            d_fake.append(float(torch.sigmoid(logit).mean()))
        d_of = lambda x: float(torch.cat([torch.sigmoid(d(x[i:i + 64])) for i in range(0, len(x), 64)]).mean())  # noqa: E731
        points.append({"step": int(path.name.split("-")[1]), "ess_fraction_k64": statistics.mean(ess64),
                       "ess_fraction_k8": statistics.mean(ess8), "d_fake": statistics.mean(d_fake),
                       "d_train": d_of(train.x[:640]), "d_test": d_of(test.x[:640])})
    return points


def _runs(out: Path) -> dict[str, dict[int, Path]]:
    runs = {}
    for folder in sorted((out / "runs").glob("*/seed-*")):
        if (folder / "curve.json").exists():
            runs.setdefault(folder.parent.name, {})[int(folder.name.split("-")[1])] = folder
    return runs


def _mean_std(values: list[float]) -> str:
    from unidgm.eval.table import format_mean_std, summarise
    return format_mean_std(*summarise(values)) if values else "—"


def collect(outs: dict[str, Path], data_root: str) -> dict:
    from unidgm.data import get_dataset
    test = get_dataset("mnist", "test", data_root)  # read once, shared by every run's diagnostics
    res = {"variants": {}}
    for tag, out in outs.items():
        for variant, seeds in _runs(out).items():
            name = variant if tag == "base" else f"{variant} ({tag})"
            entry = res["variants"].setdefault(name, {"seeds": {}, "folder": str(out)})
            for seed, folder in seeds.items():
                curve = json.loads((folder / "curve.json").read_text())["points"]
                final = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").exists() else {}
                entry["seeds"][seed] = {"curve": {p["step"]: p["inception_score"] for p in curve},
                                        "final_is": final.get("inception_score", {}).get("mean"),
                                        "diagnostics": diagnostics(folder, data_root, test)}
    return res


def markdown(res: dict) -> str:
    size = "MNIST 1% (600 training images)" if res["n_train"] == 600 else f"MNIST, {res['n_train']} training images"
    variants = res["variants"]
    base = variants.get("gan", {}).get("seeds", {})
    steps = sorted({s for v in variants.values() for r in v["seeds"].values() for s in r["curve"]})
    m = res["machine"]
    lines = [f"# GAN vs IWGAN on {size} — {res['date']}", "", f"`{res['command']}`; {m['host']} ({m['cpu_count']} CPUs, "
             f"{m['torch_threads']} thread(s)), torch {m['torch']}, unidgm {m['unidgm']} at {m['git_commit']}; "
             f"{res['runtime_s']} s. Classifier inception score (our MNIST classifier; 2000 samples at checkpoints, "
             "10000 for the final score), mean ± std over seeds; gain = paired difference to the GAN of the same seed.",
             ""]
    rows = []
    for name, v in variants.items():
        cells = [_mean_std([r["curve"][s] for r in v["seeds"].values() if s in r["curve"]]) for s in steps]
        finals = [r["final_is"] for r in v["seeds"].values() if r["final_is"] is not None]
        rows.append([name, *cells, _mean_std(finals)])
    for name, v in variants.items():
        if name == "gan":
            continue
        gains = []
        for s in steps:
            pairs = [r["curve"][s] - base[seed]["curve"][s] for seed, r in v["seeds"].items()
                     if seed in base and s in r["curve"] and s in base[seed]["curve"]]
            gains.append(_mean_std(pairs))
        rows.append([f"gain {name} − gan", *gains, ""])
    lines += markdown_table(["variant", *(f"step {s}" for s in steps), "final IS (10k samples)"], rows)
    lines += ["", "Mechanism (exact, from Eq. 16 and the non-saturating generator loss −log D(x)): a generated "
              "sample's gradient through its logit is (1 − D(x_i)) ∇logit_i in the GAN; Eq. 16 multiplies it by "
              "w̃_i ∝ D(x_i)/(1 − D(x_i)), so in IWGAN it is ∝ D(x_i) ∇logit_i. The GAN pushes hardest on the "
              "samples D rejects; IWGAN moves mostly the samples D already accepts, and when D is confident "
              "(small D(generated)) few samples carry the update — the effective sample size below.",
              "", "What Eq. 16 does to the generator's gradient, per checkpoint (mean over seeds; 10 fresh batches of "
              "64 in training mode): effective sample size of the weights as a fraction of the group (1 = the GAN's "
              "uniform weights; 1/k = one sample carries the whole update), and D(x) on generated, training and "
              "held-out test images.", ""]
    rows = []
    for name, v in variants.items():
        for s in steps:
            pts = [p for r in v["seeds"].values() for p in r["diagnostics"] if p["step"] == s]
            if pts:
                m = {k: statistics.mean(p[k] for p in pts) for k in pts[0] if k != "step"}
                rows.append([name, s, *(f"{m[k]:.3f}" for k in ("ess_fraction_k64", "ess_fraction_k8", "d_fake",
                                                                 "d_train", "d_test"))])
    lines += markdown_table(["variant", "step", "ESS / k (k=64)", "ESS / k (k=8)", "D(generated)", "D(train)",
                             "D(test)"], rows)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    steps, seeds, k = _opt(argv, "--steps", 3000), _opt(argv, "--seeds", 3), _opt(argv, "--k", 0)
    n_train = _opt(argv, "--n-train", 600)
    tag = "1pct" if n_train == 600 else "all" if n_train >= 60000 else f"n{n_train}"
    data_root = _opt(argv, "--data-root", str(ROOT.parent / "shared" / "data"))
    if not (Path(data_root) / "mnist").exists():
        print(f"iwgan: needs MNIST under {data_root} (pass --data-root); skipped", flush=True)
        return {}
    torch.set_num_threads(1)
    started = time.perf_counter()
    out = Path(_opt(argv, "--out", str(OUT))) / f"{tag}-{steps}steps"
    outs, commands = {"base": out}, []
    if "--report-only" not in argv:
        commands.append(" ".join(_sweep(out, "none,iw", steps, seeds, [], data_root, n_train)[2:]))
        if k:
            outs[f"k={k}"] = out.with_name(out.name + f"-k{k}")
            commands.append(" ".join(_sweep(outs[f"k={k}"], "iw", steps, seeds, [f"iw.k={k}"], data_root, n_train)[2:]))
    elif k:
        outs[f"k={k}"] = out.with_name(out.name + f"-k{k}")
    res = collect(outs, data_root)
    res.update(n_train=n_train, date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               command="python -m benchmarks.run iwgan " + " ".join(argv), sweeps=commands,
               machine=machine(),
               runtime_s=round(time.perf_counter() - started, 1))
    write_results("iwgan" if tag == "1pct" else f"iwgan-{tag}", res, markdown(res))
    return res


if __name__ == "__main__":
    main()
