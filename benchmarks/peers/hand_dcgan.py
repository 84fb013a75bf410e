"""A hand-written DCGAN loop on MNIST: unidgm's DCGAN networks, the non-saturating GAN loss, Adam 2e-4
(β1 = 0.5, torch's default implementation), batch 64, one D step then one G step.

    python -m benchmarks.peers.hand_dcgan STEPS DATA_ROOT T0
"""

from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from benchmarks.peers.common import StepClock, finish, read_mnist
from unidgm.nets import DCGANDiscriminator, DCGANGenerator


def main(steps: int, root: str, t0: float) -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.from_numpy(read_mnist(root, "train"))
    G, D = DCGANGenerator(64, (1, 28, 28)), DCGANDiscriminator((1, 28, 28))
    og = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    od = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    clock, step, n, b = StepClock(100), 0, len(x), 64
    ones, zeros = torch.ones(b, 1), torch.zeros(b, 1)
    while step < steps:
        for idx in torch.randperm(n).split(b):
            if len(idx) < b or step >= steps:
                continue
            real = x[idx]
            with torch.no_grad():
                fake = G(torch.randn(b, 64))
            d_loss = F.binary_cross_entropy_with_logits(D(real), ones) + \
                F.binary_cross_entropy_with_logits(D(fake), zeros)
            od.zero_grad()
            d_loss.backward()
            od.step()
            g_loss = F.binary_cross_entropy_with_logits(D(G(torch.randn(b, 64))), ones)
            og.zero_grad()
            g_loss.backward()
            og.step()
            step += 1
            clock.tick(step)
    finish({"wall_s": time.time() - t0, "steps": steps, "step_ms": clock.marks})


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
