"""Shared test settings: few torch threads (2-core CI; helpers running side by side oversubscribe)."""

import os
from pathlib import Path

import pytest
import torch

THREADS = int(os.environ.get("UNIDGM_TEST_THREADS", "2"))
torch.set_num_threads(THREADS)


@pytest.fixture(autouse=True)
def _restore_threads():
    """Runs, sweeps and the demo may set torch's thread count; keep each test at the suite's setting."""
    yield
    torch.set_num_threads(THREADS)

# <repo>/../shared/data holds the complete MNIST for developers and CI; tests skip what needs it when absent.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data():
    if not (SHARED_DATA / "mnist").exists():
        pytest.skip(f"needs the shared MNIST files at {SHARED_DATA} (absent on this machine)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Never write into the user's ~/.cache from tests: caches and runs go to a temporary folder."""
    monkeypatch.setenv("UNIDGM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("UNIDGM_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
