"""Sample-quality scores computed with the domain classifier: inception score, classifier-FID, conditional accuracy.

Naming. ``classifier_fid`` is the Frechet distance between Gaussians fitted to the *domain classifier's*
penultimate features ("classifier-FID", as used for MNIST-like data). It is NOT the Inception-FID of
Heusel et al. (2017) and its values are not comparable with Inception-FID numbers in the literature;
``inception_fid`` computes the latter only when torch-fidelity and the Inception weights are on disk.
Likewise ``classifier_inception_score`` is the inception-score protocol with the domain classifier
(the "MNIST score"), not with ImageNet's Inception network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch
from scipy.special import xlogy

from unidgm.errors import ConfigError, DataError, UnidgmError

from ._util import as_labels, as_tensor, batched_apply, check_positive_int, module_device, warn_if_not_unit_range

INCEPTION_WEIGHTS_FILE = "pt_inception-2015-12-05-6726825d.pth"


def _probabilities(p, kind: str) -> np.ndarray:
    if kind not in ("auto", "probs", "logits"):
        raise ConfigError(f"kind must be 'auto', 'probs' or 'logits', got {kind!r}.")
    t = as_tensor(p, "probs_or_logits").detach().cpu().double()
    if t.dim() != 2 or t.shape[1] < 2:
        raise DataError(f"probs_or_logits must have shape [N, num_classes >= 2], got {list(t.shape)}.")
    looks_like_probs = bool((t >= 0).all() and (t <= 1).all() and torch.allclose(t.sum(1), torch.ones(1).double(),
                                                                                   atol=1e-3))
    if kind == "probs" or (kind == "auto" and looks_like_probs):
        if not looks_like_probs:
            raise DataError("probabilities must be non-negative and each row must sum to 1; "
                            "pass kind='logits' if these are unnormalised scores.")
        t = t.clamp_min(0)
        t = t / t.sum(1, keepdim=True)
    else:
        t = torch.softmax(t, 1)
    return t.numpy()


def inception_score(probs_or_logits, splits: int = 10, kind: str = "auto") -> tuple[float, float]:
    """Inception score, standard protocol (Salimans et al. 2016): split the N predictions into ``splits``
    consecutive parts, score each part as exp(mean_x KL(p(y|x) || p(y))) with p(y) the part's mean prediction,
    and return (mean, std) of the part scores (population std, as in the reference code).

    ``probs_or_logits`` is [N, K]; ``kind='auto'`` treats rows in [0, 1] summing to 1 as probabilities and
    anything else as logits. Ranges from 1 (all predictions identical) to K (confident and class-balanced).
    """
    p = _probabilities(probs_or_logits, kind)
    splits = check_positive_int(splits, "splits")
    n = p.shape[0]
    if n < splits:
        raise ConfigError(f"inception_score needs at least one example per split: got {n} examples for "
                          f"{splits} splits; lower splits or score more samples.")
    scores = []
    for i in range(splits):
        part = p[i * n // splits:(i + 1) * n // splits]
        py = part.mean(0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, py)).sum(1).mean()
        scores.append(float(np.exp(kl)))
    return float(np.mean(scores)), float(np.std(scores))


def classifier_inception_score(classifier, samples, splits: int = 10, batch_size: int = 500) -> tuple[float, float]:
    """Inception-score protocol with the domain classifier (not ImageNet Inception): (mean, std) over splits.

    ``samples`` are generated examples in the data's range ([0, 1] images); the classifier's softmax
    outputs are scored by ``inception_score``.
    """
    return inception_score(classifier_logits(classifier, samples, batch_size), splits=splits, kind="logits")


def classifier_logits(classifier, samples, batch_size: int = 500) -> torch.Tensor:
    """The domain classifier's logits for generated examples in the data's range ([0, 1] images), batched."""
    x = as_tensor(samples, "samples")
    warn_if_not_unit_range(x, "samples")
    return batched_apply(classifier, x, batch_size, module_device(classifier))


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
    """Symmetric PSD square root by eigendecomposition (tiny negative eigenvalues clamped to 0)."""
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (the FID formula, Heusel et al. 2017):
    ||mu1 - mu2||^2 + tr(s1) + tr(s2) - 2 tr((s1^1/2 s2 s1^1/2)^1/2).

    Computed in float64 with symmetric eigendecompositions only: sqrt(s1) by ``eigh`` and the trace term
    from ``eigvalsh`` of the symmetric PSD product, with tiny negative eigenvalues clamped to 0. It is
    therefore always real and finite, also for singular (rank-deficient) covariances. Clamped at 0.
    """
    mu1, mu2 = (np.atleast_1d(np.asarray(m, dtype=np.float64)) for m in (mu1, mu2))
    s1, s2 = (np.atleast_2d(np.asarray(s, dtype=np.float64)) for s in (sigma1, sigma2))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise DataError(f"frechet_distance needs mu [D] and sigma [D, D] of one size D; got mu1 {mu1.shape}, "
                        f"sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}.")
    for name, a in (("mu1", mu1), ("sigma1", s1), ("mu2", mu2), ("sigma2", s2)):
        if not np.isfinite(a).all():
            raise DataError(f"{name} contains NaN or inf; the features it was computed from are not finite.")
    s1, s2 = (s1 + s1.T) / 2, (s2 + s2.T) / 2
    r1 = _sqrt_psd(s1)
    m = r1 @ s2 @ r1
    eig = np.linalg.eigvalsh((m + m.T) / 2)
    tr_covmean = np.sqrt(np.clip(eig, 0.0, None)).sum()
    diff = mu1 - mu2
    fd = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
    return max(fd, 0.0)


