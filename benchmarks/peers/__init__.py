"""Peer and hand-written training scripts timed by ``benchmarks/endtoend.py`` as whole processes."""
