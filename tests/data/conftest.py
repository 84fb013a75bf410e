"""Fixtures for the data tests: tiny IDX/MNIST trees written into tmp_path and a local HTTP server."""

from __future__ import annotations

import functools
import gzip
import http.server
import struct
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

# <repo>/../shared/data: the complete MNIST shared with every developer and CI run (may be absent).
SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"

MNIST_NAMES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def idx_bytes(arr: np.ndarray, magic: int | None = None, dims=None) -> bytes:
    """An uint8 IDX file's bytes; ``magic``/``dims`` override the header to build broken files."""
    arr = np.asarray(arr, dtype=np.uint8)
    dims = arr.shape if dims is None else dims
    magic = (0x0800 | arr.ndim) if magic is None else magic
    return struct.pack(">I", magic) + struct.pack(f">{len(dims)}I", *dims) + arr.tobytes()


def write_idx(path: Path, arr, **kw) -> Path:
    data = idx_bytes(arr, **kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def tiny_mnist_arrays(seed: int = 0, n_train: int = 40, n_test: int = 20, hw=(6, 5)):
    """Random uint8 images (non-square, to catch H/W swaps) and labels cycling through 0..9."""
    rng = np.random.default_rng(seed)
    return {
        "train": (rng.integers(0, 256, (n_train, *hw), dtype=np.uint8), np.arange(n_train, dtype=np.uint8) % 10),
        "test": (rng.integers(0, 256, (n_test, *hw), dtype=np.uint8), np.arange(n_test, dtype=np.uint8)[::-1] % 10),
    }


def write_mnist_tree(folder: Path, arrays, gz: bool = True) -> Path:
    suffix = ".gz" if gz else ""
    for split, (images, labels) in arrays.items():
        write_idx(folder / (MNIST_NAMES[split][0] + suffix), images)
        write_idx(folder / (MNIST_NAMES[split][1] + suffix), labels)
    return folder


@pytest.fixture
def idx():
    """The IDX-writing helpers above, for tests that build their own (often broken) files."""
    return SimpleNamespace(
        bytes=idx_bytes, write=write_idx, arrays=tiny_mnist_arrays, write_tree=write_mnist_tree, names=MNIST_NAMES
    )


@pytest.fixture
def tiny_mnist(tmp_path):
    """(root, arrays): ``<root>/mnist/`` holding the four standard gzip IDX files."""
    arrays = tiny_mnist_arrays()
    root = tmp_path / "root"
    write_mnist_tree(root / "mnist", arrays)
    return root, arrays


@pytest.fixture
def shared_mnist_root():
    if not (SHARED_DATA / "mnist").is_dir():
        pytest.skip(f"the shared MNIST is not at {SHARED_DATA.resolve()}/mnist (only present beside the repo checkout)")
    return SHARED_DATA


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def http_dir(tmp_path):
    """(folder, base_url): a folder served over HTTP by a thread on 127.0.0.1 with an OS-chosen port."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
