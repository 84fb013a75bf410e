"""The trained mode-coverage study: GAN, IWGAN, VAE and VAE/GAN on a 2-D mixture (``unidgm theory modes``).

Lemma 1 says the GAN generator minimises KL(p_θ ‖ q^r) − JSD (mode seeking, Eq. 8); Lemma 2 says the VAE
minimises the other direction through the ELBO (mode covering). This study trains each family on ``ring8``
or ``grid25`` with **equal generator capacity and budget** — the same MLP widths for every generator/decoder
and discriminator, the same z_dim, steps, batch size and learning rate — over several seeds, and scores
samples with :func:`unidgm.eval.mode_metrics` (modes captured, high-quality fraction, KL to uniform; the
unrolled-GAN/VEEGAN protocol). Outputs: ``modes_<data>.{md,csv,json}`` (mean ± std over seeds, settings in
the header) and ``modes_<data>.png`` (samples over the mode centres, one panel per model and seed).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch

# (row name, registered model, techniques, model overrides beyond the shared ones)
STUDY = (("GAN", "gan", (), {}),
         ("IWGAN", "gan", ("iw",), {}),
         ("VAE", "vae", (), {"model.likelihood": "gaussian"}),
         ("VAE/GAN", "vaegan", (), {"model.likelihood": "gaussian", "model.lr_phi": None}))

CHANCE = "uniform box (chance)"

# Toy-data settings shared by every model (the library defaults target images). hidden 256-256 matches the
# VAE/GAN discriminator's fixed widths, so discriminators are equal too; lr 1e-3 lets the GAN learn ring8
# within ~2000 CPU steps.
TOY = {"model.z_dim": 4, "model.hidden": [256, 256], "model.lr": 1e-3, "batch_size": 64}


def _overrides(extra: dict, steps: int, seed: int) -> dict:
    out = {**TOY, "steps": steps, "seed": seed, "ckpt_every": 0, "log_every": max(steps, 1), "sample_every": 0,
           "device": "cpu"}
    for k, v in extra.items():
        out[k] = TOY["model.lr"] if v is None else v  # None: tie to the shared lr (VAE/GAN's discriminator)
    return out


def _metrics(x: torch.Tensor, test) -> dict:
    """mode_metrics with the default 1% rule, plus the modes captured under PacGAN's stricter 20% rule."""
    from ..eval import mode_metrics
    m = mode_metrics(x, test.modes, test.mode_std)
    m["modes_captured_20"] = mode_metrics(x, test.modes, test.mode_std, min_fraction=0.2)["modes_captured"]
    return m


def _generator_params(model) -> int:
    part = model["generator"] if model.has("generator") else model["decoder"]
    return sum(p.numel() for p in part.net.parameters())


def run_mode_study(out, data: str = "ring8", seeds: int = 3, steps: int = 2000, n_samples: int = 5000,
                   models=None, runs_dir=None, verbose: bool = True) -> dict:
    """Train every model of :data:`STUDY` (or the named subset) for ``seeds`` seeds; write table and figure.

    Run folders go to ``runs_dir`` when given, else to a temporary folder removed at the end.

    Returns ``{"rows", "per_seed", "settings", "paths"}``; ``per_seed[name]`` lists each seed's metrics.
    """
    out = Path(out)
    with tempfile.TemporaryDirectory() as tmp:
        return _study(out, Path(runs_dir) if runs_dir else Path(tmp), data, seeds, steps, n_samples, models, verbose)


