"""Mode seeking KL(q‖p) (GAN, Eq. 8) vs mode covering KL(p‖q) (VAE) on a two-mode mixture."""

import math

import pytest

from unidgm.theory import fit_kl_directions, plot_kl_directions, run_kl_plot


@pytest.fixture(scope="module")
def fits():
    return fit_kl_directions()


def test_reverse_kl_sits_on_one_mode(fits):
    rev = fits["reverse"]
    assert abs(abs(rev["mean"]) - 2.0) < 0.01 and abs(rev["std"] - 0.5) < 0.01
    assert abs(rev["kl_reverse"] - math.log(2)) < 1e-3          # one of two well-separated modes: KL ≈ log 2
    assert all(rev["kl_reverse"] <= o["kl"] + 1e-12 for o in fits["reverse_local_optima"])


def test_forward_kl_matches_moments(fits):
    fwd = fits["forward"]
    assert abs(fwd["mean"]) < 1e-12 and abs(fwd["std"] - math.sqrt(4.25)) < 1e-12
    assert abs(fwd["mean_numeric"]) < 1e-5 and abs(fwd["std_numeric"] - math.sqrt(4.25)) < 1e-5
    assert fwd["std"] > 4 * fits["reverse"]["std"]
    # each fit is worse under the other direction
    assert fwd["kl_reverse"] > fits["reverse"]["kl_reverse"] and fits["reverse"]["kl_forward"] > fwd["kl_forward"]


def test_plot_written(fits, tmp_path):
    path = plot_kl_directions(tmp_path / "sub" / "kl.png", fits)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_run_kl_plot(tmp_path, capsys):
    path = run_kl_plot(tmp_path)
    assert path.exists() and path.name == "kl_directions.png"
    assert "KL(q||p)" in capsys.readouterr().out
