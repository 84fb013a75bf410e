"""What a finished run's discriminator says about real images it trained on and real images it never saw.

Eq. 17 weights each real example's ELBO by D_φ(x); Eq. 16 weights generated samples by D/(1−D). Whether D
has learned the data or memorised the training images decides what those weights do, most of all on 600
images. The training log has D on training batches and on generated examples (``aa_weight_real``,
``aa_weight_fake``) along training; this probe adds the comparison the log cannot make — D of the *selected*
model on ~2,000 of the run's own training images (drawn by its data stream: for the semi-supervised VAE the
600 labelled ones and, apart, the unlabelled ones) against up to 2,000 held-out validation images (the test
set is not read). Written to ``RUN/probe.json``, a small file committed with the run's other results.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ...report import write_json
from ...techniques.importance_weighting import iw_ess_fraction  # (Σw)² / (n Σw²) over one group: all of w
from ..sweep import METRICS, Variant, run_dir

PROBE = "probe.json"
N_PROBE = 2000
# what a probe measures; raise it when the probe grows, and older probes are redone where checkpoints remain
# (version 2 added d_train_ess; probes written before the field existed are told apart by that key)
PROBE_VERSION = 2


def wants_probe(variant: Variant) -> bool:
    """Runs whose discriminator reads images: the GANs of Table 2 and every AA model (D_φ(x) of Eq. 17)."""
    return variant.model in ("gan", "cgan") or "aa" in variant.techniques


@torch.no_grad()
def probe_run(folder, data_root=None, n: int = N_PROBE) -> dict:
    """Mean D(x) of the run's selected model on ~``n`` training images drawn as its training drew them (the
    labelled ones, ``x``, and for a semi-supervised model also the unlabelled ones, ``x_u``) and on up to ``n``
    validation images binarised as its validation saw them; a conditional GAN's D is given each image's label."""
    from ...api import load, prepare_run, read_settings, run_data
    from ...eval.run import test_inputs
    settings = read_settings(folder)
    _, root = run_data(settings, folder, data_root=data_root)
    data = prepare_run(settings, root)
    model = load(folder)
    d = model["discriminator"]
    conditional = model.conditional and settings.model == "cgan"  # AA's D_φ(x) takes no label

    def d_of(x, labels=None) -> torch.Tensor:
        c = model.onehot(labels, len(x)) if conditional else None
        return torch.sigmoid(d(x.to(model.device), c)).flatten().double().cpu()

    torch.manual_seed(0)
    drawn: dict[str, list[torch.Tensor]] = {}
    seen = 0
    while seen < n:
        batch = data.streams.next()
        for key in ("x", "x_u"):
            if key in batch:
                drawn.setdefault(key, []).append(d_of(batch[key], batch.get("c")))
        seen += len(batch["x"])
    x_val, _ = test_inputs(model, data.val.x[:n], seed=1)
    val_labels = None if data.val.y is None else data.val.y[:n]  # unlabelled images: only a cgan needs labels
    w = torch.cat(drawn["x"])
    out = {"version": PROBE_VERSION, "d_train": float(w.mean()), "d_heldout": float(d_of(x_val, val_labels).mean()),
           "d_train_ess": float(iw_ess_fraction(w)), "n": min(n, len(data.val)),
           "checkpoint": {k: model.checkpoint[k] for k in ("kind", "step")},
           "what": "mean D(x) = q_φ(y=1|x) of the selected model on training images drawn by the run's own data "
                   "stream (d_train: the labelled ones; d_unlabelled: a semi-supervised model's unlabelled ones) "
                   "and on its validation images (d_heldout; not test); d_train_ess: Kish's effective sample size "
                   "of D(x) over those training images as weights (Eq. 17's weights of real examples), over their "
                   "number (1: uniform)"}
    if "x_u" in drawn:
        out["d_unlabelled"] = float(torch.cat(drawn["x_u"]).mean())
    return out


def probe_missing(variants, seeds, runs, data_root=None, log=print) -> int:
    """Probe every finished run that wants one and has none yet, while its checkpoints are here; how many."""
    done = 0
    for v in variants:
        if not wants_probe(v):
            continue
        for s in seeds:
            folder = run_dir(runs, v, s)
            if not (folder / METRICS).exists() or probe_version(read_probe(folder)) >= PROBE_VERSION:
                continue  # unfinished, or probed already by this version of the probe
            if not any((folder / sub).is_dir() for sub in ("best", "checkpoints")):
                continue  # a committed result whose checkpoints stayed on another machine
            write_json(folder / PROBE, probe_run(folder, data_root))
            done += 1
    if done:
        log(f"probed the discriminators of {done} finished run(s) (RUN/{PROBE})")
    return done


def probe_version(probe: dict | None) -> int:
    """The version of a written probe (0: none)."""
    if not probe:
        return 0
    return probe.get("version", 2 if "d_train_ess" in probe else 1)


def read_probe(folder: Path) -> dict | None:
    f = Path(folder) / PROBE
    return json.loads(f.read_text()) if f.exists() else None
