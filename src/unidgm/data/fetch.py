"""Where dataset files live and how they are fetched: canonical URLs, checksums, atomic downloads.

A download streams into a hidden temporary file next to its destination and is renamed into place only
after its checksum passes, so an interrupted or corrupted download never leaves a file that looks valid.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from unidgm.errors import DataError, did_you_mean

log = logging.getLogger(__name__)

TIMEOUT_S = 30.0
_CHUNK = 1 << 20


def data_root(root=None) -> Path:
    """The folder holding ``<name>/`` dataset folders: ``root`` (--data-root), else $UNIDGM_DATA, else
    ~/.cache/unidgm."""
    if root is not None and str(root) != "":
        return Path(root).expanduser().absolute()
    env = os.environ.get("UNIDGM_DATA")
    if env:
        return Path(env).expanduser().absolute()
    return Path.home() / ".cache" / "unidgm"


@dataclass(frozen=True)
class RemoteFile:
    """One file of a source. ``md5`` is the file as served; ``content_md5`` the gunzipped content, which
    also accepts legitimately re-compressed copies. Both None: no checksum is known, the file is unverified."""

    name: str
    md5: str | None = None
    content_md5: str | None = None


@dataclass(frozen=True)
class Source:
    base_url: str
    files: tuple[RemoteFile, ...]


def _idx_files(md5s, content_md5s=(None,) * 4) -> tuple[RemoteFile, ...]:
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")  # fmt: skip
    return tuple(RemoteFile(n, m, c) for n, m, c in zip(names, md5s, content_md5s))


# Checksums are the published ones (MNIST, CIFAR-10 from their authors; Fashion-MNIST, KMNIST and SVHN as
# recorded by torchvision and cross-checked against independent copies).
SOURCES: dict[str, Source] = {
    "mnist": Source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        _idx_files(
            ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
             "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"),
            ("6bbc9ace898e44ae57da46a324031adb", "a25bea736e30d166cdddb491f175f624",
             "2646ac647ad5339dbf082846283269ea", "27ae3e4e09519cfbb04c329615203637"),
        ),
    ),  # fmt: skip
    "fashion-mnist": Source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        _idx_files(
            ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
             "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    ),  # fmt: skip
    "kmnist": Source(
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        _idx_files(
            ("bdb82020997e1d708af4cf47b453dcf7", "e144d726b3acfaa3e44228e80efcd344",
             "5c965bf0a639b31b8f53240b1b52f4d7", "7320c461ea6c1c855c0b718fb2a4b134"),
        ),
    ),  # fmt: skip
    "svhn": Source(
        "http://ufldl.stanford.edu/housenumbers/",
        (
            RemoteFile("train_32x32.mat", "e26dedcc434d2e4c54c9b2d4a06d8373"),
            RemoteFile("test_32x32.mat", "eb5a983be6a315427106f1b164d9cef3"),
        ),
    ),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/",
        (RemoteFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
    ),
}


def _md5_file(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _md5_gunzipped(path: Path) -> str | None:
    """md5 of the decompressed content, or None when the file is not a complete gzip stream."""
    h = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                h.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None
    return h.hexdigest()


def verify(path: Path, spec: RemoteFile) -> bool | None:
    """True if a known checksum matches, False if none does, None if no checksum is known."""
    if spec.md5 is None and spec.content_md5 is None:
        return None
    if spec.md5 is not None and _md5_file(path) == spec.md5:
        return True
    return spec.content_md5 is not None and _md5_gunzipped(path) == spec.content_md5


def is_present(dest: Path, spec: RemoteFile) -> bool:
    """The file, or its uncompressed twin for a .gz, already sits in ``dest``."""
    return (dest / spec.name).is_file() or (
        spec.name.endswith(".gz") and (dest / spec.name.removesuffix(".gz")).is_file()
    )


def _fetch(url: str, final: Path, spec: RemoteFile, timeout: float, fix: str) -> None:
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".part", dir=final.parent)
    except OSError as e:
        raise DataError(f"cannot write into {final.parent} ({e.strerror or e}); pass a writable --data-root") from e
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as resp:
                    expected = resp.headers.get("Content-Length")
                    got = 0
                    for chunk in iter(lambda: resp.read(_CHUNK), b""):
                        out.write(chunk)
                        got += len(chunk)
            except urllib.error.HTTPError as e:
                raise DataError(f"could not download {spec.name} from {url} (HTTP {e.code} {e.reason}); {fix}") from e
            except urllib.error.URLError as e:
                raise DataError(f"could not download {spec.name} from {url} ({e.reason}); {fix}") from e
            except (OSError, ValueError) as e:  # timeouts, resets, malformed URLs
                raise DataError(f"could not download {spec.name} from {url} ({e}); {fix}") from e
        if expected is not None and expected.isdigit() and int(expected) != got:
            raise DataError(
                f"could not download {spec.name} from {url} (connection closed after {got} of {expected} bytes); {fix}"
            )
        ok = verify(tmp, spec)
        if ok is False:
            known = " or ".join(f"{k} {v}" for k, v in (("md5", spec.md5), ("content md5", spec.content_md5)) if v)
            raise DataError(
                f"checksum mismatch for {spec.name} from {url}: expected {known}, got md5 {_md5_file(tmp)}; the "
                f"download was deleted. Retry (the server or a proxy may have sent a damaged file), or {fix}"
            )
        if ok is None:
            log.warning("%s: no published checksum is recorded, so this download is unverified", final)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def download(name: str, root=None, base_url: str | None = None, timeout: float = TIMEOUT_S) -> Path:
    """Fetch the files of dataset ``name`` into ``<root>/<name>/`` (skipping ones already there); returns
    that folder. ``base_url`` replaces the canonical folder URL (a mirror, a local server or file://)."""
    key = name.strip().lower().replace("_", "-")
    if key not in SOURCES:
        raise DataError(f"no download is defined for dataset '{name}'." + did_you_mean(key, SOURCES))
    src = SOURCES[key]
    dest = data_root(root) / key
    names = ", ".join(f.name for f in src.files)
    fix = f"put the files {names} under {dest}/ or pass --data-root"
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DataError(f"cannot create {dest} ({e.strerror or e}); pass a writable --data-root") from e
    base = (base_url or src.base_url).rstrip("/") + "/"
    for spec in src.files:
        if is_present(dest, spec):
            continue
        url = base + spec.name
        log.info("downloading %s -> %s", url, dest / spec.name)
        _fetch(url, dest / spec.name, spec, timeout, fix)
    return dest
