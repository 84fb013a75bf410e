"""What the peer scripts share: reading MNIST's IDX files with numpy, step timing, the result line.

Kept free of unidgm so that the pythae script can run in its own virtual environment.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np


def read_mnist(root: str, split: str) -> np.ndarray:
    """[N, 1, 28, 28] float32 in [0, 1] from ``root/mnist/{train,t10k}-images-idx3-ubyte.gz``."""
    name = {"train": "train", "test": "t10k"}[split]
    with gzip.open(Path(root) / "mnist" / f"{name}-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    return (np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, 28, 28).astype(np.float32) / 255.0)


class StepClock:
    """Wall time of each window of ``every`` steps (early vs late steps of the same run)."""

    def __init__(self, every: int = 250):
        self.every, self.marks, self.t = every, [], time.perf_counter()

    def tick(self, step: int) -> None:
        if step % self.every == 0:
            now = time.perf_counter()
            self.marks.append([step, (now - self.t) / self.every * 1000])
            self.t = now


def finish(out: dict) -> None:
    """One JSON line on stdout, prefixed so the driver finds it among other output."""
    print("RESULT " + json.dumps(out), flush=True)
    sys.stdout.flush()
