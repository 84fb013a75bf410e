"""Dataset names a user types (``--data mnist``) mapped to loaders; `get_dataset` is the one entry point."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from unidgm.errors import DataError, did_you_mean

from . import fetch, readers, toy
from . import images as image_folders
from .dataset import Dataset, infer_num_classes
from .fetch import SOURCES, data_root

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DatasetEntry:
    """A registered dataset. ``load(split, folder, seed)`` reads ``<root>/<name>/``; ``missing(split, folder)``
    names the files absent there (None for data that ships offline)."""

    name: str
    description: str
    load: Callable[[str, Path, int], Dataset]
    missing: Callable[[str, Path], list[str]] | None = None
    hint: str = ""  # what else is accepted in place of the missing files


def _idx_entry(name: str, description: str) -> DatasetEntry:
    def missing(split, folder):
        return [f"{stem}.gz" for stem in readers.MNIST_FILES[split] if readers.find_file(folder, stem) is None]

    def load(split, folder, seed):
        images, labels = (readers.find_file(folder, stem) for stem in readers.MNIST_FILES[split])
        x, y = readers.read_idx_pair(images, labels, name)
        if len(y) and int(y.max()) > 9:
            raise DataError(f"{labels}: label {int(y.max())} outside 0..9: {readers.REDOWNLOAD}")
        return Dataset(name, x, y, 10)

    return DatasetEntry(name, description, load, missing, "uncompressed copies without .gz work too")


def _svhn_load(split, folder, seed):
    x, y = readers.read_svhn_mat(folder / f"{split}_32x32.mat")
    return Dataset("svhn", x, y, 10)


def _svhn_missing(split, folder):
    return [] if (folder / f"{split}_32x32.mat").is_file() else [f"{split}_32x32.mat"]


def _cifar_load(split, folder, seed):
    x, y = readers.load_cifar10(folder, split)
    return Dataset("cifar10", x, y, 10)


def _cifar_missing(split, folder):
    if (folder / readers.CIFAR_DIR).is_dir() or (folder / readers.CIFAR_ARCHIVE).is_file():
        return []  # an incomplete folder is reported by the reader, naming the missing batch
    return [readers.CIFAR_ARCHIVE]


REGISTRY: dict[str, DatasetEntry] = {
    e.name: e
    for e in (
        _idx_entry("mnist", "MNIST handwritten digits, 60k/10k, 1x28x28 (IDX files)"),
        _idx_entry("fashion-mnist", "Fashion-MNIST clothing, 60k/10k, 1x28x28 (IDX files)"),
        _idx_entry("kmnist", "Kuzushiji-MNIST, 60k/10k, 1x28x28 (IDX files)"),
        DatasetEntry(
            "svhn", "SVHN cropped digits, 73k/26k, 3x32x32 (.mat files)", _svhn_load, _svhn_missing,
        ),  # fmt: skip
        DatasetEntry(
            "cifar10", "CIFAR-10, 50k/10k, 3x32x32 (python batches or the .tar.gz)", _cifar_load, _cifar_missing,
            f"or the extracted {readers.CIFAR_DIR}/ folder with data_batch_1..5 and test_batch",
        ),  # fmt: skip
        DatasetEntry(
            "digits", "scikit-learn 8x8 digits, 1500/297, 1x8x8 (bundled, offline)",
            lambda split, folder, seed: readers.load_digits(split),
        ),  # fmt: skip
        DatasetEntry(
            "ring8", "8 Gaussians on a circle of radius 2, std 0.02, 10k/2k points (2-D)",
            lambda split, folder, seed: toy.mixture("ring8", split, seed),
        ),  # fmt: skip
        DatasetEntry(
            "grid25", "25 Gaussians on a 5x5 grid, std 0.05, 10k/2k points (2-D)",
            lambda split, folder, seed: toy.mixture("grid25", split, seed),
        ),  # fmt: skip
    )
}

_ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "cifar-10": "cifar10"}

PREFIXES: dict[str, str] = {
    "idx": "idx:<dir>  a folder holding an IDX images/labels pair per split (train / t10k or test)",
    "npz": "npz:<file> arrays x [, y] (and x_test [, y_test] for split='test')",
    "npy": "npy:<file> one unlabelled array x",
    "images": "images:<dir>[,size=N|HxW][,crop=center|none][,channels=auto|gray|rgb][,test=0.1]  a folder of "
              "PNG/JPEG images (class sub-folders become labels; train/ + test/ folders are the splits)",
}


def dataset_names() -> list[str]:
    """Registered dataset names (the ``idx:``/``npz:``/``npy:``/``images:`` path forms come on top)."""
    return sorted(REGISTRY)


def describe_datasets() -> dict[str, str]:
    """Name -> one-line description, path forms included, for CLI help."""
    out = {name: REGISTRY[name].description for name in dataset_names()}
    out.update({f"{p}:": text for p, text in PREFIXES.items()})
    return out


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise DataError(
            f"unknown split '{split}'." + did_you_mean(str(split), SPLITS)
            + " Carve a validation set from 'train' (never from 'test')."
        )  # fmt: skip
    return split


def _missing_message(name: str, split: str, root: Path, folder: Path, missing: list[str]) -> str:
    where = ", ".join(str(folder / f) for f in missing)
    hint = f" ({REGISTRY[name].hint})" if REGISTRY[name].hint else ""
    lead = f"the data root {root} does not exist, so " if not root.exists() else ""
    url = SOURCES[name].base_url if name in SOURCES else None
    how = f", or pass --download (download=True) to fetch them from {url}" if url else ""
    return (
        f"{lead}dataset '{name}' (split '{split}') is missing {where}{hint}. Put the files there, point "
        f"--data-root or $UNIDGM_DATA at the folder that holds {name}/{how}."
    )


def get_dataset(spec: str, split: str = "train", root=None, download: bool = False, seed: int = 0) -> Dataset:
    """Load a dataset by registry name or path form (``idx:<dir>``, ``npz:<file>``, ``npy:<file>``,
    ``images:<dir>[,options]``, see `unidgm.data.images`).

    Files are looked up in ``<root>/<name>/`` with root from `data_root`; ``seed`` only affects sampled
    (toy) datasets; ``download=True`` fetches missing files first. A folder or file that cannot be read
    (permissions, I/O errors) is a :class:`DataError` naming it.
    """
    try:
        return _get_dataset(spec, split, root, download, seed)
    except OSError as e:
        where = e.filename or spec
        raise DataError(f"cannot read {where} for dataset '{spec}' ({e.strerror or e}); make it readable "
                        "(check its permissions), or point --data-root / $UNIDGM_DATA at a readable copy") from None


def _get_dataset(spec, split, root, download, seed) -> Dataset:
    if not isinstance(spec, str) or not spec.strip():
        raise DataError("no dataset given; pass a name such as --data mnist." + did_you_mean("", REGISTRY))
    _check_split(split)
    spec = spec.strip()
    head, sep, arg = spec.partition(":")
    if sep:
        prefix = head.lower()
        if prefix not in PREFIXES or not arg:
            raise DataError(
                f"unknown dataset '{spec}': path forms are {', '.join(f'{p}:<path>' for p in PREFIXES)}."
                + (did_you_mean(prefix, PREFIXES) if prefix not in PREFIXES else "")
            )
        if prefix == "images":
            return image_folders.load_image_folder(arg, split)
        path = Path(arg).expanduser()
        if prefix == "idx":
            images, labels = readers.find_idx_pair(path, split)
            x, y = readers.read_idx_pair(images, labels, spec)
            return Dataset(spec, x, y, infer_num_classes(y, spec) if len(y) else None)
        loader = readers.load_npz if prefix == "npz" else readers.load_npy
        return loader(path, split, spec)

    key = spec.lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in REGISTRY:
        path = Path(spec).expanduser()
        form = {".npz": "npz", ".npy": "npy"}.get(path.suffix.lower(), None)
        if form is None and path.is_dir():
            form = "idx" if any("idx" in p.name for p in path.iterdir()) else "images"
        hint = f" To load the file at {path}, write {form}:{spec}." if form and path.exists() else ""
        raise DataError(
            f"unknown dataset '{spec}'." + did_you_mean(key, REGISTRY)
            + f" Files on disk: {', '.join(f'{p}:<path>' for p in PREFIXES)}.{hint}"
        )  # fmt: skip
    entry = REGISTRY[key]
    root_path = data_root(root)
    folder = root_path / key
    if entry.missing is not None:
        missing = entry.missing(split, folder)
        if missing and download:
            fetch.download(key, root_path)
            missing = entry.missing(split, folder)
        if missing:
            raise DataError(_missing_message(key, split, root_path, folder, missing))
    return entry.load(split, folder, int(seed))


def spec_path(spec: str) -> Path | None:
    """The file or folder a path form (``idx:``, ``npz:``, ``npy:``, ``images:``) names; None for names."""
    head, sep, arg = str(spec).strip().partition(":")
    if not sep or head.lower() not in PREFIXES or not arg:
        return None
    if head.lower() == "images":
        return image_folders.parse_spec(arg).path
    return Path(arg).expanduser()


def absolute_spec(spec: str) -> str:
    """``spec`` with a relative path made absolute (against the current folder), so that a run folder
    records data that later commands find from anywhere; names and absolute paths are returned as given."""
    path = spec_path(spec)
    if path is None or path.is_absolute():
        return spec
    head, _, arg = spec.strip().partition(":")
    absolute = Path(os.path.abspath(path))  # abspath also folds "../" away: the record reads cleanly
    if head.lower() == "images":
        parsed = image_folders.parse_spec(arg)
        return image_folders.FolderSpec(absolute, parsed.size, parsed.crop, parsed.channels, parsed.test).render()
    return f"{head.lower()}:{absolute}"


def needs_root(spec: str) -> bool:
    """Whether ``spec`` reads files under the data root (mnist, svhn, mnist-inv, ...), not a path or
    bundled data."""
    key = str(spec).strip().lower().replace("_", "-")
    if ":" in key:
        key = key.partition(":")[0]
        if key in PREFIXES:
            return False
    key = _ALIASES.get(key, key)
    base = key.removesuffix("-inv")  # the inverted domain pairs read their base set
    entry = REGISTRY.get(key) or REGISTRY.get(base)
    return entry is not None and entry.missing is not None
