"""M2's sum over labels with the encoder's input layer computed once per example (``rsample_each``,
``MLP.forward_each``): the same numbers as running the net on every (example, label) pair, up to rounding."""

import torch

from unidgm.api import build_model
from unidgm.core import DataSpec
from unidgm.models.svae import unlabelled_bound
from unidgm.nets import MLP


def test_forward_each_is_the_net_on_every_pair_label_major():
    torch.manual_seed(0)
    net = MLP((1, 8, 8), (6,), hidden=(16, 16), cond_dim=3)
    x, cs = torch.rand(5, 1, 8, 8), torch.eye(3)
    pairs = net(x.repeat(3, 1, 1, 1), cs.repeat_interleave(5, 0))
    each = net.forward_each(x, cs)
    assert each.shape == pairs.shape == (15, 6) and torch.allclose(each, pairs, atol=1e-6)
    g_each = torch.autograd.grad(each.square().sum(), list(net.parameters()))
    g_pairs = torch.autograd.grad(pairs.square().sum(), list(net.parameters()))
    assert all(torch.allclose(a, b, rtol=1e-4, atol=1e-6) for a, b in zip(g_each, g_pairs))


def test_rsample_each_draws_the_same_noise_as_rsample_on_the_pairs():
    torch.manual_seed(0)
    model = build_model("svae", {"hidden": (16,), "z_dim": 4}, spec=DataSpec((1, 8, 8), 10))
    enc, x, cs = model["encoder"], torch.rand(4, 1, 8, 8), torch.eye(10)
    torch.manual_seed(1)
    z1, m1, v1 = enc.rsample_each(x, cs)
    torch.manual_seed(1)
    z2, m2, v2 = enc.rsample(x.repeat(10, 1, 1, 1), cs.repeat_interleave(4, 0))
    for a, b in ((z1, z2), (m1, m2), (v1, v2)):
        assert a.shape == (40, 4) and torch.allclose(a, b, atol=1e-5)


def test_m2_unlabelled_bound_matches_the_sum_over_repeated_pairs():
    torch.manual_seed(0)
    model = build_model("svae", {"hidden": (16,), "z_dim": 4}, spec=DataSpec((1, 8, 8), 10))
    x = torch.bernoulli(torch.rand(6, 1, 8, 8))
    torch.manual_seed(2)
    fast = unlabelled_bound(model, x)
    # the same bound written out over the 60 repeated (x, c) pairs, with the same noise
    torch.manual_seed(2)
    k, n = 10, 6
    labels = torch.arange(k).repeat_interleave(n)
    xr, c = x.repeat(k, 1, 1, 1), torch.nn.functional.one_hot(labels, k).float()
    z, mean, log_var = model["encoder"].rsample(xr, c)
    kl = model["encoder"].kl_to_standard_normal(mean, log_var)
    per_label = (model["decoder"].log_prob(xr, z, c) - kl).reshape(k, n).T - torch.log(torch.tensor(10.0))
    logits = model["classifier"](x)
    probs = logits.softmax(-1)
    slow = (probs * per_label).sum(-1) - (probs * logits.log_softmax(-1)).sum(-1)
    assert torch.allclose(fast, slow, atol=1e-4)
