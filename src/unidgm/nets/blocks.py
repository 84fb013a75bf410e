"""Networks used by the parts: MLPs for vectors, toy and 8x8 data; DCGAN blocks for 28x28/32x32.

Every net has the signature ``net(x, c=None)``: ``c`` is an optional one-hot condition (labels),
concatenated to the input of MLPs and of the DCGAN generator, and broadcast as constant feature
maps into the DCGAN discriminator's input.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

Shape = tuple[int, ...]


def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "leaky": nn.LeakyReLU(0.2), "tanh": nn.Tanh(), "softplus": nn.Softplus()}[name]


_OUT = {None: nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


class MLP(nn.Module):
    """Flatten → [Linear, act, (Dropout)]* → Linear → reshape to ``out_shape`` (the paper's MNIST VAE: 784-500-500).

    ``dropout`` > 0 adds dropout after every hidden activation (a regulariser for small training sets);
    ``batch_norm`` puts BatchNorm before every hidden activation (an MLP GAN generator's usual stabiliser,
    as in DCGAN's). With neither, the module tree, and so every checkpoint's keys, are those of the plain MLP."""

    def __init__(self, in_shape: Shape, out_shape: Shape, hidden=(256, 256), cond_dim: int = 0,
                 act: str = "relu", out_act: str | None = None, noise_dim: int = 0, dropout: float = 0.0,
                 batch_norm: bool = False):
        super().__init__()
        self.out_shape, self.cond_dim, self.noise_dim = tuple(out_shape), cond_dim, noise_dim
        dims = [math.prod(in_shape) + cond_dim + noise_dim, *hidden]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += ([nn.Linear(a, b)] + ([nn.BatchNorm1d(b)] if batch_norm else []) + [_act(act)]
                       + ([nn.Dropout(dropout)] if dropout else []))
        layers += [nn.Linear(dims[-1], math.prod(out_shape)), _OUT[out_act]()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        h = x.flatten(1)
        if self.cond_dim:
            h = torch.cat([h, c.to(h.dtype)], dim=1)
        if self.noise_dim:  # an implicit distribution: the net itself injects ε (AVB's encoder)
            h = torch.cat([h, torch.randn(h.shape[0], self.noise_dim, device=h.device, dtype=h.dtype)], 1)
        return self.layers(h).reshape(-1, *self.out_shape)

    def forward_each(self, x: Tensor, cs: Tensor) -> Tensor:
        """The net on every pair (x_i, c_j) of n examples and k conditions, label-major (row j·n + i), as
        ``forward(x.repeat(k), cs.repeat_interleave(n))``. The first layer is linear in [x; c], so its x part
        is computed once per example rather than once per pair: M2 sums every label out (k = 10), and this
        layer (784 inputs) was the largest matmul of its step."""
        if not self.cond_dim or self.noise_dim:
            raise ValueError("forward_each needs a conditional MLP without injected noise")
        first, n, k = self.layers[0], x.shape[0], cs.shape[0]
        dx = first.in_features - self.cond_dim
        hx = nn.functional.linear(x.flatten(1), first.weight[:, :dx])  # [n, h]
        hc = nn.functional.linear(cs.to(hx.dtype), first.weight[:, dx:], first.bias)  # [k, h]
        h = (hc.unsqueeze(1) + hx.unsqueeze(0)).reshape(k * n, -1)
        return self.layers[1:](h).reshape(-1, *self.out_shape)


class DCGANGenerator(nn.Module):
    """Radford et al. (2015): Linear → [ConvTranspose, BatchNorm, ReLU]* → ConvTranspose, for 28x28 and 32x32."""

    def __init__(self, z_dim: int, out_shape: Shape, cond_dim: int = 0, width: int = 64,
                 out_act: str | None = "sigmoid"):
        super().__init__()
        channels, size = out_shape[0], out_shape[-1]
        if size not in (28, 32):
            raise ValueError(f"DCGAN generator supports 28x28 or 32x32 images, got {size}: use arch=mlp")
        self.cond_dim = cond_dim
        start, ups = (7, 2) if size == 28 else (4, 3)
        ch = width * 2 ** (ups - 1)
        self.project = nn.Sequential(nn.Linear(z_dim + cond_dim, ch * start * start),
                                     nn.BatchNorm1d(ch * start * start), nn.ReLU())
        self.start, self.ch = start, ch
        layers: list[nn.Module] = []
        for _ in range(ups - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1), nn.BatchNorm2d(ch // 2), nn.ReLU()]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), _OUT[out_act]()]
        self.body = nn.Sequential(*layers)

    def forward(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        h = torch.cat([z, c.to(z.dtype)], 1) if self.cond_dim else z
        return self.body(self.project(h).view(-1, self.ch, self.start, self.start))


class DCGANDiscriminator(nn.Module):
    """[Conv stride 2, (BatchNorm), LeakyReLU]* → Linear to ``out_dim`` logits; labels as extra channels."""

    def __init__(self, in_shape: Shape, out_dim: int = 1, cond_dim: int = 0, width: int = 64, dropout: float = 0.0):
        super().__init__()
        channels, size = in_shape[0], in_shape[-1]
        self.cond_dim = cond_dim
        drop = [nn.Dropout(dropout)] if dropout else []  # after each activation; none: the plain DCGAN's keys
        layers: list[nn.Module] = [nn.Conv2d(channels + cond_dim, width, 4, 2, 1), nn.LeakyReLU(0.2), *drop]
        ch, size = width, size // 2
        while size > 4:
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2), *drop]
            ch, size = ch * 2, size // 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.num_features = ch * size * size
        self.head = nn.Linear(self.num_features, out_dim)

    def forward(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        if self.cond_dim:
            maps = c.to(x.dtype)[:, :, None, None].expand(-1, -1, *x.shape[-2:])
            x = torch.cat([x, maps], 1)
        return self.head(self.body(x))
