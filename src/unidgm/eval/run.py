"""Evaluate a run folder: every metric family that applies to its model and data → metrics.json."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch

from ..errors import ConfigError, did_you_mean
from . import METRICS
from ._util import clamp_to_unit_range
from .accuracy import classification_accuracy
from .classifier import get_classifier
from .modes import class_coverage, mode_metrics
from .scores import classifier_fid, classifier_logits, conditional_accuracy, inception_score


def writable_cache(data_root=None) -> Path:
    """Where trained domain classifiers are cached: the data root if writable, else ~/.cache/unidgm."""
    from ..data import data_root as resolve_root
    root = resolve_root(data_root)
    if os.access(root, os.W_OK) or (not root.exists() and os.access(root.parent, os.W_OK)):
        return root
    return Path(os.environ.get("UNIDGM_CACHE", Path.home() / ".cache" / "unidgm"))


def applicable(model, test) -> list[str]:
    """The metric families that make sense for this model on this data (its declared capabilities)."""
    caps = model.capabilities
    out = [m for m in ("elbo", "log_likelihood") if m in caps]
    if "elbo_T" in caps:
        out.append("elbo_T")  # the critic's estimate (AVB, match.z=adversarial): named apart from any bound
    if "ais" in caps:
        out.append("ais")
    if "sample" in caps and test.is_image and test.y is not None:
        out += ["inception_score", "fid"] + (["cond_accuracy"] if model.conditional else [])
    if "sample" in caps and test.modes is not None:
        out.append("modes")
    if "classify" in caps and (model.paired or test.y is not None):
        out.append("da_accuracy" if model.paired else "ssl_accuracy")
    return out


def auto_metrics(model, test) -> list[str]:
    """``--metrics auto``: every applicable metric except AIS, which takes minutes per model on a CPU; ask for it
    by name (``--metrics auto,ais``), e.g. beside a critic's elbo_T."""
    return [m for m in applicable(model, test) if m != "ais"]


def needs_sigma_for(model, opts: dict) -> bool:
    from .ais import needs_sigma
    return needs_sigma(model, opts.get("observation", "auto"))


def validation_images(run_dir, settings, train, n: int = 50):
    """Training images for choosing AIS's σ, never test: the run's validation split (RUN/split.json, held out of
    training) when it has one; else those its ``n_train`` subset left out; else the last ``n`` of the training
    split, which the run trained on (stated in the result)."""
    from ..data import balanced_subset, holdout
    split_file = Path(run_dir) / "split.json"
    if split_file.exists():
        split = json.loads(split_file.read_text())
        if split.get("from") == "train" and split.get("val"):
            val = holdout(train, int(split["val"]), int(split["seed"]))[1]
            return val.subset(torch.arange(min(n, len(val)))), "the run's validation split (held out of training)"
    used = settings.train.n_train
    if used is not None and used < len(train):
        rest = (balanced_subset(train, used, settings.train.seed)[1] if train.y is not None
                else train.subset(torch.arange(used, len(train))))
        return rest.subset(torch.arange(min(n, len(rest)))), "held-out training images (outside n_train)"
    return train.subset(torch.arange(max(0, len(train) - n), len(train))), "last training images (seen in training)"


def test_inputs(model, x: torch.Tensor, seed: int = 0) -> tuple[torch.Tensor, str]:
    """The test set as the model sees it: a *fixed* binarisation (recorded) for Bernoulli decoders."""
    if model.binary_data and x.dim() == 4:
        from ..data import binarize
        return binarize(x, "fixed", seed=seed), f"fixed Bernoulli binarisation, seed {seed}"
    return x, "none"


def evaluate_run(run_dir, metrics: list[str] | None = None, **kw) -> dict:
    """Compute ``metrics`` for the run (see :func:`_evaluate_run`) with the run's own ``threads`` setting (AIS
    is thousands of small sequential steps: oversubscribed threads slow it by 10x on shared cores)."""
    from ..api import read_settings
    from ..train.speed import torch_threads
    with torch_threads(read_settings(run_dir).train.threads):
        return _evaluate_run(run_dir, metrics, **kw)


