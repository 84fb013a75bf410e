"""File readers: IDX, idx:<dir>, SVHN .mat, CIFAR-10 pickles and archive, npz/npy."""

import gzip
import io
import os
import pickle
import tarfile

import numpy as np
import pytest
import scipy.io
import torch

from unidgm.data import get_dataset
from unidgm.data.readers import read_cifar_batch, read_idx, read_svhn_mat
from unidgm.errors import DataError

# ------------------------------------------------------------------------------------------------ IDX


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_gz_and_raw_with_exact_values(tmp_path, idx, gz):
    arrays = idx.arrays()
    root = tmp_path / "r"
    idx.write_tree(root / "mnist", arrays, gz=gz)
    for split in ("train", "test"):
        images, labels = arrays[split]
        ds = get_dataset("mnist", split, root=root)
        assert ds.x.dtype == torch.float32 and ds.x.shape == (len(images), 1, 6, 5)
        torch.testing.assert_close(ds.x[:, 0], torch.from_numpy(images).float() / 255, rtol=0, atol=0)
        assert ds.y.dtype == torch.int64 and ds.y.tolist() == labels.tolist()
        assert ds.num_classes == 10 and ds.is_image and ds.shape == (1, 6, 5)


def test_idx_wrong_magic(tmp_path, idx):
    # a label file (magic 0x801) where the images belong: the message names both magics
    path = idx.write(tmp_path / "train-images-idx3-ubyte", np.zeros((3, 2, 2)), magic=0x00000801, dims=(12,))
    with pytest.raises(DataError, match=r"0x00000801.*expected 0x00000803"):
        read_idx(path, 0x00000803)
    garbage = tmp_path / "g"
    garbage.write_bytes(b"\x12\x34\x56\x78" + bytes(8))
    with pytest.raises(DataError, match="not a valid IDX header"):
        read_idx(garbage)


def test_idx_inconsistent_dims(tmp_path, idx):
    short = idx.write(tmp_path / "a.gz", np.zeros((4, 3, 3)), dims=(5, 3, 3))  # header claims one image more
    with pytest.raises(DataError, match=r"truncated: its header says 5 x 3 x 3 = 45 data bytes but it holds 36"):
        read_idx(short, 0x803)
    long = idx.write(tmp_path / "b", np.zeros((4, 3, 3)), dims=(3, 3, 3))
    with pytest.raises(DataError, match="inconsistent with the 36 data bytes"):
        read_idx(long, 0x803)


def test_idx_truncated_gzip_says_delete_and_redownload(tmp_path, idx):
    good = gzip.compress(idx.bytes(np.arange(600).reshape(6, 10, 10) % 256))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError) as err:
        read_idx(path, 0x803)
    msg = str(err.value)
    assert "truncated" in msg and str(path) in msg and "delete it and download it again" in msg


def test_idx_image_label_count_mismatch(tmp_path, idx):
    arrays = idx.arrays()
    images, labels = arrays["train"]
    arrays["train"] = (images, labels[:-3])
    idx.write_tree(tmp_path / "mnist", arrays)
    with pytest.raises(DataError, match=r"holds 40 images but train-labels-idx1-ubyte.gz holds 37 labels"):
        get_dataset("mnist", root=tmp_path)


def test_idx_dir_equals_mnist_on_the_same_files(tiny_mnist):
    root, _ = tiny_mnist
    for split in ("train", "test"):
        a = get_dataset("mnist", split, root=root)
        b = get_dataset(f"idx:{root / 'mnist'}", split)
        assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and b.num_classes == 10


def test_idx_dir_finds_other_names_and_reports_ambiguity(tmp_path, idx):
    arrays = idx.arrays()
    folder = tmp_path / "emnist"
    idx.write(folder / "emnist-train-images.idx3", arrays["train"][0])
    idx.write(folder / "emnist-train-labels.idx1.gz", arrays["train"][1])
    idx.write(folder / "emnist-test-images.idx3", arrays["test"][0])
    idx.write(folder / "emnist-test-labels.idx1", arrays["test"][1])
    test = get_dataset(f"idx:{folder}", "test")
    assert test.y.tolist() == arrays["test"][1].tolist()
    idx.write(folder / "other-train-images", arrays["train"][0])
    with pytest.raises(DataError, match="several train images files"):
        get_dataset(f"idx:{folder}", "train")
    with pytest.raises(DataError, match="no such folder"):
        get_dataset(f"idx:{tmp_path / 'nope'}")


