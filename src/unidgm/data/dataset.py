"""The in-memory `Dataset` every model and trainer consumes, and array-to-tensor conversion rules."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from unidgm.errors import DataError


@dataclass(eq=False)  # tensors have no single truth value; datasets compare by identity
class Dataset:
    """Whole dataset held as tensors.

    ``x`` is float32: images ``[N, C, H, W]`` in [0, 1], vectors/toy points ``[N, D]``. ``y`` holds int64
    labels ``[N]`` (or None). Toy mixtures also carry their mode centres ``modes [M, D]`` and ``mode_std``
    so that evaluation can count captured modes. Image folders record their class folder names in
    ``classes`` (label k is ``classes[k]``).
    """

    name: str
    x: torch.Tensor
    y: torch.Tensor | None
    num_classes: int | None
    modes: torch.Tensor | None = None
    mode_std: float | None = None
    classes: tuple[str, ...] | None = None

    def __post_init__(self):
        # Cheap invariants only; full validation of user data lives in `from_tensors`.
        if not isinstance(self.x, torch.Tensor) or self.x.dim() < 2:
            raise DataError(f"dataset '{self.name}': x must be a tensor [N, ...] with at least 2 dims")
        if self.y is not None and (self.y.dim() != 1 or self.y.shape[0] != self.x.shape[0]):
            raise DataError(
                f"dataset '{self.name}': y has shape {tuple(self.y.shape)} but x has {self.x.shape[0]} "
                "examples; labels must be one integer per example, shape [N]"
            )

    def __repr__(self) -> str:
        y = "None" if self.y is None else list(self.y.shape)
        extra = "" if self.modes is None else f", modes={list(self.modes.shape)}, mode_std={self.mode_std}"
        return f"Dataset(name={self.name!r}, x={list(self.x.shape)}, y={y}, num_classes={self.num_classes}{extra})"

    def __len__(self) -> int:
        return int(self.x.shape[0])

    @property
    def shape(self) -> tuple:
        """Per-example shape, e.g. (1, 28, 28) or (2,)."""
        return tuple(self.x.shape[1:])

    @property
    def is_image(self) -> bool:
        return self.x.dim() == 4

    def subset(self, idx) -> Dataset:
        """The examples at ``idx`` (index tensor, list, array or slice); metadata is kept."""
        if not isinstance(idx, slice):
            idx = idx if isinstance(idx, torch.Tensor) else torch.as_tensor(np.asarray(idx))
            if idx.dtype != torch.bool:  # boolean masks index as masks, everything else as positions
                idx = idx.long()
        return Dataset(
            self.name,
            self.x[idx],
            None if self.y is None else self.y[idx],
            self.num_classes,
            self.modes,
            self.mode_std,
            self.classes,
        )

    def require_range(self, low: float, high: float, why: str, fix: str) -> None:
        """Refuse data with values outside [low, high]: a consumer's requirement (``why``), checked when the
        data is loaded rather than as a raw error (or a silently wrong objective) mid-training."""
        lo, hi = float(self.x.min()), float(self.x.max())
        if lo < low or hi > high:
            raise DataError(f"dataset '{self.name}': values span [{lo:.4g}, {hi:.4g}], outside [{low:g}, {high:g}]; "
                            f"{why}. {fix}")

    def to(self, device) -> Dataset:
        """The same dataset with its tensors on ``device``."""
        return Dataset(
            self.name,
            self.x.to(device),
            None if self.y is None else self.y.to(device),
            self.num_classes,
            None if self.modes is None else self.modes.to(device),
            self.mode_std,
            self.classes,
        )

    @classmethod
    def from_tensors(cls, x, y=None, name: str = "tensors", num_classes: int | None = None) -> Dataset:
        """Validated dataset from in-memory data: x float and finite with shape [N, ...]; y integer [N]."""
        x = torch.as_tensor(x)
        if not x.is_floating_point():
            raise DataError(
                f"dataset '{name}': x has dtype {x.dtype}, expected floating point; "
                "scale uint8 images with x.float() / 255"
            )
        if x.dim() < 2 or x.shape[0] == 0:
            raise DataError(
                f"dataset '{name}': x has shape {tuple(x.shape)}; expected [N, D] vectors or [N, C, H, W] "
                "images with N >= 1 (add a feature axis with x[:, None] for 1-D data)"
            )
        if not torch.isfinite(x).all():
            bad = int((~torch.isfinite(x)).sum())
            raise DataError(f"dataset '{name}': x contains {bad} NaN/inf values; clean or drop those examples")
        x = x.to(torch.float32)
        if y is not None:
            y = _labels(torch.as_tensor(y), len(x), name)
            if num_classes is None:
                num_classes = infer_num_classes(y, name)
            elif int(y.max()) >= num_classes:
                raise DataError(
                    f"dataset '{name}': label {int(y.max())} is out of range for num_classes={num_classes}"
                )
        return cls(name, x, y, num_classes)


def infer_num_classes(y: torch.Tensor, name: str) -> int:
    """K = max label + 1, refusing a sparse label set: when most of 0..K-1 never occur (labels such as
    0, 1000, 2000 would make a model with 2001 classes, most of them never seen)."""
    k = int(y.max()) + 1 if len(y) else 0
    present = int(torch.unique(y).numel())
    if k > 2 * present:
        raise DataError(f"dataset '{name}': labels take {present} distinct values but span 0..{k - 1}, which makes "
                        f"{k} classes, {k - present} of them never seen; relabel them 0..K-1 "
                        "(e.g. y = np.unique(y, return_inverse=True)[1])")
    return k


def _labels(y: torch.Tensor, n: int, name: str) -> torch.Tensor:
    """Integer labels [n], non-negative, as int64."""
    if y.dim() == 2 and y.shape[1] == 1:
        y = y[:, 0]  # column vectors are common in .mat/.npz exports
    if y.dim() != 1 or y.shape[0] != n:
        raise DataError(
            f"dataset '{name}': y has shape {tuple(y.shape)} but x has {n} examples; "
            "labels must be one integer class index per example, shape [N]"
        )
    if y.is_floating_point():
        if not torch.equal(y, y.round()):
            raise DataError(f"dataset '{name}': y holds non-integer values; labels must be class indices 0..K-1")
    elif y.dtype == torch.bool:
        pass
    elif y.is_complex():
        raise DataError(f"dataset '{name}': y is complex; labels must be class indices 0..K-1")
    y = y.to(torch.int64)
    if n and int(y.min()) < 0:
        raise DataError(f"dataset '{name}': y holds negative label {int(y.min())}; labels must be 0..K-1")
    return y


def array_to_x(arr: np.ndarray, name: str) -> torch.Tensor:
    """Array from a file to float32 x: uint8 scaled to [0, 1], floats kept; images made channels-first.

    [N, H, W] -> [N, 1, H, W]; [N, H, W, C] with C in (1, 3) -> [N, C, H, W]; [N, D] and [N, C, H, W]
    unchanged.
    """
    # Readers may hand over read-only buffers (np.frombuffer); astype/require give writable float32 copies
    # only where needed, so torch.from_numpy never aliases read-only memory.
    if arr.dtype == np.uint8:
        x = torch.from_numpy(arr.astype(np.float32)).div_(255.0)
    elif arr.dtype == np.bool_:
        x = torch.from_numpy(arr.astype(np.float32))
    elif np.issubdtype(arr.dtype, np.floating):
        x = torch.from_numpy(np.require(arr, np.float32, ["C", "W"]))
    else:
        raise DataError(
            f"{name}: x has dtype {arr.dtype}; save images as uint8 (0..255) or any data as float "
            "(kept as is)"
        )
    if x.dim() == 3:
        x = x.unsqueeze(1)
    elif x.dim() == 4 and x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2).contiguous()
    elif x.dim() not in (2, 4):
        raise DataError(
            f"{name}: x has shape {tuple(arr.shape)}; expected [N, D], [N, H, W], [N, H, W, C] or [N, C, H, W]"
        )
    return x


def labels_to_y(arr: np.ndarray, n: int, name: str) -> torch.Tensor:
    """Label array from a file to int64 [n] (validated)."""
    arr = np.array(arr)  # writable copy; labels are small
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise DataError(f"{name}: labels have dtype {arr.dtype}; save them as integers 0..K-1")
    return _labels(torch.from_numpy(arr), n, name)


def mix_seed(*parts: int) -> int:
    """A well-mixed 63-bit seed from several non-negative integers.

    Plain sums such as ``seed + epoch`` make run (seed=0, epoch=1) replay run (seed=1, epoch=0);
    hashing the tuple keeps every combination on its own stream.
    """
    state = np.random.SeedSequence([int(p) % 2**64 for p in parts]).generate_state(2, np.uint32)
    return ((int(state[0]) << 32) | int(state[1])) >> 1
