"""Reweighted wake-sleep (Bornschein & Bengio 2015) against a hand-written RWS, and on a linear-Gaussian
model whose posterior p_θ(h|x) is exact: the wake-q update must move q_λ(h|x) toward it."""

import torch
from torch import nn

from unidgm.api import build_model
from unidgm.core import DataSpec, GaussianEncoder, loss_from


class Linear(nn.Module):
    """A net with the parts' call signature net(x, c)."""

    def __init__(self, n_in, n_out):
        super().__init__()
        self.lin = nn.Linear(n_in, n_out)

    def forward(self, x, c=None):
        return self.lin(x)


def hand_written_rws(model, x, k):
    """One draw h_i ~ q(h|x); w̃_i ∝ p(x,h_i)/q(h_i|x) from those same h_i; the wake-q and wake-θ losses."""
    enc, dec, prior = model["encoder"], model["decoder"], model["prior"]
    h, mean, log_var = enc.rsample(x, k=k)
    h = h.detach()
    xk = x.unsqueeze(0).expand(k, *x.shape).reshape(-1, *x.shape[1:])
    log_px = dec.log_prob(xk, h.reshape(-1, h.shape[-1])).reshape(k, -1)
    log_w = log_px + prior.log_prob(h) - GaussianEncoder.log_prob_of(h, mean, log_var)
    w = torch.softmax(log_w.detach(), 0)
    return -(w * GaussianEncoder.log_prob_of(h, mean, log_var)).sum(0).mean(), -(w * log_px).sum(0).mean()


def linear_gaussian(k=400):
    """h ~ N(0, 1), x = w h + b + N(0, σ²) in 2-D; q(h|x) linear, starting at the prior N(0, 1)."""
    torch.manual_seed(0)
    model = build_model("wake_sleep", {"reweighted": True, "k": k, "z_dim": 1, "likelihood": "gaussian"},
                        spec=DataSpec((2,)))
    model["decoder"].net = Linear(1, 2)
    model["encoder"].net = Linear(2, 2)
    with torch.no_grad():
        model["decoder"].net.lin.weight.copy_(torch.tensor([[1.0], [0.5]]))
        model["decoder"].net.lin.bias.copy_(torch.tensor([0.2, -0.1]))
        model["encoder"].net.lin.weight.zero_()
        model["encoder"].net.lin.bias.zero_()
    return model


def test_wake_q_equals_hand_written_rws_on_the_same_draw():
    torch.manual_seed(1)
    model = build_model("wake_sleep", {"reweighted": True, "k": 5, "z_dim": 4, "hidden": (16,)}, spec=DataSpec((1, 8, 8)))
    x = torch.bernoulli(torch.full((6, 1, 8, 8), 0.3))
    for objective, which in ((model.phase("wake_q").objective, 0), (model.phase("wake").objective, 1)):
        torch.manual_seed(7)
        ours = loss_from(objective(model, {"x": x}))
        torch.manual_seed(7)
        ref = hand_written_rws(model, x, 5)[which]
        assert torch.allclose(ours, ref, atol=1e-5), (objective.__name__, float(ours), float(ref))


def test_wake_q_gradient_points_to_the_exact_posterior():
    model = linear_gaussian()
    x = torch.randn(64, 2) * 1.5
    torch.manual_seed(3)
    loss = loss_from(model.phase("wake_q").objective(model, {"x": x}))
    loss.backward()
    grad = model["encoder"].net.lin.weight.grad[0]  # the row giving q's mean from x
    # exact posterior N(μ, s²): s² = 1/(1 + Σ w_j²/σ_j²), μ = s² Σ w_j (x_j − b_j)/σ_j²
    w, b = model["decoder"].net.lin.weight[:, 0].detach(), model["decoder"].net.lin.bias.detach()
    var = model["decoder"].log_var.detach().exp()
    s2 = 1 / (1 + (w * w / var).sum())
    mu = s2 * ((x - b) * w / var).sum(1)
    # q = N(0, 1) now: d loss / d W_mean = −mean_b (μ_b − 0) x_b (the descent step moves the mean toward μ)
    expected = -(mu[:, None] * x).mean(0)
    cos = torch.nn.functional.cosine_similarity(grad, expected, dim=0)
    assert cos > 0.98 and torch.allclose(grad, expected, rtol=0.15), (grad, expected)