def feature_statistics(classifier, x, batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """(mean [F], covariance [F, F]) of the classifier's penultimate features over ``x``, in float64."""
    x = as_tensor(x, "x")
    if x.shape[0] < 2:
        raise DataError(f"feature statistics need at least 2 examples, got {x.shape[0]}.")
    feats = batched_apply(classifier.features, x, batch_size, module_device(classifier)).double().numpy()
    return feats.mean(0), np.cov(feats, rowvar=False)


def classifier_fid(classifier, real, fake, batch_size: int = 500) -> float:
    """Classifier-FID: Frechet distance between Gaussians fitted to the domain classifier's penultimate
    features of ``real`` and ``fake`` examples. Not Inception-FID (see module docstring); lower is better.
    Use a few thousand examples per side: the estimate is biased upwards for small N.
    """
    fake = as_tensor(fake, "fake")
    warn_if_not_unit_range(fake, "fake samples")
    mu1, s1 = feature_statistics(classifier, real, batch_size)
    mu2, s2 = feature_statistics(classifier, fake, batch_size)
    return frechet_distance(mu1, s1, mu2, s2)


def inception_weights_path(weights_path=None) -> Path:
    """Where the torch-fidelity Inception weights are expected (``<torch hub>/checkpoints/`` by default)."""
    if weights_path is not None:
        return Path(weights_path)
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE


def inception_fid(real, fake, batch_size: int = 100, weights_path=None) -> float:
    """Inception-FID (Heusel et al. 2017) via torchmetrics/torch-fidelity, only from weights already on disk.

    ``real``/``fake`` are images [N, C, H, W] in [0, 1] (grey images are repeated to 3 channels). Never
    downloads: raises UnidgmError when torch-fidelity or the Inception weights file is missing.
    """
    if importlib.util.find_spec("torch_fidelity") is None:
        raise UnidgmError("Inception-FID needs the torch-fidelity package, which is not installed; install it "
                          "(pip install torch-fidelity) or use classifier_fid (the domain-classifier FID).")
    path = inception_weights_path(weights_path)
    if not path.is_file():
        raise UnidgmError(f"Inception-FID needs the Inception weights at {path}, which are not present locally "
                          "and are never downloaded here; copy the file there (or pass weights_path=...) or use "
                          "classifier_fid (the domain-classifier FID).")
    from torchmetrics.image.fid import FrechetInceptionDistance

    metric = FrechetInceptionDistance(feature=2048, normalize=True, feature_extractor_weights_path=str(path))
    for data, is_real in ((real, True), (fake, False)):
        data = as_tensor(data, "real" if is_real else "fake")
        if data.dim() != 4 or data.shape[1] not in (1, 3):
            raise DataError(f"Inception-FID needs images [N, 1 or 3, H, W], got shape {list(data.shape)}.")
        for start in range(0, data.shape[0], check_positive_int(batch_size, "batch_size")):
            xb = data[start:start + batch_size].clamp(0, 1)
            metric.update(xb.expand(-1, 3, -1, -1) if xb.shape[1] == 1 else xb, real=is_real)
    return float(metric.compute())


def conditional_accuracy(classifier, samples, labels, batch_size: int = 500) -> float:
    """Conditional-generation accuracy (Hu et al. 2018, Table 2 protocol): the fraction of samples generated
    for label y that the pre-trained domain classifier assigns to y."""
    x = as_tensor(samples, "samples")
    y = as_labels(labels, "labels", x.shape[0])
    warn_if_not_unit_range(x, "samples")
    logits = batched_apply(classifier, x, batch_size, module_device(classifier))
    return float((logits.argmax(1) == y).float().mean())
