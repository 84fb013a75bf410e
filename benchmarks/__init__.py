"""Benchmarks of unidgm: ``python -m benchmarks.run [name ...]`` (see run.py)."""
