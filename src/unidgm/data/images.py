"""Image folders (``images:<dir>[,key=value...]``): PNG/JPEG files read once through Pillow into memory.

Layouts, decided from what the folder holds:

    DIR/circle/*.png, DIR/square/*.png       class sub-folders: labels 0..K-1 in sorted folder-name order
    DIR/*.png                                flat: unlabelled
    DIR/train/..., DIR/test/...              the splits as given (each labelled or flat, as above)

Without ``train/`` + ``test/`` the test split is a fixed, class-stratified fraction (``test=0.1``) drawn with
its own seed, so it never moves with the experiment seed. Options, comma-separated after the folder:

    size=32 | size=64x48   output size HxW: scale to cover it, then cut the centre (crop=center) or stretch
                           to it (crop=none); without it every image must already have the same size
    crop=center | none     how size= fits an image of another aspect ratio
    channels=auto | gray | rgb   auto: gray when every file is grayscale, else rgb (alpha is dropped)
    test=0.1               held-out test fraction for a folder without train/ + test/ (0: no test split)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from unidgm.errors import DataError, did_you_mean

from .dataset import Dataset

PREFIX = "images"
EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
TEST_SPLIT_SEED = 0  # fixed: the held-out test images must not move with the experiment seed
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_DEEP_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}  # 16-bit PNGs: scaled by 65535, not 255
OPTIONS = {
    "size": "N or HxW: resize (with crop=) to this size",
    "crop": "center (default) or none: cut the centre after scaling, or stretch",
    "channels": "auto (default), gray or rgb",
    "test": "held-out test fraction in [0, 1) without train/ + test/ folders (default 0.1)",
}


@dataclass(frozen=True)
class FolderSpec:
    """A parsed ``images:`` spec: the folder and its options."""

    path: Path
    size: tuple[int, int] | None = None
    crop: str = "center"
    channels: str = "auto"
    test: float | None = None  # None: the default 0.1 (kept apart so that train/ + test/ can refuse test=)

    @property
    def test_fraction(self) -> float:
        return 0.1 if self.test is None else self.test

    def render(self) -> str:
        """The spec string, options in a fixed order (only those given)."""
        opts = []
        if self.size is not None:
            opts.append(f"size={self.size[0]}" if self.size[0] == self.size[1] else f"size={self.size[0]}x{self.size[1]}")
        if self.crop != "center":
            opts.append(f"crop={self.crop}")
        if self.channels != "auto":
            opts.append(f"channels={self.channels}")
        if self.test is not None:
            opts.append(f"test={self.test:g}")
        return ",".join([f"{PREFIX}:{self.path}", *opts])


def parse_spec(arg: str) -> FolderSpec:
    """``DIR[,key=value...]`` (the part after ``images:``) → FolderSpec; bad options name the fix."""
    where = f"{PREFIX}:{arg}"
    if Path(arg).expanduser().is_dir():  # a folder whose name holds a comma is still taken whole
        path, pieces = arg, []
    else:
        path, *pieces = arg.split(",")
    if not path.strip():
        raise DataError(f"{where}: no folder given; write images:<dir>, e.g. images:photos,size=32")
    found: dict[str, str] = {}
    for piece in pieces:
        key, eq, value = piece.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq or not key:
            raise DataError(f"{where}: option {piece!r} is not key=value; options: "
                            + "; ".join(f"{k}={v}" for k, v in OPTIONS.items()))
        if key not in OPTIONS:
            raise DataError(f"{where}: unknown option {key!r}." + did_you_mean(key, OPTIONS))
        found[key] = value
    kw: dict = {}
    if "size" in found:
        m = re.fullmatch(r"(\d+)(?:[x×](\d+))?", found["size"].lower())
        h, w = (int(m.group(1)), int(m.group(2) or m.group(1))) if m else (0, 0)
        if not m or h < 1 or w < 1:
            raise DataError(f"{where}: size={found['size']!r} must be a positive N or HxW, e.g. size=32 or size=64x48")
        kw["size"] = (h, w)
    for key, choices in (("crop", ("center", "none")), ("channels", ("auto", "gray", "rgb"))):
        if key in found:
            value = {"centre": "center", "grey": "gray", "grayscale": "gray", "l": "gray"}.get(found[key].lower(),
                                                                                              found[key].lower())
            if value not in choices:
                raise DataError(f"{where}: {key}={found[key]!r} is not valid." + did_you_mean(value, choices))
            kw[key] = value
    if "test" in found:
        try:
            frac = float(found["test"])
        except ValueError:
            frac = -1.0
        if not 0.0 <= frac < 1.0:
            raise DataError(f"{where}: test={found['test']!r} must be a fraction in [0, 1), e.g. test=0.2")
        kw["test"] = frac
    if "crop" in kw and "size" not in kw:
        raise DataError(f"{where}: crop= only applies with size=; add size=N (e.g. size=32) or drop crop=")
    return FolderSpec(Path(path).expanduser(), **kw)


# --- listing -----------------------------------------------------------------------------------------------

def _visible(name: str) -> bool:
    return not name.startswith(".") and name != "__MACOSX"  # hidden files, macOS zip leftovers


def _images_in(folder: Path, recursive: bool) -> list[Path]:
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.suffix.lower() in EXTENSIONS and p.is_file()
                  and all(_visible(part) for part in p.relative_to(folder).parts))


def scan(folder: Path, where: str) -> tuple[list[Path], list[str] | None, list[int] | None]:
    """(files, class names or None, labels or None) of one folder: class sub-folders, or flat."""
    files = _images_in(folder, recursive=False)
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir() and _visible(p.name))
    class_dirs = [d for d in subdirs if _images_in(d, recursive=True)]
    if files and class_dirs:
        raise DataError(f"{where}: {folder} holds both images ({files[0].name}, ...) and class folders "
                        f"({class_dirs[0].name}/, ...); move the loose images into a class folder, or keep "
                        "only loose images for an unlabelled set")
    if files:
        return files, None, None
    if not class_dirs:
        others = sorted(p.name for p in folder.iterdir() if _visible(p.name))
        raise DataError(f"{where}: {folder} holds no images ({', '.join(EXTENSIONS)}), neither loose nor in class "
                        f"sub-folders; found: {', '.join(others[:5]) or 'nothing'}{', ...' if len(others) > 5 else ''}")
    empty = [d.name for d in subdirs if d not in class_dirs]
    if empty:
        raise DataError(f"{where}: class folder(s) {', '.join(empty)} under {folder} hold no images; add images "
                        "or remove them (an empty class would never be seen in training)")
    out_files, labels = [], []
    for k, d in enumerate(class_dirs):
        members = _images_in(d, recursive=True)
        out_files += members
        labels += [k] * len(members)
    return out_files, [d.name for d in class_dirs], labels


def held_out(labels: list[int] | None, n: int, fraction: float) -> np.ndarray:
    """Boolean mask of the test examples: ``fraction`` of each class (at least one of a class with two or
    more examples), drawn with the fixed TEST_SPLIT_SEED."""
    rng = np.random.default_rng(TEST_SPLIT_SEED)
    groups = np.zeros(n, np.int64) if labels is None else np.asarray(labels)
    mask = np.zeros(n, bool)
    if fraction <= 0:
        return mask
    for g in np.unique(groups):
        idx = np.flatnonzero(groups == g)
        k = int(round(fraction * len(idx)))
        k = min(max(k, 1 if len(idx) >= 2 else 0), len(idx) - 1)
        mask[rng.permutation(idx)[:k]] = True
    return mask


# --- reading -----------------------------------------------------------------------------------------------

def _open(path: Path):
    """The decoded image; a file Pillow cannot read is an error naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(path)
        im.load()  # decode now: a truncated file fails here, naming itself, not later in training
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise DataError(f"cannot read the image {path} ({type(e).__name__}: {e}); replace or delete the file") from None
    return im


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """((width, height), mode) from the file's header, without decoding the pixels."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size, im.mode
    except Exception as e:  # noqa: BLE001 - any header failure means the same to a user
        raise DataError(f"cannot read the image {path} ({type(e).__name__}: {e}); replace or delete the file") from None


def _fit(im, size: tuple[int, int], crop: str):
    """Resize to ``size`` = (H, W): cover it and cut the centre (crop=center), or stretch (crop=none)."""
    from PIL import Image

    h, w = size
    if crop == "none":
        return im.resize((w, h), Image.Resampling.BILINEAR)
    scale = max(h / im.height, w / im.width)
    nw, nh = max(w, round(im.width * scale)), max(h, round(im.height * scale))
    im = im.resize((nw, nh), Image.Resampling.BILINEAR)
    left, top = (nw - w) // 2, (nh - h) // 2
    return im.crop((left, top, left + w, top + h))


def _to_array(im, gray: bool, size, crop) -> np.ndarray:
    """One image → float32 [C, H, W] in [0, 1]."""
    from PIL import Image

    if im.mode in _DEEP_MODES:
        im, scale = Image.fromarray(np.asarray(im, np.float32) / 65535.0, "F"), 1.0
    elif im.mode == "F":
        scale = 1.0
    else:
        im, scale = im.convert("L" if gray else "RGB"), 255.0
    if size is not None:
        im = _fit(im, size, crop)
    a = np.asarray(im, np.float32) / scale
    if a.ndim == 2:
        a = a[None] if gray else np.repeat(a[None], 3, axis=0)
    else:
        a = a.transpose(2, 0, 1)
    return np.clip(a, 0.0, 1.0)


def read_images(files: list[Path], spec: FolderSpec, where: str, reference: Path | None = None) -> torch.Tensor:
    """x [N, C, H, W] in [0, 1]; without size= every image (and ``reference``) must have the same size.

    Two passes: the headers first (sizes checked, channels decided, nothing decoded), then each image
    decoded and converted in turn, so that memory holds the output array and one image at a time."""
    headers = [_header(f) for f in files]
    if spec.size is None:
        first = reference or files[0]
        want = _header(first)[0] if reference is not None else headers[0][0]
        for f, (got, _) in zip(files, headers):
            if got != want:
                raise DataError(
                    f"{where}: {f} is {got[1]}x{got[0]} (HxW) but {first} is {want[1]}x{want[0]}; images of "
                    f"different sizes need a common size: add size=N or size=HxW, e.g. {spec.render()},size={want[1]}"
                )
    gray = spec.channels == "gray" or (spec.channels == "auto" and all(m in _GRAY_MODES for _, m in headers))
    h, w = spec.size or (headers[0][0][1], headers[0][0][0])
    x = np.empty((len(files), 1 if gray else 3, h, w), np.float32)
    for i, f in enumerate(files):
        with _open(f) as im:
            x[i] = _to_array(im, gray, spec.size, spec.crop)
    return torch.from_numpy(x)


def load_image_folder(arg: str, split: str) -> Dataset:
    """The ``split`` of the image folder spec ``arg`` (the part after ``images:``) as a Dataset."""
    spec = parse_spec(arg)
    where = spec.render()
    root = spec.path
    if not root.is_dir():
        raise DataError(f"{where}: no such folder {root}; pass images:<dir> naming a folder of PNG/JPEG images "
                        "(class sub-folders for labels)")
    split_dirs = {s: root / s for s in ("train", "test") if (root / s).is_dir()}
    if split_dirs:
        if spec.test is not None:
            raise DataError(f"{where}: {root} has its own train/ and test/ folders, so test={spec.test:g} has "
                            "nothing to hold out; drop the test= option")
        if set(split_dirs) != {"train", "test"}:
            have, lack = next(iter(split_dirs)), ({"train", "test"} - set(split_dirs)).pop()
            raise DataError(f"{where}: {root} has a {have}/ folder but no {lack}/ folder; add {root / lack}/, or "
                            f"move the images of {have}/ up into {root} to hold out a fraction (test=)")
        files, classes, labels = scan(split_dirs["train"], where)
        reference = files[0]
        if split == "test":
            t_files, t_classes, t_labels = scan(split_dirs["test"], where)
            if (classes is None) != (t_classes is None):
                raise DataError(f"{where}: train/ is {'flat' if classes is None else 'in class folders'} but test/ is "
                                f"{'flat' if t_classes is None else 'in class folders'}; lay both out alike")
            if classes is not None:
                unknown = sorted(set(t_classes) - set(classes))
                if unknown:
                    raise DataError(f"{where}: test/ has class folder(s) {', '.join(unknown)} that train/ lacks "
                                    f"(train/ classes: {', '.join(classes)}); rename or remove them")
                t_labels = [classes.index(t_classes[k]) for k in t_labels]
            files, labels = t_files, t_labels
    else:
        files, classes, labels = scan(root, where)
        reference = files[0]
        mask = held_out(labels, len(files), spec.test_fraction)
        if split == "test" and not mask.any():
            raise DataError(f"{where}: no test split ({'test=0' if spec.test == 0 else 'too few images'}); hold "
                            "some out with test=0.1, or lay the folder out as train/ and test/")
        keep = mask if split == "test" else ~mask
        files = [f for f, k in zip(files, keep) if k]
        labels = None if labels is None else [y for y, k in zip(labels, keep) if k]
    x = read_images(files, spec, where, reference)
    y = None if labels is None else torch.tensor(labels, dtype=torch.int64)
    name = where
    return Dataset(name, x, y, None if classes is None else len(classes), classes=None if classes is None else tuple(classes))