# ------------------------------------------------------------------------------------------------ SVHN


def test_svhn_mat_layout_and_label_ten_is_zero(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.integers(0, 256, (32, 32, 3, 5), dtype=np.uint8)
    y = np.array([[10], [1], [9], [10], [3]], dtype=np.uint8)
    folder = tmp_path / "svhn"
    folder.mkdir()
    scipy.io.savemat(folder / "test_32x32.mat", {"X": X, "y": y})
    ds = get_dataset("svhn", "test", root=tmp_path)
    assert ds.x.shape == (5, 3, 32, 32) and ds.num_classes == 10
    assert ds.y.tolist() == [0, 1, 9, 0, 3]
    # x[n, c, h, w] is X[h, w, c, n] / 255
    assert ds.x[2, 1, 7, 30].item() == pytest.approx(X[7, 30, 1, 2] / 255)
    torch.testing.assert_close(ds.x[4].permute(1, 2, 0), torch.from_numpy(X[..., 4]).float() / 255)


def test_svhn_bad_files(tmp_path):
    bad = tmp_path / "bad.mat"
    bad.write_bytes(b"MATLAB 5.0 but not really" + bytes(10))
    with pytest.raises(DataError, match="not a readable .mat file"):
        read_svhn_mat(bad)
    wrong = tmp_path / "wrong.mat"
    scipy.io.savemat(wrong, {"images": np.zeros((2, 2))})
    with pytest.raises(DataError, match=r"expected variables 'X' and 'y', found \['images'\]"):
        read_svhn_mat(wrong)


# ------------------------------------------------------------------------------------------------ CIFAR-10


def _cifar_batch(n, seed, protocol=4):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, n)]
    batch = {b"batch_label": b"test", b"data": data, b"labels": labels, b"filenames": [b"a.png"] * n}
    return pickle.dumps(batch, protocol=protocol), data, labels


def _write_cifar_dir(folder, sizes=(3, 2, 2, 1, 2, 4)):
    folder.mkdir(parents=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    content = {}
    for seed, (name, n) in enumerate(zip(names, sizes)):
        blob, data, labels = _cifar_batch(n, seed)
        (folder / name).write_bytes(blob)
        content[name] = (data, labels)
    return content


def test_cifar_batches_folder(tmp_path):
    content = _write_cifar_dir(tmp_path / "cifar10" / "cifar-10-batches-py")
    train = get_dataset("cifar10", "train", root=tmp_path)
    test = get_dataset("cifar10", "test", root=tmp_path)
    assert train.x.shape == (10, 3, 32, 32) and test.x.shape == (4, 3, 32, 32)
    expected = np.concatenate([content[f"data_batch_{i}"][0] for i in range(1, 6)])
    torch.testing.assert_close(train.x.reshape(10, -1), torch.from_numpy(expected).float() / 255)
    assert train.y.tolist() == sum((content[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert test.y.tolist() == content["test_batch"][1]
    # channel-first: the first 1024 bytes of a row are the red plane
    assert test.x[0, 0, 0, 1].item() == pytest.approx(content["test_batch"][0][0, 1] / 255)
    assert test.x[0, 2, 31, 31].item() == pytest.approx(content["test_batch"][0][0, 3071] / 255)


@pytest.mark.parametrize("protocol", [3, 5])
def test_cifar_batch_other_pickle_protocols(protocol):
    blob, data, labels = _cifar_batch(2, 0, protocol)
    got, lab = read_cifar_batch(io.BytesIO(blob), "x")
    assert np.array_equal(got, data) and lab.tolist() == labels


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / "pwned"
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    _write_cifar_dir(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(marker), b"labels": []}))
    with pytest.raises(DataError, match=r"refusing to unpickle (posix|nt)\.system.*not a genuine batch"):
        get_dataset("cifar10", "test", root=tmp_path)
    assert not marker.exists()


def _tar_gz(path, members):
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))


