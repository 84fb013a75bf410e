"""Registry, error messages, Dataset, digits, toy mixtures and the shared MNIST."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from unidgm.data import Dataset, data_root, dataset_names, describe_datasets, get_dataset
from unidgm.errors import DataError


def test_names_and_descriptions():
    names = dataset_names()
    assert names == sorted(["mnist", "fashion-mnist", "kmnist", "svhn", "cifar10", "digits", "ring8", "grid25"])
    desc = describe_datasets()
    assert set(names) <= set(desc) and {"idx:", "npz:", "npy:"} <= set(desc)


def test_unknown_name_suggests_nearest():
    with pytest.raises(DataError) as err:
        get_dataset("mnsit")
    msg = str(err.value)
    assert "unknown dataset 'mnsit'" in msg and "Did you mean: mnist" in msg and "npz:<path>" in msg
    with pytest.raises(DataError, match=r"path forms are idx:<path>.*Did you mean: npz"):
        get_dataset("npx:foo.npz")
    with pytest.raises(DataError, match="unknown split 'valid'.*Carve a validation set from 'train'"):
        get_dataset("digits", "valid")


def test_missing_root_names_files_place_and_download(tmp_path):
    root = tmp_path / "nowhere"
    with pytest.raises(DataError) as err:
        get_dataset("mnist", "test", root=root)
    msg = str(err.value)
    assert f"the data root {root} does not exist" in msg
    assert str(root / "mnist" / "t10k-images-idx3-ubyte.gz") in msg
    assert str(root / "mnist" / "t10k-labels-idx1-ubyte.gz") in msg
    assert "--download" in msg and "--data-root" in msg and "ossci-datasets" in msg
    # root exists but one file is missing: only that file is named
    (root / "svhn").mkdir(parents=True)
    with pytest.raises(DataError) as err:
        get_dataset("svhn", root=root)
    assert "does not exist" not in str(err.value) and "train_32x32.mat" in str(err.value)
    assert "test_32x32.mat" not in str(err.value)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("UNIDGM_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("UNIDGM_DATA")
    assert data_root() == Path.home() / ".cache" / "unidgm"


def test_env_root_is_used_by_get_dataset(monkeypatch, tiny_mnist):
    root, arrays = tiny_mnist
    monkeypatch.setenv("UNIDGM_DATA", str(root))
    assert get_dataset("MNIST", "test").y.tolist() == arrays["test"][1].tolist()


def test_from_tensors_validation():
    ds = Dataset.from_tensors(torch.rand(5, 3), torch.tensor([0, 2, 1, 2, 0]))
    assert ds.num_classes == 3 and ds.shape == (3,) and len(ds) == 5 and not ds.is_image
    with pytest.raises(DataError, match=r"dtype torch.uint8, expected floating point.*x.float\(\) / 255"):
        Dataset.from_tensors(torch.zeros(2, 3, dtype=torch.uint8))
    with pytest.raises(DataError, match="NaN/inf"):
        Dataset.from_tensors(torch.tensor([[0.0], [math.inf]]))
    with pytest.raises(DataError, match=r"shape \(4,\)"):
        Dataset.from_tensors(torch.zeros(4))
    with pytest.raises(DataError, match="y has shape"):
        Dataset.from_tensors(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long))
    with pytest.raises(DataError, match="negative label"):
        Dataset.from_tensors(torch.zeros(2, 2), torch.tensor([0, -1]))
    with pytest.raises(DataError, match="out of range for num_classes=2"):
        Dataset.from_tensors(torch.zeros(2, 2), torch.tensor([0, 2]), num_classes=2)


def test_subset_keeps_metadata():
    ds = get_dataset("ring8", "test")
    sub = ds.subset([3, 1])
    assert torch.equal(sub.x, ds.x[[3, 1]]) and sub.y.tolist() == ds.y[[3, 1]].tolist()
    assert sub.modes is ds.modes and sub.mode_std == 0.02 and sub.num_classes == 8
    assert len(ds.subset(ds.y == 0)) == int((ds.y == 0).sum())
    assert len(ds.subset(slice(0, 7))) == 7


def test_digits_split_is_fixed_and_disjoint():
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test", seed=123)
    assert train.x.shape == (1500, 1, 8, 8) and test.x.shape == (297, 1, 8, 8)
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    assert torch.equal(test.x, get_dataset("digits", "test").x)  # the seed does not move the test set
    from sklearn.datasets import load_digits

    d = load_digits()
    all_rows = np.concatenate([train.x.reshape(-1, 64).numpy(), test.x.reshape(-1, 64).numpy()]) * 16
    ref = d.data.astype(np.float32)
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731 - compare as multisets of rows
    assert np.array_equal(order(np.round(all_rows)), order(ref))
    assert torch.bincount(train.y, minlength=10).min() > 130


@pytest.mark.parametrize("name,m,std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_toy_mixtures(name, m, std):
    ds = get_dataset(name, "train", seed=0)
    assert ds.x.shape == (10_000, 2) and ds.num_classes == m and ds.mode_std == std
    assert ds.modes.shape == (m, 2) and len(get_dataset(name, "test")) == 2000
    # every sample sits within 5 std of its labelled mode, which is also its nearest mode
    dist = torch.cdist(ds.x, ds.modes)
    assert torch.equal(dist.argmin(1), ds.y)
    assert float((ds.x - ds.modes[ds.y]).abs().max()) < 5 * std
    assert abs(float((ds.x - ds.modes[ds.y]).std()) - std) < 0.05 * std
    counts = torch.bincount(ds.y, minlength=m).float()
    assert float(counts.min()) > 0.8 * 10_000 / m
    assert torch.equal(ds.x, get_dataset(name, "train", seed=0).x)
    assert not torch.allclose(ds.x[:100], get_dataset(name, "train", seed=1).x[:100])
    assert not torch.allclose(ds.x[:100], get_dataset(name, "test", seed=0).x[:100])


def test_toy_mode_positions():
    ring = get_dataset("ring8", "test").modes
    torch.testing.assert_close(ring.norm(dim=1), torch.full((8,), 2.0))
    torch.testing.assert_close(ring[2], torch.tensor([0.0, 2.0]), atol=1e-6, rtol=0)
    grid = get_dataset("grid25", "test").modes
    assert sorted(map(tuple, grid.tolist())) == [(a, b) for a in (-4, -2, 0, 2, 4) for b in (-4, -2, 0, 2, 4)]


@pytest.mark.needs_shared
def test_shared_mnist_counts(shared_mnist_root):
    train = get_dataset("mnist", "train", root=shared_mnist_root)
    test = get_dataset("mnist", "test", root=shared_mnist_root)
    assert len(train) == 60_000 and len(test) == 10_000 and train.shape == (1, 28, 28)
    counts = torch.bincount(train.y, minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0


def test_bare_path_gets_a_prefix_hint(tmp_path):
    path = tmp_path / "mine.npz"
    np.savez(path, x=np.zeros((2, 2)))
    with pytest.raises(DataError, match=f"write npz:{path}"):
        get_dataset(str(path))


def test_repr_is_short_and_negative_seed_works():
    ds = get_dataset("grid25", "test", seed=-3)
    assert repr(ds) == "Dataset(name='grid25', x=[2000, 2], y=[2000], num_classes=25, modes=[25, 2], mode_std=0.05)"
    assert not torch.equal(ds.x, get_dataset("grid25", "test", seed=3).x)
