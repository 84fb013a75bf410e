"""Validation during training: each model's own selection metric on the held-out validation split.

The training loop calls the validator every ``eval_every`` steps and keeps the best model; the test set
is never read here (the domain classifier behind the sample-based metrics is trained on the training
images and checked on the *validation* images). Which metric a model is selected by:

    explicit models (VAE, CVAE, IWAE, wake-sleep ...)        elbo            on the validation images
    the semi-supervised VAE (M2)                          ssl_accuracy    of q(c|x) on validation labels
    conditional GANs (CGAN, ACGAN)                        cond_accuracy   of generated samples
    other image generators (GAN, InfoGAN, AAE, BiGAN, AVB) inception_score of generated samples
                                          (AVB has no ELBO: its log p(x|z) + T(x,z) is the critic's elbo_T)
    adversarial domain adaptation                         da_accuracy     on held-out target images
"""

from __future__ import annotations

from typing import Callable

import torch

from ..errors import ConfigError
from ._util import clamp_to_unit_range
from .accuracy import classification_accuracy
from .run import test_inputs  # test_inputs: the final evaluation's fixed binarisation
from .scores import classifier_inception_score, conditional_accuracy

VAL_BATCH = 500


def selectable(model, val) -> list[str]:
    """The selection metrics that apply to ``model`` validated on ``val`` (a Dataset), best first."""
    caps = model.capabilities
    if model.paired:
        return ["da_accuracy"] if "classify" in caps and val.y is not None else []
    out = []
    if "classify" in caps and val.y is not None:
        out.append("ssl_accuracy")
    if "elbo" in caps:
        out.append("elbo")
    if "sample" in caps and val.is_image and val.y is not None:
        out += (["cond_accuracy"] if model.conditional else []) + ["inception_score"]
    return out


def selection_metric(model, val, requested: str = "auto") -> str:
    """``requested`` if it applies, else (auto) the model's own metric; a clear error when none applies."""
    ok = selectable(model, val)
    if requested == "auto":
        if not ok:
            raise ConfigError(f"{model.name} on this data has no validation metric (elbo, ssl_accuracy, cond_accuracy,"
                              " inception_score and da_accuracy need an explicit model or labelled images); "
                              "pass eval_every=0")
        return ok[0]
    if requested not in ok:
        raise ConfigError(f"select={requested} does not apply to {model.name} on this data; these do: "
                          f"{', '.join(ok) or 'none'}")
    return requested


# metrics cheap enough to log beside the selection metric at every validation (no sampling, no classifier):
# the semi-supervised VAE, selected on accuracy, then also has a validation ELBO curve (Table 3's SVAE rows)
ALSO_LOGGED = ("ssl_accuracy", "elbo")


def make_validator(model, metric: str, val, *, classifier_train=None, data_name: str = "", cache=None,
                   n_samples: int = 2000) -> Callable:
    """``validator(model) -> {"val/<metric>": value, ...}`` for the loop (run under no_grad with a fixed seed):
    the selection metric first, then every other cheap metric that applies (``ALSO_LOGGED``), logged only."""
    others = [m for m in selectable(model, val) if m in ALSO_LOGGED and m != metric]
    parts = [_one_metric(model, m, val, classifier_train=classifier_train, data_name=data_name, cache=cache,
                         n_samples=n_samples) for m in (metric, *others)]
    return lambda m: {k: v for part in parts for k, v in part(m).items()}


def _one_metric(model, metric: str, val, *, classifier_train, data_name, cache, n_samples) -> Callable:
    if metric == "elbo":
        x, _ = test_inputs(model, val.x, seed=1)
        labels = val.y if model.bound_needs_labels else None
        x = x.to(model.device)
        labels = None if labels is None else labels.to(model.device)

        def validate(m):
            vals = [m.elbo(x[i:i + VAL_BATCH], None if labels is None else labels[i:i + VAL_BATCH])
                    for i in range(0, len(x), VAL_BATCH)]
            return {"val/elbo": torch.cat(vals).mean()}
        return validate
    if metric == "ssl_accuracy":
        return lambda m: {"val/ssl_accuracy": classification_accuracy(m.classify, val.x, val.y)}
    if metric == "da_accuracy":  # ``val`` holds target-domain images here
        return lambda m: {"val/da_accuracy": classification_accuracy(m.classify, val.x, val.y)}
    if metric in ("inception_score", "cond_accuracy"):
        from .classifier import get_classifier
        # trained on the training images (as the final evaluation's), checked on validation images, not test
        clf, _ = get_classifier(data_name, classifier_train, val, cache, progress=False)
        n = n_samples

        def validate(m):
            labels = torch.arange(n) % m.num_classes if m.conditional else None
            x, _ = clamp_to_unit_range(torch.cat([
                m.sample(min(VAL_BATCH, n - i), None if labels is None else labels[i:i + VAL_BATCH]).cpu()
                for i in range(0, n, VAL_BATCH)]))
            if metric == "cond_accuracy":
                return {"val/cond_accuracy": conditional_accuracy(clf, x, labels)}
            return {"val/inception_score": classifier_inception_score(clf, x, splits=1)[0]}
        return validate
    raise ConfigError(f"unknown selection metric {metric!r}")
