"""File-format readers: IDX (MNIST family), SVHN .mat, CIFAR-10 pickles/archive, .npz/.npy, sklearn digits.

Each reader validates what it reads and raises one DataError that names the file, the problem and the fix.
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from unidgm.errors import DataError

from .dataset import Dataset, array_to_x, labels_to_y

REDOWNLOAD = "delete it and download it again (get_dataset(..., download=True) or --download)"

# ----------------------------------------------------------------------------------------------- IDX

IDX_IMAGES_MAGIC = 0x00000803  # uint8, 3 dims: [N, H, W]
IDX_LABELS_MAGIC = 0x00000801  # uint8, 1 dim: [N]
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

# The standard file names shared by MNIST, Fashion-MNIST and KMNIST (each also accepted without .gz).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_maybe_gzip(path: Path) -> bytes:
    """File bytes, gunzipped when the file starts with the gzip magic (whatever its name says)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from e
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError as e:
        raise DataError(f"{path} is truncated (the gzip stream ends early): {REDOWNLOAD}") from e
    except (OSError, zlib.error) as e:  # BadGzipFile is an OSError
        raise DataError(f"{path} is not a valid gzip file ({e}): {REDOWNLOAD}") from e


def read_idx(path, magic: int | None = None) -> np.ndarray:
    """Parse an IDX file (raw or gzip) into an array; ``magic`` pins the expected type/ndim code.

    IDX layout: two zero bytes, a type code, the number of dims, then one big-endian uint32 per dim,
    then the data, row-major.
    """
    path = Path(path)
    data = _read_maybe_gzip(path)
    if len(data) < 4:
        raise DataError(f"{path} is truncated ({len(data)} bytes, no IDX header): {REDOWNLOAD}")
    found = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    if magic is not None and found != magic:
        what = {IDX_IMAGES_MAGIC: "an IDX image file", IDX_LABELS_MAGIC: "an IDX label file"}.get(magic, "IDX")
        raise DataError(
            f"{path}: magic number 0x{found:08X}, expected 0x{magic:08X} for {what}; this is the wrong "
            f"file (e.g. images and labels swapped) or not IDX at all: {REDOWNLOAD}"
        )
    if data[:2] != b"\x00\x00" or code not in _IDX_DTYPES or ndim == 0:
        raise DataError(f"{path}: magic number 0x{found:08X} is not a valid IDX header: {REDOWNLOAD}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated inside its IDX header: {REDOWNLOAD}")
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    have = len(data) - header
    if have < expected:
        raise DataError(
            f"{path} is truncated: its header says {' x '.join(map(str, dims))} = {expected} data bytes "
            f"but it holds {have}: {REDOWNLOAD}"
        )
    if have > expected:
        raise DataError(
            f"{path}: header dims {' x '.join(map(str, dims))} ({expected} bytes) are inconsistent with the "
            f"{have} data bytes in the file; the file is corrupt: {REDOWNLOAD}"
        )
    return np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize, offset=header).reshape(dims)