def test_cifar_archive_is_extracted_once(tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    members = []
    for i, name in enumerate([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]):
        members.append((f"cifar-10-batches-py/{name}", _cifar_batch(2, i)[0]))
    _tar_gz(folder / "cifar-10-python.tar.gz", members)
    train = get_dataset("cifar10", "train", root=tmp_path)
    assert len(train) == 10
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    test = get_dataset("cifar10", "test", root=tmp_path)
    assert test.y.tolist() == _cifar_batch(2, 5)[2]


@pytest.mark.parametrize("bad", ["../escape", "/abs/escape", "link"])
def test_cifar_archive_path_traversal_refused(tmp_path, bad):
    folder = tmp_path / "data" / "cifar10"
    folder.mkdir(parents=True)
    archive = folder / "cifar-10-python.tar.gz"
    if bad == "link":
        with tarfile.open(archive, "w:gz") as tar:
            info = tarfile.TarInfo("cifar-10-batches-py/test_batch")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    else:
        _tar_gz(archive, [("cifar-10-batches-py/test_batch", _cifar_batch(1, 0)[0]), (bad, b"x")])
    with pytest.raises(DataError, match="unsafe archive member"):
        get_dataset("cifar10", "test", root=tmp_path / "data")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "data" / "escape").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["cifar-10-python.tar.gz"]  # nothing half-extracted


def test_cifar_truncated_archive(tmp_path):
    folder = tmp_path / "cifar10"
    folder.mkdir()
    _tar_gz(folder / "full.tar.gz", [("cifar-10-batches-py/test_batch", os.urandom(50_000))])
    blob = (folder / "full.tar.gz").read_bytes()
    (folder / "full.tar.gz").unlink()
    (folder / "cifar-10-python.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        get_dataset("cifar10", "test", root=tmp_path)
    assert [p.name for p in folder.iterdir()] == ["cifar-10-python.tar.gz"]


# ------------------------------------------------------------------------------------------------ npz / npy


def test_npz_train_and_test_keys(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 4, 3), dtype=np.uint8)
    x_test = rng.random((2, 4, 3, 3)).astype(np.float64)  # NHWC float: transposed, values kept
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=np.array([0, 1, 2, 0, 1, 2]), x_test=x_test)
    train = get_dataset(f"npz:{path}")
    assert train.x.shape == (6, 1, 4, 3) and train.num_classes == 3
    torch.testing.assert_close(train.x[:, 0], torch.from_numpy(x).float() / 255)
    assert train.y.tolist() == [0, 1, 2, 0, 1, 2]
    test = get_dataset(f"npz:{path}", "test")
    assert test.x.shape == (2, 3, 4, 3) and test.y is None
    torch.testing.assert_close(test.x.permute(0, 2, 3, 1), torch.from_numpy(x_test).float())


def test_npz_without_test_arrays_and_bad_contents(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((3, 2), np.float32))
    with pytest.raises(DataError, match=r"no array 'x_test'.*save the test examples as 'x_test'"):
        get_dataset(f"npz:{path}", "test")
    np.savez(path, images=np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"no array 'x'.*found \['images'\]"):
        get_dataset(f"npz:{path}")
    np.savez(path, x=np.array([[0.0, np.nan]]))
    with pytest.raises(DataError, match="NaN/inf"):
        get_dataset(f"npz:{path}")
    np.savez(path, x=np.zeros((2, 2)), y=np.array([0, 1, 2]))
    with pytest.raises(DataError, match=r"y has shape \(3,\) but x has 2 examples"):
        get_dataset(f"npz:{path}")
    with pytest.raises(DataError, match="no such file"):
        get_dataset(f"npz:{tmp_path / 'missing.npz'}")


def test_npy_vectors_and_refusals(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.arange(12, dtype=np.float32).reshape(6, 2))
    ds = get_dataset(f"npy:{path}")
    assert ds.shape == (2,) and ds.y is None and not ds.is_image and ds.x[5].tolist() == [10.0, 11.0]
    with pytest.raises(DataError, match="no 'test' split"):
        get_dataset(f"npy:{path}", "test")
    np.save(path, np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="not a readable NumPy file"):
        get_dataset(f"npy:{path}")
    np.save(path, np.arange(5, dtype=np.int64).reshape(5, 1))
    with pytest.raises(DataError, match="save images as uint8"):
        get_dataset(f"npy:{path}")


def test_mnist_label_out_of_range(tmp_path, idx):
    arrays = idx.arrays()
    arrays["test"] = (arrays["test"][0], np.full(20, 11, np.uint8))
    idx.write_tree(tmp_path / "mnist", arrays)
    with pytest.raises(DataError, match="label 11 outside 0..9"):
        get_dataset("mnist", "test", root=tmp_path)
