"""Domain classifier: the fixed, pre-trained network behind the classifier-based sample metrics.

Protocol. GAN/VAE papers on MNIST-like data score samples with a classifier trained on the real training
set instead of ImageNet's Inception network (e.g. the "MNIST score" and classifier-FID; the conditional
accuracy of Hu et al. 2018, Table 2, also needs one). The network here is trained once per (training data,
architecture, seed, hyper-parameters) and cached as safetensors + a JSON sidecar, so every run of every
model is scored by exactly the same classifier.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from unidgm.errors import ConfigError, DataError

from ._util import as_labels, as_tensor, batched_apply, check_positive_int, module_device

CACHE_FORMAT = "unidgm-domain-classifier"
CACHE_VERSION = 1
_MIN_STEPS = 600  # "auto" epochs: enough passes over a small set for at least this many Adam steps
_MAX_AUTO_EPOCHS = 100


class _Classifier(nn.Module):
    """Shared interface: ``forward`` -> logits, ``features`` -> penultimate features, ``num_features``."""

    in_shape: tuple[int, ...]
    num_features: int
    _arch: dict

    @property
    def arch(self) -> dict:
        """JSON-able description that rebuilds this network with ``build_classifier``."""
        return dict(self._arch)

    def _check(self, x: torch.Tensor) -> None:
        if tuple(x.shape[1:]) != self.in_shape:
            raise DataError(f"classifier expects inputs of shape [N, {', '.join(map(str, self.in_shape))}], got "
                            f"{list(x.shape)}; evaluate samples of the dataset the classifier was trained on.")

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features [N, num_features] (the classifier-FID embedding)."""
        self._check(x)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits [N, num_classes]."""
        return self.head(self.features(x))

    def feature_extractor(self) -> "FeatureExtractor":
        """A module whose forward is ``features`` (for ``torchmetrics`` FID's ``feature=`` argument)."""
        return FeatureExtractor(self)


class DomainClassifier(_Classifier):
    """Small CNN for [C, H, W] images: conv(32)-pool-conv(64)-pool-FC(128)-FC(classes).

    Works for any H, W >= 4 (28x28 MNIST, 32x32 SVHN/CIFAR, 8x8 sklearn digits). ``features`` returns the
    128-d penultimate (post-ReLU) layer used for classifier-FID; ``num_features`` is its width, so
    ``self.feature_extractor()`` can be handed to ``torchmetrics`` FID as a custom feature network.
    """

    def __init__(self, in_channels: int, height: int, width: int, num_classes: int,
                 channels: tuple[int, int] = (32, 64), hidden: int = 128):
        super().__init__()
        if height < 4 or width < 4:
            raise ConfigError(f"DomainClassifier needs images of at least 4x4, got {height}x{width}; "
                              "flatten smaller inputs and use MLPClassifier.")
        c1, c2 = (int(c) for c in channels)
        self.in_shape = (int(in_channels), int(height), int(width))
        self.num_classes = int(num_classes)
        self.num_features = int(hidden)
        self._arch = {"kind": "cnn", "in_channels": int(in_channels), "height": int(height), "width": int(width),
                      "num_classes": int(num_classes), "channels": [c1, c2], "hidden": int(hidden)}
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(c2 * (height // 4) * (width // 4), hidden), nn.ReLU(),
        )
        self.head = nn.Linear(hidden, num_classes)


class MLPClassifier(_Classifier):
    """MLP fallback for vector data [N, D]: FC(256)-FC(128)-FC(classes), same interface as DomainClassifier."""

    def __init__(self, in_features: int, num_classes: int, hidden: tuple[int, int] = (256, 128)):
        super().__init__()
        h1, h2 = (int(h) for h in hidden)
        self.in_shape = (int(in_features),)
        self.num_classes = int(num_classes)
        self.num_features = h2
        self._arch = {"kind": "mlp", "in_features": int(in_features), "num_classes": int(num_classes),
                      "hidden": [h1, h2]}
        self.body = nn.Sequential(nn.Linear(in_features, h1), nn.ReLU(), nn.Linear(h1, h2), nn.ReLU())
        self.head = nn.Linear(h2, num_classes)


class FeatureExtractor(nn.Module):
    """Wraps a classifier so that ``forward`` returns its penultimate features (torchmetrics FID protocol)."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)


def build_classifier(arch: dict) -> nn.Module:
    """Rebuild a classifier from its ``arch`` description (as stored in the cache sidecar)."""
    kind = arch.get("kind")
    if kind == "cnn":
        return DomainClassifier(arch["in_channels"], arch["height"], arch["width"], arch["num_classes"],
                                tuple(arch["channels"]), arch["hidden"])
    if kind == "mlp":
        return MLPClassifier(arch["in_features"], arch["num_classes"], tuple(arch["hidden"]))
    raise ConfigError(f"unknown classifier kind {kind!r}; valid: cnn, mlp.")


def classifier_for(x: torch.Tensor, num_classes: int, seed: int = 0) -> nn.Module:
    """The default classifier for data shaped like ``x`` (CNN for [N, C, H, W], MLP for [N, D]),
    initialised from ``seed`` without touching the global RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        if x.dim() == 4:
            return DomainClassifier(x.shape[1], x.shape[2], x.shape[3], num_classes)
        if x.dim() == 2:
            return MLPClassifier(x.shape[1], num_classes)
    raise DataError(f"classifier data must be images [N, C, H, W] or vectors [N, D], got shape {list(x.shape)}.")


def _unpack(ds, name: str) -> tuple[torch.Tensor, torch.Tensor, int | None]:
    """(x, y, num_classes) from a Dataset with .x/.y (and optional .num_classes) or an (x, y) pair."""
    if hasattr(ds, "x") and hasattr(ds, "y"):
        x, y, k = ds.x, ds.y, getattr(ds, "num_classes", None)
    elif isinstance(ds, (tuple, list)) and len(ds) == 2:
        (x, y), k = ds, None
    else:
        raise DataError(f"{name} must be a dataset with .x and .y or an (x, y) pair, got {type(ds).__name__}.")
    x = as_tensor(x, f"{name}.x").float()
    y = as_labels(y, f"{name}.y", x.shape[0])
    if x.shape[0] == 0:
        raise DataError(f"{name} is empty; the classifier needs labelled examples.")
    return x, y, (int(k) if k is not None else None)


def data_digest(x: torch.Tensor, y: torch.Tensor) -> str:
    """sha256 over the bytes of x (float32) and y (int64) and their shapes: a content-based cache key part."""
    h = hashlib.sha256()
    xa = np.ascontiguousarray(x.detach().cpu().to(torch.float32).numpy())
    ya = np.ascontiguousarray(y.detach().cpu().to(torch.int64).numpy())
    h.update(json.dumps([list(xa.shape), list(ya.shape)]).encode())
    h.update(memoryview(xa).cast("B"))
    h.update(memoryview(ya).cast("B"))
    return h.hexdigest()


def cache_key(train_digest: str, arch: dict, seed: int, hyper: dict) -> str:
    """sha256 over the training-data digest, the architecture, the seed and the training hyper-parameters."""
    blob = json.dumps({"format": CACHE_FORMAT, "version": CACHE_VERSION, "data": train_digest, "arch": arch,
                       "seed": int(seed), "hyper": hyper}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def auto_epochs(n_train: int, batch_size: int) -> int:
    """Default epoch count: 3 (enough for >= 98% on MNIST), more for small sets so that at least
    600 Adam steps are taken (at most 100 epochs)."""
    steps = math.ceil(n_train / batch_size)
    return int(min(_MAX_AUTO_EPOCHS, max(3, math.ceil(_MIN_STEPS / steps))))


@torch.enable_grad()  # callers evaluate under no_grad (a cache miss during evaluation trains here)
def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, epochs: int, batch_size: int,
                     lr: float, seed: int, progress: bool = True, device=None) -> nn.Module:
    """Train ``model`` with Adam and cross-entropy on shuffled mini-batches (seeded); returns it in eval mode."""
    device = torch.device(device) if device is not None else next(model.parameters()).device
    gen = torch.Generator().manual_seed(int(seed))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    n = x.shape[0]
    steps = math.ceil(n / batch_size)
    model.train()
    bar = tqdm(total=epochs * steps, desc="domain classifier", disable=not progress, leave=False)
    try:
        for _ in range(epochs):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, batch_size):
                idx = perm[start:start + batch_size]
                xb, yb = x[idx].to(device), y[idx].to(device)
                loss = nn.functional.cross_entropy(model(xb), yb)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                bar.update(1)
                bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    finally:
        bar.close()
    return model.eval()


def evaluate_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """Top-1 accuracy of ``model`` on (x, y)."""
    logits = batched_apply(model, x, batch_size, module_device(model))
    return float((logits.argmax(1) == y.cpu()).float().mean())


def _safe_name(name: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._")
    return clean or "dataset"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def get_classifier(dataset_name: str, train_ds, test_ds, root, seed: int = 0, epochs: int | None = None,
                   progress: bool = True, *, batch_size: int = 128, lr: float = 1e-3, device=None):
    """Train (once) or load the cached domain classifier; returns ``(model, test_accuracy)``.

    Cache: ``<root>/classifiers/<name>-<key>.safetensors`` + ``.json`` sidecar (test accuracy, architecture,
    seed, epochs, ...), where key = sha256(training data bytes, architecture, seed, hyper-parameters), so new
    data, a new seed or new settings never reuse a stale network. Weights load with safetensors (no pickle).
    ``root=None`` uses ``unidgm.data.data_root()``. ``epochs=None`` picks ``auto_epochs`` (3 on MNIST).
    ``device=None`` uses CUDA when available. The returned model is in eval mode and carries
    ``trained_now`` (False when it came from the cache), ``cache_path`` and ``cache_info`` (the sidecar).
    A corrupt or mismatching cache entry is retrained with a warning.
    """
    from safetensors.torch import load_file, save_file

    x, y, k = _unpack(train_ds, "train_ds")
    xt, yt, kt = _unpack(test_ds, "test_ds")
    num_classes = k or kt or int(max(int(y.max()), int(yt.max())) + 1)
    if int(y.min()) < 0 or int(y.max()) >= num_classes or int(yt.min()) < 0 or int(yt.max()) >= num_classes:
        raise DataError(f"labels must lie in [0, {num_classes}); check the datasets' .y and .num_classes.")
    if tuple(xt.shape[1:]) != tuple(x.shape[1:]):
        raise DataError(f"train and test examples differ in shape ({list(x.shape[1:])} vs {list(xt.shape[1:])}).")
    batch_size = check_positive_int(batch_size, "batch_size")
    epochs = auto_epochs(x.shape[0], batch_size) if epochs is None else check_positive_int(epochs, "epochs")
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise ConfigError(f"lr must be a positive number, got {lr!r}.")
    if root is None:
        from unidgm.data import data_root

        root = data_root(None)
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))

    model = classifier_for(x, num_classes, seed)
    arch = model.arch
    hyper = {"epochs": epochs, "batch_size": batch_size, "lr": float(lr), "optimizer": "adam"}
    key = cache_key(data_digest(x, y), arch, seed, hyper)
    test_digest = data_digest(xt, yt)
    folder = Path(root) / "classifiers"
    stem = f"{_safe_name(dataset_name)}-{key[:16]}"
    weights_path, info_path = folder / f"{stem}.safetensors", folder / f"{stem}.json"

    if weights_path.exists() and info_path.exists():
        try:
            info = json.loads(info_path.read_text())
            if info.get("key") != key or info.get("arch") != arch:
                raise ValueError("sidecar does not match the requested classifier")
            model.load_state_dict(load_file(str(weights_path)), strict=True)
            model.to(device).eval()
            if info.get("test_digest") != test_digest:  # same network, different test set: re-measure
                info["test_accuracy"] = evaluate_accuracy(model, xt, yt)
                info["test_digest"] = test_digest
            model.trained_now, model.cache_path, model.cache_info = False, weights_path, info
            return model, float(info["test_accuracy"])
        except Exception as err:  # noqa: BLE001 - any unreadable entry is rebuilt
            warnings.warn(f"classifier cache entry {weights_path} is unreadable ({err}); retraining it.",
                          stacklevel=2)
            model = classifier_for(x, num_classes, seed)

    model.to(device)
    t0 = time.perf_counter()
    model = train_classifier(model, x, y, epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                             progress=progress, device=device)
    train_seconds = time.perf_counter() - t0
    acc = evaluate_accuracy(model, xt, yt)
    info = {"format": CACHE_FORMAT, "version": CACHE_VERSION, "dataset": str(dataset_name), "key": key,
            "arch": arch, "seed": int(seed), **hyper, "train_size": int(x.shape[0]),
            "test_size": int(xt.shape[0]), "test_accuracy": acc, "test_digest": test_digest,
            "train_seconds": round(train_seconds, 2), "torch_version": torch.__version__}
    state = {name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = weights_path.with_name(weights_path.name + f".tmp{os.getpid()}")
        save_file(state, str(tmp), metadata={"format": CACHE_FORMAT, "key": key})
        os.replace(tmp, weights_path)
        _atomic_write_bytes(info_path, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
    except OSError as err:
        warnings.warn(f"could not cache the domain classifier under {folder} ({err}); it will be retrained next "
                      "time. Pass a writable root.", stacklevel=2)
    model.trained_now, model.cache_path, model.cache_info = True, weights_path, info
    return model, acc