def read_idx_pair(images: Path, labels: Path, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x [N,1,H,W] in [0,1], y [N]) from an IDX image file and its label file."""
    imgs = read_idx(images, IDX_IMAGES_MAGIC)
    labs = read_idx(labels, IDX_LABELS_MAGIC)
    if imgs.shape[0] != labs.shape[0]:
        raise DataError(
            f"{name}: {images.name} holds {imgs.shape[0]} images but {labels.name} holds {labs.shape[0]} "
            "labels; the two files come from different splits or downloads: put the matching pair together"
        )
    return array_to_x(imgs, name), labels_to_y(labs, len(labs), name)


def find_file(directory: Path, stem: str) -> Path | None:
    """``stem`` or ``stem.gz`` in ``directory``; the uncompressed copy wins because it reads faster."""
    for candidate in (directory / stem, directory / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def find_idx_pair(directory: Path, split: str) -> tuple[Path, Path]:
    """The ``*images*`` / ``*labels*`` files of ``split`` in an arbitrary folder (``idx:<dir>``)."""
    if not directory.is_dir():
        raise DataError(
            f"idx:{directory}: no such folder; pass idx:<dir> naming a folder that holds an IDX images/labels "
            "pair per split (names containing 'train' and 't10k' or 'test')"
        )
    tokens = ("train",) if split == "train" else ("t10k", "test")
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))

    def pick(kind: str) -> Path:
        hits = [p for p in files if kind in p.name.lower() and any(t in p.name.lower() for t in tokens)]
        # x and x.gz are the same data: group by the uncompressed name and prefer the raw copy.
        groups: dict[str, list[Path]] = {}
        for p in hits:
            groups.setdefault(p.name.lower().removesuffix(".gz"), []).append(p)
        if not groups:
            raise DataError(
                f"idx:{directory}: no {split} {kind} file (a name containing '{kind}' and "
                f"{' or '.join(repr(t) for t in tokens)}); found: {', '.join(p.name for p in files) or 'nothing'}. "
                f"Put e.g. {MNIST_FILES[split][0 if kind == 'images' else 1]}.gz there"
            )
        if len(groups) > 1:
            raise DataError(
                f"idx:{directory}: several {split} {kind} files ({', '.join(p.name for p in hits)}); keep one "
                "per split or move the others to another folder"
            )
        (group,) = groups.values()
        return min(group, key=lambda p: p.suffix == ".gz")

    return pick("images"), pick("labels")


# ----------------------------------------------------------------------------------------------- SVHN


def read_svhn_mat(path: Path, name: str = "svhn") -> tuple[torch.Tensor, torch.Tensor]:
    """SVHN cropped-digits .mat: X [32,32,3,N] uint8, y [N,1] with 10 for digit 0 -> (x [N,3,32,32], y)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError as e:  # MATLAB v7.3 (HDF5) files
        raise DataError(f"{path} is a MATLAB v7.3 file, not the official SVHN format: {REDOWNLOAD}") from e
    except Exception as e:  # scipy raises assorted types on corrupt input; all mean the same to a user
        raise DataError(f"{path} is not a readable .mat file ({type(e).__name__}: {e}): {REDOWNLOAD}") from e
    if "X" not in mat or "y" not in mat:
        keys = sorted(k for k in mat if not k.startswith("__"))
        raise DataError(f"{path}: expected variables 'X' and 'y', found {keys}: is this the SVHN *_32x32.mat?")
    X, y = mat["X"], mat["y"]
    if X.ndim != 4 or X.shape[2] not in (1, 3) or X.dtype != np.uint8:
        raise DataError(
            f"{path}: X has shape {X.shape} and dtype {X.dtype}; expected uint8 [H, W, 3, N] "
            "(the official cropped-digit format)"
        )
    n = X.shape[3]
    y = np.asarray(y).reshape(-1).astype(np.int64)
    if y.shape[0] != n:
        raise DataError(f"{path}: X holds {n} images but y holds {y.shape[0]} labels: {REDOWNLOAD}")
    y[y == 10] = 0  # SVHN labels digit 0 as class 10
    if n and (y.min() < 0 or y.max() > 9):
        raise DataError(f"{path}: labels outside 1..10 (found {y.min()}..{y.max()}): {REDOWNLOAD}")
    x = array_to_x(np.ascontiguousarray(X.transpose(3, 2, 0, 1)), name)  # [N, C, H, W]
    return x, torch.from_numpy(y)


# ----------------------------------------------------------------------------------------------- CIFAR-10

CIFAR_DIR = "cifar-10-batches-py"
CIFAR_ARCHIVE = "cifar-10-python.tar.gz"
CIFAR_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def _numpy_reconstruct():
    try:  # numpy >= 2 keeps it in numpy._core; numpy.core is a deprecated alias there
        from numpy._core.multiarray import _reconstruct
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


