"""A hand-written VAE training loop: what a user writes in plain PyTorch for the job unidgm's
``train vae`` does (784-500-500-50 ReLU MLPs, Bernoulli decoder, closed-form KL, Adam 1e-3 with torch's
default implementation, batch 100, fixed-binarised MNIST, a fresh permutation per epoch).

    python -m benchmarks.peers.hand_vae STEPS DATA_ROOT T0
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from benchmarks.peers.common import StepClock, finish, read_mnist


def mlp(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(i, 500), nn.ReLU(), nn.Linear(500, 500), nn.ReLU(), nn.Linear(500, o))


def elbo(enc, dec, x):
    h = enc(x.flatten(1))
    mean, log_var = h.chunk(2, -1)
    z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
    logits = dec(z)
    log_px = -F.binary_cross_entropy_with_logits(logits, x.flatten(1), reduction="none").sum(-1)
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)
    return log_px - kl


def main(steps: int, root: str, t0: float) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    x = torch.bernoulli(torch.from_numpy(read_mnist(root, "train")), generator=g)
    enc, dec = mlp(784, 100), mlp(50, 784)
    opt = torch.optim.Adam([*enc.parameters(), *dec.parameters()], lr=1e-3)
    clock, step, n = StepClock(), 0, len(x)
    while step < steps:
        for idx in torch.randperm(n).split(100):
            if len(idx) < 100 or step >= steps:
                continue
            loss = -elbo(enc, dec, x[idx]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            clock.tick(step)
    trained = time.time()
    xt = torch.bernoulli(torch.from_numpy(read_mnist(root, "test")), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        test = float(torch.cat([elbo(enc, dec, xt[i:i + 500]) for i in range(0, len(xt), 500)]).mean())
    finish({"wall_s": trained - t0, "steps": steps, "step_ms": clock.marks, "test_elbo": test})


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