def _evaluate_run(run_dir, metrics: list[str] | None = None, *, data_root=None, n_samples: int = 10000,
                  k: int = 1000, max_test: int | None = None, splits: int = 10, seed: int = 0, progress: bool = True,
                  checkpoint: str | None = None, data: str | None = None, ais: dict | None = None,
                  write: bool = True) -> dict:
    """Compute ``metrics`` (default: those of :func:`auto_metrics`) for the run and write ``RUN/metrics.json``
    (if ``write``; else the caller writes it with :func:`write_metrics`).

    The model is the run's best validated one when it validated (else its last), or ``checkpoint``.
    This is where the test set is read: once, after training, never for selection. The data are the
    run's own (the spec and data root in its config.json) unless ``data`` / ``data_root`` name others,
    e.g. after the data folder moved. ``ais``: settings of the AIS estimator
    (:func:`unidgm.eval.ais.ais_report`'s keywords: n_chains, n_steps, n_leapfrog, observation, sigma, n_bdmc,
    n_val)."""
    from ..api import describe_checkpoint, load, read_settings, run_data
    from ..data import domain_pair, domain_pair_names, get_dataset
    unknown = [m for m in metrics or [] if m not in METRICS and m != "auto"]
    if unknown:
        raise ConfigError(f"unknown metric(s) {unknown}." + did_you_mean(unknown[0], METRICS))
    for name, value in (("n_samples", n_samples), ("max_test", max_test), ("splits", splits)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ConfigError(f"{name}={value!r}: must be a whole number >= 1"
                              + (" (omit it to evaluate on the whole test set)" if name == "max_test" else ""))
    if not 1 <= k <= 5000:
        raise ConfigError(f"k={k}: the importance-sampled log-likelihood takes 1 <= k <= 5000")
    settings = read_settings(run_dir)
    settings.data, data_root = run_data(settings, run_dir, data, data_root)
    model = load(run_dir, checkpoint)
    paired = settings.data.partition(":")[0] in domain_pair_names()
    if paired:
        source, target = domain_pair(settings.data, "test", data_root, seed=settings.train.seed)
        train = test = source
    else:
        train = get_dataset(settings.data, "train", data_root, seed=settings.train.seed)
        test = get_dataset(settings.data, "test", data_root, seed=settings.train.seed + 1)
    if max_test is not None:
        test = test.subset(torch.arange(min(max_test, len(test))))
    wanted = list(dict.fromkeys(a for m in metrics or ["auto"] for a in (auto_metrics(model, test) if m == "auto"
                                                                          else [m])))
    missing = [m for m in wanted if m not in applicable(model, test)]
    if missing:
        raise ConfigError(f"metric(s) {missing} do not apply to {settings.model} on {settings.data}; "
                          f"these do: {', '.join(applicable(model, test)) or 'none'}")
    torch.manual_seed(seed)
    result: dict = {"run": str(run_dir), "model": settings.model, "data": settings.data,
                    "techniques": list(settings.techniques), "evaluated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    "checkpoint": {**model.checkpoint, "note": describe_checkpoint(model)}}
    x_test, binarisation = test_inputs(model, test.x, seed)
    # a conditional model's bound and likelihood are log p(x|c) with the true test labels (the SVAE sums c
    # out itself); both metrics condition alike, so that log p(x|c) ≥ ELBO compares like with like
    labels = test.y if model.bound_needs_labels and test.y is not None else None
    with torch.no_grad():
        if "elbo" in wanted:
            vals = torch.cat([model.elbo(x_test[i:i + 500], None if labels is None else labels[i:i + 500])
                              for i in range(0, len(x_test), 500)])
            result["elbo"] = {"value": float(vals.mean()), "n_test": len(x_test), "binarisation": binarisation,
                              "conditioned_on_test_labels": labels is not None}
        if "log_likelihood" in wanted:
            ll = model.log_likelihood(x_test, k=k, labels=labels, progress=progress)
            result["log_likelihood"] = {"value": float(ll.mean()), "k": k, "n_test": len(x_test),
                                        "binarisation": binarisation, "conditioned_on_test_labels": labels is not None}
        if "elbo_T" in wanted:
            from ..core.matching import elbo_T
            with model.evaluating():
                vals = torch.cat([elbo_T(model, x_test[i:i + 500].to(model.device),
                                         None if labels is None else model.onehot(labels[i:i + 500], len(labels[i:i + 500])))
                                  for i in range(0, len(x_test), 500)])
            result["elbo_T"] = {"value": float(vals.mean()), "n_test": len(x_test), "binarisation": binarisation,
                                "note": "log p(x|z) + T(x,z) with the run's own critic T: an estimate, not a bound "
                                        "(compare ais and, for a Gaussian q(z|x), elbo)"}
    if "ais" in wanted:
        from .ais import ais_report
        opts = dict(ais or {})
        x_val, c_val = None, None
        if needs_sigma_for(model, opts) and opts.get("sigma") is None:
            val, provenance = validation_images(run_dir, settings, train, opts.pop("n_val", 50))
            x_val, _ = test_inputs(model, val.x, seed)
            c_val = model.onehot(val.y, len(val)) if model.conditional and val.y is not None else None
        else:
            provenance = None
            opts.pop("n_val", None)
        c = model.onehot(labels, len(labels)) if labels is not None else None
        dev = model.device
        result["ais"] = ais_report(model, x_test.to(dev), None if c is None else c.to(dev),
                                   x_val=None if x_val is None else x_val.to(dev),
                                   c_val=None if c_val is None else c_val.to(dev), progress=progress, **opts)
        result["ais"].update(binarisation=binarisation, conditioned_on_test_labels=labels is not None)
        if provenance:
            result["ais"]["sigma_selection"]["validation"] = provenance
    if {"inception_score", "fid", "cond_accuracy"} & set(wanted):
        result.update(sample_quality(model, settings.data, train, test, wanted, n_samples, splits, data_root, progress))
    if "modes" in wanted:
        samples = model.sample(n_samples)
        result["modes"] = mode_metrics(samples, test.modes, test.mode_std)
        result["modes"] = {k_: (v.tolist() if torch.is_tensor(v) else v) for k_, v in result["modes"].items()}
    if "ssl_accuracy" in wanted:
        result["ssl_accuracy"] = {"value": classification_accuracy(model.classify, test.x, test.y),
                                  "n_test": len(test.x)}
    if "da_accuracy" in wanted:
        src, tgt = domain_pair(settings.data, "test", data_root, seed=settings.train.seed)
        result["da_accuracy"] = {"target": classification_accuracy(model.classify, tgt.x, tgt.y),
                                 "source": classification_accuracy(model.classify, src.x, src.y),
                                 "lam": getattr(settings.model_config, "lam", None)}
    if write:
        write_metrics(run_dir, result)
    return result


def write_metrics(run_dir, result: dict) -> Path:
    """``RUN/metrics.json``, atomically; a folder that cannot be written is a RunDirError naming it."""
    from ..errors import RunDirError
    from ..train.checkpoint import atomic_write_text
    out = Path(run_dir) / "metrics.json"
    try:
        atomic_write_text(out, json.dumps(result, indent=2, default=float))
    except OSError as e:
        raise RunDirError(f"could not write {out} ({e.strerror or e}); the metrics are printed above — make the run "
                          "folder writable to keep them there") from None
    return out


def sample_quality(model, data_name, train, test, wanted, n_samples, splits, data_root, progress) -> dict:
    """Classifier-based scores of generated samples: IS, classifier-FID, conditional accuracy."""
    clf, acc = get_classifier(data_name, train, test, writable_cache(data_root), progress=progress)
    labels = torch.arange(n_samples) % model.num_classes if model.conditional else None
    chunks = []
    for i in range(0, n_samples, 500):
        m = min(500, n_samples - i)
        chunks.append(model.sample(m, None if labels is None else labels[i:i + m]).cpu())
    samples, outside = clamp_to_unit_range(torch.cat(chunks))
    out = {"classifier": {"test_accuracy": acc, "note": "our domain classifier, not Inception"}}
    if outside:
        out["clamped_to_data_range"] = {"fraction_of_pixels": outside, "range": [0.0, 1.0]}
    if "inception_score" in wanted:
        logits = classifier_logits(clf, samples)
        mean, std = inception_score(logits, splits=splits, kind="logits")
        out["inception_score"] = {"mean": mean, "std": std, "n_samples": n_samples, "splits": splits}
        # the same classifier's score of as many real test images: the ceiling a generator's score is read against
        # (left out when the test set has fewer images than splits, as a folder of a few images may)
        real = test.x[:n_samples]
        if len(real) >= splits:
            real_mean, real_std = inception_score(classifier_logits(clf, real), splits=splits, kind="logits")
            out["inception_score"]["real_test"] = {"mean": real_mean, "std": real_std, "n": len(real)}
        if not model.conditional:  # a conditional model's label balance is the caller's, not a coverage
            out["class_coverage"] = class_coverage(logits)
    if "fid" in wanted:
        real = test.x[:n_samples]
        out["fid"] = {"value": classifier_fid(clf, real, samples), "kind": "classifier-FID (not Inception-FID)",
                      "n_real": len(real), "n_fake": n_samples}
    if "cond_accuracy" in wanted:
        out["cond_accuracy"] = {"value": conditional_accuracy(clf, samples, labels), "n_samples": n_samples}
    return out


def format_metrics(result: dict) -> str:
    """A small two-column table of the headline numbers."""
    rows = []
    for key, val in result.items():
        if not isinstance(val, dict) or key == "checkpoint":
            continue
        if key == "ais":
            gap = f", BDMC gap {val['bdmc']['gap']:.2f} on {val['bdmc']['n_simulated']} simulated" if "bdmc" in val else ""
            sigma = f", σ={val['sigma']}" if "sigma" in val else ""
            rows.append((key, f"{val['value']:.4f}  (T={val['n_steps']}, {val['n_chains']} chains{sigma}{gap})"))
        elif key == "elbo_T":
            rows.append((key, f"{val['value']:.4f}  (the critic's estimate, not a bound)"))
        elif "value" in val:
            rows.append((key, f"{val['value']:.4f}"))
        elif "mean" in val:
            rows.append((key, f"{val['mean']:.4f} ± {val['std']:.4f}"))
        elif key == "modes":
            rows.append((key, f"{val['modes_captured']} captured, {val['high_quality_fraction']:.3f} high quality, "
                              f"KL {val['kl_to_uniform']:.3f}"))
        elif key == "class_coverage":
            rows.append((key, f"{val['modes_captured']} of {val['num_modes']} classes, KL to uniform "
                              f"{val['kl_to_uniform']:.3f}, {val['confident_fraction']:.3f} confident"))
        elif key == "da_accuracy":
            rows.append((key, f"target {val['target']:.4f}, source {val['source']:.4f}"))
        elif key == "classifier":
            rows.append(("classifier test acc.", f"{val['test_accuracy']:.4f}"))
        elif key == "clamped_to_data_range":
            rows.append(("samples clamped", f"{val['fraction_of_pixels']:.4f} of pixels outside [0, 1] before scoring"))
    width = max((len(r[0]) for r in rows), default=6)
    return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)
