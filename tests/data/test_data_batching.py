"""Batches: per-epoch permutations, rank shards, resume."""

import itertools

import pytest
import torch

from unidgm.data import Batches
from unidgm.errors import DataError


def _ids(n):
    return torch.arange(n), torch.arange(n) * 10


def _epoch_ids(b, epoch):
    return torch.cat([ids for ids, _ in b.epoch_iter(epoch)]).tolist()


def test_epoch_has_no_overlap_and_order_changes_per_epoch():
    b = Batches(*_ids(103), batch_size=10, generator=torch.Generator().manual_seed(0))
    assert len(b) == 10  # drop_last: 103 // 10
    e0, e1 = _epoch_ids(b, 0), _epoch_ids(b, 1)
    assert len(e0) == 100 and len(set(e0)) == 100 and len(set(e1)) == 100
    assert e0 != e1
    assert e0 == _epoch_ids(Batches(*_ids(103), batch_size=10, generator=torch.Generator().manual_seed(0)), 0)
    assert e0 != _epoch_ids(Batches(*_ids(103), batch_size=10, generator=torch.Generator().manual_seed(1)), 0)
    for ids, tens in b.epoch_iter(3):  # tensors stay aligned
        assert torch.equal(tens, ids * 10) and ids.shape == (10,)


def test_no_shuffle_and_keep_last():
    b = Batches(torch.arange(7), batch_size=3, shuffle=False, drop_last=False)
    assert len(b) == 3
    assert [t.tolist() for (t,) in b.epoch_iter(0)] == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("n,world", [(100, 4), (103, 4), (5, 3)])
def test_rank_shards_disjoint_and_covering(n, world):
    shards = [
        Batches(torch.arange(n), batch_size=1, generator=torch.Generator().manual_seed(2), rank=r, world_size=world)
        for r in range(world)
    ]
    per_rank = -(-n // world)
    orders = [s.order(4).tolist() for s in shards]
    assert all(len(o) == per_rank and len(s) == per_rank for o, s in zip(orders, shards))
    flat = sum(orders, [])
    assert set(flat) == set(range(n))  # covering
    if n % world == 0:
        assert len(set(flat)) == n  # disjoint
    else:
        assert len(flat) - len(set(flat)) == per_rank * world - n  # only the wrap-around padding repeats


def test_iter_continues_across_epochs_and_resume_is_exact():
    data = torch.randn(50, 3)

    def make():
        return Batches(data, torch.arange(50), batch_size=8, generator=torch.Generator().manual_seed(9))

    ref = make()
    reference = [y.tolist() for _, y in itertools.islice(iter(ref), 20)]  # 6 per epoch: crosses 3 epochs
    assert reference[:6] == [y.tolist() for _, y in ref.epoch_iter(0)]
    assert reference[6:12] == [y.tolist() for _, y in ref.epoch_iter(1)]

    b = make()
    it = iter(b)
    first = [next(it)[1].tolist() for _ in range(9)]  # stop mid-epoch 1
    state = b.state_dict()
    assert (state["epoch"], state["position"]) == (1, 3)
    resumed = make()
    resumed.load_state_dict(state)
    rest = [y.tolist() for _, y in itertools.islice(iter(resumed), 11)]
    assert first + rest == reference
    # the same x rows too, bit for bit
    x_ref = [x for x, _ in itertools.islice(iter(make()), 20)]
    again = make()
    again.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(x_ref[9:], (x for x, _ in itertools.islice(iter(again), 11))))


def test_state_at_epoch_boundary_and_mismatch():
    b = Batches(torch.arange(20), batch_size=5, generator=torch.Generator().manual_seed(0))
    it = iter(b)
    for _ in range(4):
        next(it)
    assert (b.state_dict()["epoch"], b.state_dict()["position"]) == (1, 0)
    other = Batches(torch.arange(20), batch_size=4, generator=torch.Generator().manual_seed(0))
    with pytest.raises(DataError, match="batch_size: saved 5, now 4"):
        other.load_state_dict(b.state_dict())


def test_batches_errors():
    with pytest.raises(DataError, match="differ in length"):
        Batches(torch.zeros(3), torch.zeros(4), batch_size=1)
    with pytest.raises(DataError, match="exceeds the 5 examples per rank"):
        Batches(torch.zeros(10), batch_size=6, world_size=2)
    with pytest.raises(DataError, match="rank < world_size"):
        Batches(torch.zeros(10), batch_size=1, rank=2, world_size=2)
    with pytest.raises(DataError, match="drop any None"):
        Batches(torch.zeros(3), None, batch_size=1)


def test_load_state_dict_takes_effect_on_a_live_iterator():
    b = Batches(torch.arange(12), batch_size=3, generator=torch.Generator().manual_seed(1))
    it = iter(b)
    next(it)
    b.load_state_dict({"epoch": 2, "position": 1})
    assert next(it)[0].tolist() == list(b.epoch_iter(2, start=1))[0][0].tolist()
    assert (b.state_dict()["epoch"], b.state_dict()["position"]) == (2, 2)
