"""Training: the one loop, checkpoints, run folders, streams, distributed helpers."""