def _numpy_frombuffer():
    try:
        from numpy._core.numeric import _frombuffer
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.numeric import _frombuffer
    return _frombuffer


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays (plus plain dicts/lists/bytes/numbers).

    ``pickle`` runs whatever callable a file names, so a doctored "CIFAR batch" could execute code; a
    genuine batch only needs these four globals, and anything else is refused.
    """

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        # pickle protocol 5 (Python 3.14's default) rebuilds arrays from a buffer instead
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
    }

    def __init__(self, file, source: str):
        super().__init__(file, encoding="bytes")  # the official batches are Python 2 pickles
        self.source = source

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise DataError(
                f"{self.source}: refusing to unpickle {module}.{name}; a CIFAR-10 batch only holds numpy arrays, "
                "so this file is not a genuine batch (possibly malicious). Delete it and download the official "
                f"{CIFAR_ARCHIVE}"
            )
        if name == "_reconstruct":
            return _numpy_reconstruct()
        if name == "_frombuffer":
            return _numpy_frombuffer()
        return getattr(np, name)


def read_cifar_batch(fileobj, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(data [N, 3072] uint8, labels [N]) from one CIFAR-10 python batch."""
    try:
        batch = NumpyOnlyUnpickler(fileobj, source).load()
    except DataError:
        raise
    except EOFError as e:
        raise DataError(f"{source} is truncated: {REDOWNLOAD}") from e
    except Exception as e:  # UnpicklingError, ValueError, ... on corrupt bytes
        raise DataError(f"{source} is not a valid CIFAR-10 batch ({type(e).__name__}: {e}): {REDOWNLOAD}") from e
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise DataError(f"{source}: expected a dict with b'data' and b'labels': is this a CIFAR-10 python batch?")
    data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise DataError(f"{source}: b'data' should be uint8 [N, 3072], got {shape}: {REDOWNLOAD}")
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{source}: {labels.shape[0] if labels.ndim else 0} labels for {data.shape[0]} images")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataError(f"{source}: labels outside 0..9: {REDOWNLOAD}")
    return data, labels.astype(np.int64)


def _check_member(member: tarfile.TarInfo, archive: Path) -> PurePosixPath:
    """The member's relative path, refusing anything that could write outside the target folder."""
    path = PurePosixPath(member.name)
    if path.is_absolute() or ".." in path.parts or not (member.isfile() or member.isdir()):
        raise DataError(
            f"{archive}: unsafe archive member '{member.name}' (absolute path, '..', link or device); the "
            f"official {CIFAR_ARCHIVE} has none: delete it and download it again"
        )
    return path


def extract_cifar_archive(archive: Path, dest: Path) -> Path:
    """Extract ``cifar-10-batches-py/`` from the archive into ``dest`` atomically; returns the folder.

    Members are written by hand after path checks (never tarfile.extract*), into a temporary folder that
    is renamed into place only when every member was read, so a truncated archive leaves nothing behind.
    """
    target = dest / CIFAR_DIR
    tmp = Path(tempfile.mkdtemp(prefix=".cifar-extract-", dir=dest))
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                rel = _check_member(member, archive)
                out = tmp / rel
                if member.isdir():
                    out.mkdir(parents=True, exist_ok=True)
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if not (tmp / CIFAR_DIR).is_dir():
            raise DataError(f"{archive} holds no {CIFAR_DIR}/ folder: is this the CIFAR-10 python archive?")
        os.replace(tmp / CIFAR_DIR, target)
    except (EOFError, tarfile.TarError, zlib.error, gzip.BadGzipFile) as e:
        raise DataError(f"{archive} is truncated or corrupt ({e}): {REDOWNLOAD}") from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def load_cifar10(directory: Path, split: str, name: str = "cifar10") -> tuple[torch.Tensor, torch.Tensor]:
    """CIFAR-10 from ``<directory>/cifar-10-batches-py/`` or, failing that, ``<directory>/cifar-10-python.tar.gz``."""
    folder = directory / CIFAR_DIR
    archive = directory / CIFAR_ARCHIVE
    if not folder.is_dir() and archive.is_file():
        try:
            folder = extract_cifar_archive(archive, directory)
        except OSError:
            folder = None  # read-only or full data root: read the batches straight from the archive instead
    parts = []
    if folder is not None:
        for batch in CIFAR_BATCHES[split]:
            path = folder / batch
            if not path.is_file():
                raise DataError(
                    f"{name}: {path} is missing; put the complete {CIFAR_DIR}/ folder (data_batch_1..5, "
                    f"test_batch) or {CIFAR_ARCHIVE} under {directory}/"
                )
            with open(path, "rb") as f:
                parts.append(read_cifar_batch(f, str(path)))
    else:
        try:
            with tarfile.open(archive, "r:gz") as tar:
                for batch in CIFAR_BATCHES[split]:
                    member = f"{CIFAR_DIR}/{batch}"
                    try:
                        info = tar.getmember(member)
                    except KeyError as e:
                        raise DataError(f"{archive} has no {member}: {REDOWNLOAD}") from e
                    _check_member(info, archive)
                    payload = tar.extractfile(info).read()
                    parts.append(read_cifar_batch(io.BytesIO(payload), f"{archive}:{member}"))
        except (EOFError, tarfile.TarError, zlib.error, gzip.BadGzipFile) as e:
            raise DataError(f"{archive} is truncated or corrupt ({e}): {REDOWNLOAD}") from e
    data = np.concatenate([d for d, _ in parts])
    labels = np.concatenate([l for _, l in parts])
    return array_to_x(data.reshape(-1, 3, 32, 32), name), torch.from_numpy(labels)