def _study(out: Path, runs: Path, data, seeds, steps, n_samples, models, verbose) -> dict:
    from ..api import train
    from ..data import get_dataset
    from ..eval.table import summarise, write_table
    from ..report import write_json, write_text

    test = get_dataset(data, "test")
    if test.modes is None:
        from ..errors import ConfigError
        raise ConfigError(f"the mode study needs a mixture with known modes (ring8, grid25), not {data!r}")
    study = [s for s in STUDY if models is None or s[0] in models]
    per_seed: dict[str, list[dict]] = {}
    samples: dict[str, list[torch.Tensor]] = {}
    g_params: dict[str, int] = {}
    for name, model, techs, extra in study:
        per_seed[name], samples[name] = [], []
        for seed in range(seeds):
            t0 = time.time()
            run_dir = runs / data / f"{name.replace('/', '')}-seed{seed}"
            run = train(model, data, overrides=_overrides(extra, steps, seed), techniques=techs, out=run_dir,
                        progress=False)
            torch.manual_seed(10_000 + seed)
            x = run.model.sample(n_samples).cpu()
            m = _metrics(x, test)
            m["seconds"] = time.time() - t0
            per_seed[name].append(m)
            samples[name].append(x)
            g_params[name] = _generator_params(run.model)
            if verbose:
                print(f"  {name:<8} seed {seed}: {m['modes_captured']}/{m['num_modes']} modes, "
                      f"high quality {m['high_quality_fraction']:.3f}, KL to uniform {m['kl_to_uniform']:.3f} "
                      f"({m['seconds']:.0f}s)", flush=True)

    # chance level: uniform samples over the box of the mode centres (5% margin), which "capture" modes by spread alone
    lo, hi = test.modes.min(0).values, test.modes.max(0).values
    lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
    per_seed[CHANCE] = [_metrics(lo + (hi - lo) * torch.rand(n_samples, 2, generator=torch.Generator().manual_seed(s)),
                                 test) for s in range(seeds)]
    g_params[CHANCE] = None
    rows = []
    for name in [s[0] for s in study] + [CHANCE]:
        ms = per_seed[name]
        rows.append({"model": name,
                     "modes captured": summarise([m["modes_captured"] for m in ms]),
                     "modes captured (20% rule)": summarise([m["modes_captured_20"] for m in ms]),
                     "high-quality fraction": summarise([m["high_quality_fraction"] for m in ms]),
                     "KL to uniform": summarise([m["kl_to_uniform"] for m in ms]),
                     "modes per seed": ", ".join(str(m["modes_captured"]) for m in ms),
                     "generator params": g_params[name]})
    settings = {"data": data, "num_modes": int(test.modes.shape[0]), "mode_std": float(test.mode_std),
                "seeds": seeds, "steps": steps, "n_samples": n_samples, "shared": TOY,
                "per_model": {name: {"model": model, "techniques": list(techs), **_overrides(extra, steps, 0)}
                              for name, model, techs, extra in study},
                "protocol": "nearest mode; high quality within 3 std; captured: >= 1% (20% rule: >= 20%) of N/M "
                            "high-quality samples"}
    stem = out / f"modes_{data}"
    paths = write_table(rows, path_stem=stem, digits=3)
    header = (f"# Mode coverage on {data} ({settings['num_modes']} modes, std {test.mode_std})\n\n"
              f"Mean ± std over {seeds} seed(s); {steps} steps, batch {TOY['batch_size']}, "
              f"z_dim {TOY['model.z_dim']}, "
              f"MLP widths {TOY['model.hidden']} for every generator/decoder, encoder and discriminator, Adam lr "
              f"{TOY['model.lr']} (GAN family betas 0.5/0.999, VAE 0.9/0.999), Gaussian decoder likelihood for VAE "
              f"and VAE/GAN, IWGAN k = whole batch. {n_samples} samples per model; {settings['protocol']}. "
              f"The last row is chance: uniform samples over the box of the mode centres (5% margin) — a model "
              f"near it has spread, not learned modes.\n\n")
    write_text(paths["md"], header + paths["md"].read_text())
    payload = json.loads(paths["json"].read_text())
    payload.update(settings=settings, per_seed=per_seed)
    write_json(paths["json"], payload, ensure_ascii=False, default=float)
    paths["png"] = plot_mode_samples(samples, test.modes, stem.with_suffix(".png"), title=data)
    if verbose:
        print(paths["md"].read_text())
        print(f"wrote {paths['md']}, {paths['json']} and {paths['png']}")
    return {"rows": rows, "per_seed": per_seed, "settings": settings, "paths": paths}


def plot_mode_samples(samples: dict[str, list[torch.Tensor]], modes: torch.Tensor, path, title: str = "") -> Path:
    """One panel per (seed, model): samples (blue) over the mode centres (red crosses)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(samples)
    seeds = max(len(v) for v in samples.values())
    lim = float(modes.abs().max()) * 1.6
    fig, axes = plt.subplots(seeds, len(names), figsize=(3 * len(names), 3 * seeds), squeeze=False)
    for j, name in enumerate(names):
        for i in range(seeds):
            ax = axes[i][j]
            if i < len(samples[name]):
                x = samples[name][i][:2000]
                ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4, c="tab:blue")
            ax.scatter(modes[:, 0], modes[:, 1], s=25, c="red", marker="x")
            ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal", xticks=[], yticks=[])
            ax.set_title(f"{name}, seed {i}", fontsize=9)
    fig.suptitle(f"samples on {title}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
