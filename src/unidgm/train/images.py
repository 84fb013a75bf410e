"""Sample grids as PNG: image grids for image data, scatter plots over the data for 2-D data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch


def image_grid(x: torch.Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """[N, C, H, W] in [0, 1] → one [H', W', C] (or [H', W']) array, rows of ``nrow`` images."""
    x = x.detach().float().clamp(0, 1).cpu()
    n, c, h, w = x.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / nrow))
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, nrow)
        grid[:, pad + r * (h + pad): pad + r * (h + pad) + h, pad + col * (w + pad): pad + col * (w + pad) + w] = x[i]
    arr = grid.permute(1, 2, 0).numpy()
    return arr[..., 0] if c == 1 else arr


def save_samples(x: torch.Tensor, path: str | Path, reference: torch.Tensor | None = None, title: str = "") -> Path:
    """Write a PNG: an image grid for images, a scatter (over ``reference`` points) for 2-D vectors."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if x.dim() == 4:  # Pillow writes the grid as it is; matplotlib (0.5 s to import) only for scatter plots
        from PIL import Image
        Image.fromarray((image_grid(x) * 255).round().astype(np.uint8)).save(path)
        return path
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    if reference is not None:
        ax.scatter(*reference[:, :2].cpu().T, s=30, c="red", marker="x", label="modes")
    pts = x.detach().cpu()
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, label="samples")
    ax.set_title(title)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
