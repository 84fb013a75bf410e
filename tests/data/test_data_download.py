"""Downloads against a local HTTP server / file:// URL: success, checksum mismatch, unreachable host."""

import gzip
import hashlib
import logging
import shutil
import socket

import numpy as np
import pytest
import torch

from unidgm.data import download, get_dataset
from unidgm.data import fetch
from unidgm.data.fetch import RemoteFile, Source
from unidgm.errors import DataError

NAMES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture
def served_tiny(http_dir, idx):
    """The tiny MNIST served over HTTP, with a source whose checksums match it."""
    folder, url = http_dir
    arrays = idx.arrays(seed=4)
    idx.write_tree(folder, arrays)
    files = tuple(RemoteFile(n, _md5((folder / n).read_bytes())) for n in NAMES)
    return folder, url, arrays, Source(url, files)


def test_download_then_load(served_tiny, monkeypatch, tmp_path):
    folder, url, arrays, source = served_tiny
    monkeypatch.setitem(fetch.SOURCES, "mnist", source)  # the canonical URL, pointed at the local server
    root = tmp_path / "root"
    ds = get_dataset("mnist", "test", root=root, download=True)
    assert ds.y.tolist() == arrays["test"][1].tolist()
    assert sorted(p.name for p in (root / "mnist").iterdir()) == sorted(NAMES)  # no .part left
    for n in NAMES:
        assert (root / "mnist" / n).read_bytes() == (folder / n).read_bytes()


def test_content_checksum_accepts_recompressed_file(served_tiny, monkeypatch, tmp_path):
    folder, url, _, _ = served_tiny
    raw = {n: gzip.decompress((folder / n).read_bytes()) for n in NAMES}
    files = tuple(RemoteFile(n, "0" * 32, _md5(raw[n])) for n in NAMES)  # .gz md5 wrong, content md5 right
    monkeypatch.setitem(fetch.SOURCES, "mnist", Source("http://unused.invalid/", files))
    dest = download("mnist", tmp_path, base_url=url)
    assert sorted(p.name for p in dest.iterdir()) == sorted(NAMES)


def test_checksum_mismatch_leaves_nothing(http_dir, tmp_path):
    folder, url = http_dir
    for n in NAMES:  # well-formed gzip, wrong content: fails both the .gz and the content checksum
        (folder / n).write_bytes(gzip.compress(b"not mnist"))
    with pytest.raises(DataError) as err:
        download("mnist", tmp_path / "root", base_url=url)
    msg = str(err.value)
    assert "checksum mismatch for train-images-idx3-ubyte.gz" in msg and "f68b3c2dcbeaaa9fbdd348bbdeb94873" in msg
    assert "download was deleted" in msg
    assert list((tmp_path / "root" / "mnist").iterdir()) == []


def test_unreachable_and_missing_give_clear_errors(http_dir, tmp_path):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = tmp_path / "root"
    with pytest.raises(DataError) as err:
        download("fashion-mnist", root, base_url=f"http://127.0.0.1:{port}/x/")
    msg = str(err.value)
    assert f"could not download train-images-idx3-ubyte.gz from http://127.0.0.1:{port}/x/train-images" in msg
    assert f"put the files {', '.join(NAMES)} under {root / 'fashion-mnist'}/ or pass --data-root" in msg
    _, url = http_dir  # an empty folder: 404
    with pytest.raises(DataError, match=r"\(HTTP 404"):
        download("kmnist", root, base_url=url)
    with pytest.raises(DataError, match="could not download train_32x32.mat"):
        download("svhn", root, base_url=(tmp_path / "nothing").as_uri())
    assert not any(p.is_file() for p in root.rglob("*"))
    with pytest.raises(DataError, match="no download is defined for dataset 'digits'"):
        download("digits", root)


def test_file_url_and_unverified_warning(tmp_path, idx, monkeypatch, caplog):
    src = tmp_path / "mirror"
    idx.write_tree(src, idx.arrays())
    monkeypatch.setitem(fetch.SOURCES, "kmnist", Source("http://unused.invalid/", tuple(RemoteFile(n) for n in NAMES)))
    with caplog.at_level(logging.WARNING, logger="unidgm.data.fetch"):
        dest = download("kmnist", tmp_path / "root", base_url=src.as_uri())
    assert sum("unverified" in r.getMessage() for r in caplog.records) == 4
    assert len(get_dataset("kmnist", "train", root=tmp_path / "root")) == 40
    # files already present are not fetched again, even from a dead URL
    assert download("kmnist", tmp_path / "root", base_url="http://127.0.0.1:9/") == dest


@pytest.mark.needs_shared
def test_real_mnist_checksums_over_http(http_dir, shared_mnist_root, tmp_path):
    """The shared test files carry the official .gz md5; the training files were re-compressed and pass
    on their content md5: both paths of the verifier on the real data."""
    folder, url = http_dir
    for n in NAMES:
        shutil.copy(shared_mnist_root / "mnist" / n, folder / n)
    dest = download("mnist", tmp_path, base_url=url)
    test = get_dataset("mnist", "test", root=tmp_path)
    assert dest == tmp_path / "mnist" and len(test) == 10_000
    assert torch.bincount(test.y, minlength=10).sum() == 10_000 and np.isclose(float(test.x.max()), 1.0)
