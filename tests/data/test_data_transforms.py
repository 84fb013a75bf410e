"""balanced_subset and binarize."""

import pytest
import torch

from unidgm.data import Dataset, balanced_subset, binarize, get_dataset
from unidgm.errors import ConfigError, DataError


def _indexed(n=200, k=4):
    """x[:, 0] is the example's own index, so subsets can be traced back."""
    y = torch.randint(k, (n,), generator=torch.Generator().manual_seed(3))
    return Dataset.from_tensors(torch.arange(n, dtype=torch.float32)[:, None], y, num_classes=k)


def test_balanced_subset_balance_disjoint_complete():
    ds = _indexed()
    lab, rest = balanced_subset(ds, 40, seed=0)
    assert torch.bincount(lab.y, minlength=4).tolist() == [10, 10, 10, 10]
    li, ri = lab.x[:, 0].long(), rest.x[:, 0].long()
    assert set(li.tolist()).isdisjoint(ri.tolist())
    assert sorted(li.tolist() + ri.tolist()) == list(range(200))
    assert torch.equal(lab.y, ds.y[li]) and torch.equal(rest.y, ds.y[ri])  # labels still match their examples
    assert bool((li.diff() > 0).all()) and bool((ri.diff() > 0).all())  # original order kept


def test_balanced_subset_is_deterministic_per_seed():
    ds = _indexed()
    a, _ = balanced_subset(ds, 40, seed=7)
    b, _ = balanced_subset(ds, 40, seed=7)
    c, _ = balanced_subset(ds, 40, seed=8)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)


def test_balanced_subset_on_digits_like_paper_protocol():
    ds = get_dataset("digits")
    lab, rest = balanced_subset(ds, 100, seed=0)
    assert len(lab) == 100 and len(rest) == 1400
    assert torch.bincount(lab.y, minlength=10).tolist() == [10] * 10


def test_balanced_subset_errors():
    ds = _indexed()
    with pytest.raises(DataError, match="positive multiple of the 4 classes.*e.g. n=40"):
        balanced_subset(ds, 42, seed=0)
    with pytest.raises(DataError, match=r"class 2 of 'tensors' has only 39; lower n to at most 156"):
        balanced_subset(ds, 400, seed=0)
    with pytest.raises(DataError, match="needs labels"):
        balanced_subset(Dataset.from_tensors(torch.zeros(4, 2)), 2, seed=0)


def test_binarize_modes():
    x = torch.rand(2000, 10, generator=torch.Generator().manual_seed(0))
    d1 = binarize(x, "dynamic", generator=torch.Generator().manual_seed(5))
    d2 = binarize(x, "dynamic", generator=torch.Generator().manual_seed(5))
    d3 = binarize(x, "dynamic", generator=torch.Generator().manual_seed(6))
    assert torch.equal(d1, d2) and not torch.equal(d1, d3)
    assert set(d1.unique().tolist()) == {0.0, 1.0} and d1.dtype == torch.float32
    assert abs(float(d1.mean()) - float(x.mean())) < 0.01  # Bernoulli(x) has mean x
    f1, f2 = binarize(x, "fixed"), binarize(x, "fixed")
    torch.manual_seed(123)  # the global RNG must not matter for the fixed binarisation
    assert torch.equal(f1, f2) and torch.equal(f1, binarize(x, "fixed"))
    assert not torch.equal(f1, binarize(x, "fixed", seed=1))
    assert torch.equal(binarize(torch.tensor([0.2, 0.5, 0.51, 1.0]), "threshold"), torch.tensor([0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(binarize(torch.tensor([0.0, 1.0]), "fixed"), torch.tensor([0.0, 1.0]))


def test_binarize_errors():
    with pytest.raises(ConfigError, match="Did you mean: dynamic"):
        binarize(torch.rand(3), "dynamc")
    with pytest.raises(DataError, match=r"intensities in \[0, 1\]"):
        binarize(torch.tensor([0.5, 2.0]))
    with pytest.raises(DataError, match="float intensities"):
        binarize(torch.tensor([0, 1]), "threshold")