# ----------------------------------------------------------------------------------------------- npz / npy


def _np_load(path: Path, spec: str):
    if not path.is_file():
        raise DataError(f"{spec}: no such file {path}; give the path to an existing file after the prefix")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{spec}: {path} is not a readable NumPy file ({type(e).__name__}: {e})") from e


def _np_get(container, key: str, spec: str) -> np.ndarray:
    try:
        return container[key]
    except ValueError as e:  # object arrays need pickle, which we never enable
        raise DataError(f"{spec}: array '{key}' holds Python objects; save plain numeric arrays") from e
    except Exception as e:
        raise DataError(f"{spec}: cannot read array '{key}' ({type(e).__name__}: {e}); the file is corrupt") from e


def load_npz(path: Path, split: str, spec: str) -> Dataset:
    """``x``/``y`` for train, ``x_test``/``y_test`` for test (y optional)."""
    f = _np_load(path, spec)
    if isinstance(f, np.ndarray):
        raise DataError(f"{spec}: {path} is a single .npy array; use npy:{path}")
    with f:
        xk, yk = ("x", "y") if split == "train" else ("x_test", "y_test")
        if xk not in f.files:
            fix = (
                "save the test examples as 'x_test' (and labels as 'y_test'), or evaluate on split='train'"
                if split == "test"
                else "save the examples as 'x' (and optional labels as 'y'), e.g. np.savez(path, x=x, y=y)"
            )
            raise DataError(f"{spec}: no array '{xk}' for split '{split}' (found {sorted(f.files)}); {fix}")
        x = array_to_x(_np_get(f, xk, spec), spec)
        y = labels_to_y(_np_get(f, yk, spec), len(x), spec) if yk in f.files else None
    return Dataset.from_tensors(x, y, name=spec)


def load_npy(path: Path, split: str, spec: str) -> Dataset:
    """An unlabelled x array; it has no test split."""
    if split != "train":
        raise DataError(
            f"{spec}: a .npy file holds one array, so there is no '{split}' split; save an .npz with 'x' and "
            "'x_test' instead, or use split='train'"
        )
    arr = _np_load(path, spec)
    if not isinstance(arr, np.ndarray):
        arr.close()
        raise DataError(f"{spec}: {path} is an .npz archive; use npz:{path}")
    return Dataset.from_tensors(array_to_x(arr, spec), None, name=spec)


# ----------------------------------------------------------------------------------------------- digits

DIGITS_TRAIN = 1500
DIGITS_SPLIT_SEED = 0  # fixed: the test set must not move with the experiment seed


def load_digits(split: str) -> Dataset:
    """scikit-learn's bundled 8x8 digits: x [N,1,8,8] in [0,1]; 1500 train / 297 test after a fixed shuffle."""
    from sklearn.datasets import load_digits as sk_load_digits

    d = sk_load_digits()
    perm = np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(d.target))
    idx = perm[:DIGITS_TRAIN] if split == "train" else perm[DIGITS_TRAIN:]
    x = torch.from_numpy((d.images[idx] / 16.0).astype(np.float32)).unsqueeze(1)
    y = torch.from_numpy(d.target[idx].astype(np.int64))
    return Dataset("digits", x, y, 10)
