"""Domain pairs: moons-rot, digits-inv, mnist-inv."""

import math

import numpy as np
import pytest
import torch

from unidgm.data import domain_pair, domain_pair_names, get_dataset
from unidgm.errors import DataError


def _rotate(x, degrees, centre=(0.5, 0.25)):
    t = math.radians(degrees)
    rot = torch.tensor([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    c = torch.tensor(centre)
    return (x - c) @ rot.T + c


def test_names():
    assert domain_pair_names() == ["digits-inv", "mnist-inv", "moons-rot"]
    with pytest.raises(DataError, match="Did you mean: moons-rot"):
        domain_pair("moon-rot")


def test_moons_rot_is_the_source_distribution_rotated():
    src, tgt = domain_pair("moons-rot")
    assert src.x.shape == tgt.x.shape == (2000, 2) and src.num_classes == 2
    assert torch.bincount(src.y).tolist() == [1000, 1000]
    assert len(domain_pair("moons-rot", "test")[0]) == 1000
    back = _rotate(tgt.x, -30)
    for c in (0, 1):  # class-wise means agree after undoing the rotation, and differ before
        torch.testing.assert_close(back[tgt.y == c].mean(0), src.x[src.y == c].mean(0), atol=0.05, rtol=0)
        assert float((tgt.x[tgt.y == c].mean(0) - src.x[src.y == c].mean(0)).norm()) > 0.2
    assert not torch.allclose(back, src.x, atol=0.05)  # a fresh draw: unpaired with the source
    s2, t2 = domain_pair("moons-rot", seed=0)
    assert torch.equal(src.x, s2.x) and torch.equal(tgt.x, t2.x)
    _, t90 = domain_pair("moons-rot:90")
    torch.testing.assert_close(_rotate(t90.x, -60), tgt.x, atol=1e-5, rtol=0)  # same draw, other angle
    with pytest.raises(DataError, match="must be degrees"):
        domain_pair("moons-rot:abc")


def test_digits_inv_disjoint_halves():
    src, tgt = domain_pair("digits-inv")
    full = get_dataset("digits")
    assert len(src) == len(tgt) == 750 and src.shape == (1, 8, 8)
    rows = torch.cat([src.x, 1 - tgt.x]).reshape(-1, 64).numpy()
    ref = full.x.reshape(-1, 64).numpy()
    order = lambda a: a[np.lexsort(a.T[::-1])]  # noqa: E731
    np.testing.assert_allclose(order(rows), order(ref), atol=1e-6)  # together: exactly the training set
    assert float(tgt.x.mean()) > 0.6 > float(src.x.mean())  # inverted: mostly white
    other, _ = domain_pair("digits-inv", seed=1)
    assert not torch.equal(other.x, src.x)


def test_mnist_inv_uses_the_mnist_files(tiny_mnist):
    root, arrays = tiny_mnist
    src, tgt = domain_pair("mnist-inv", "test", root=root)
    assert len(src) == len(tgt) == 10 and src.name == "mnist-inv:source" and tgt.name == "mnist-inv:target"
    images = torch.from_numpy(arrays["test"][0]).float() / 255
    both = torch.cat([src.x[:, 0], 1 - tgt.x[:, 0]])
    assert sorted(both.reshape(20, -1).sum(1).tolist()) == pytest.approx(sorted(images.reshape(20, -1).sum(1).tolist()))
