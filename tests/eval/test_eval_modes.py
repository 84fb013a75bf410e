"""Mode coverage on a ring of Gaussians (unrolled-GAN / VEEGAN protocol)."""

import math

import pytest
import torch

from unidgm.errors import ConfigError, DataError
from unidgm.eval import class_coverage, mode_metrics

M, STD = 8, 0.02
ANG = torch.arange(M) * 2 * math.pi / M
MODES = 2.0 * torch.stack([ANG.cos(), ANG.sin()], 1)


def test_exact_mode_samples_cover_everything():
    samples = MODES.repeat(100, 1)
    r = mode_metrics(samples, MODES, STD)
    assert r["modes_captured"] == 8 and r["num_modes"] == 8
    assert r["high_quality_fraction"] == 1.0
    assert r["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12)
    assert r["counts"] == [100] * 8 and r["min_count"] == 1


def test_single_mode_samples():
    torch.manual_seed(0)
    samples = MODES[3] + STD * torch.randn(800, 2)
    r = mode_metrics(samples, MODES, STD)
    assert r["modes_captured"] == 1
    assert r["high_quality_fraction"] > 0.97  # P(chi2_2 <= 9) = 0.989 within 3 std
    assert r["kl_to_uniform"] == pytest.approx(math.log(8))
    assert r["counts"][3] == sum(r["counts"])


def test_no_high_quality_samples_and_partial_histogram():
    r = mode_metrics(torch.zeros(50, 2), MODES, STD)
    assert (r["modes_captured"], r["high_quality_fraction"], r["kl_to_uniform"]) == (0, 0.0, pytest.approx(math.log(8)))
    # 3 samples on mode 0, 1 on mode 1, one far away; M = 2: p = (3/4, 1/4)
    modes = MODES[:2]
    samples = torch.cat([modes[0].repeat(3, 1), modes[1][None], torch.tensor([[10.0, 10.0]])])
    r = mode_metrics(samples, modes, STD)
    assert r["high_quality_fraction"] == pytest.approx(0.8)
    assert r["kl_to_uniform"] == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))


def test_capture_rule_threshold_and_per_mode_std():
    # 7 well-populated modes and one mode with a single sample
    samples = torch.cat([MODES[:7].repeat(100, 1), MODES[7:]])
    assert mode_metrics(samples, MODES, STD)["modes_captured"] == 8  # default: >= ceil(1% of 701/8) = 1
    r = mode_metrics(samples, MODES, STD, min_count=5)
    assert r["modes_captured"] == 7 and r["min_count"] == 5
    assert mode_metrics(samples, MODES, STD, min_fraction=0.2)["modes_captured"] == 7  # PacGAN-style 20%
    # a sample 4 std away is high quality only with a looser threshold or a wider mode
    off = MODES[:1] + torch.tensor([[4 * STD, 0.0]])
    assert mode_metrics(off, MODES, STD)["high_quality_fraction"] == 0.0
    assert mode_metrics(off, MODES, STD, threshold=5.0)["high_quality_fraction"] == 1.0
    wide = torch.full((M,), STD)
    wide[0] = 2 * STD
    assert mode_metrics(off, MODES, wide)["high_quality_fraction"] == 1.0


def test_mode_metrics_validates_inputs():
    with pytest.raises(DataError):
        mode_metrics(torch.zeros(5, 3), MODES, STD)
    with pytest.raises(ConfigError):
        mode_metrics(torch.zeros(5, 2), MODES, -1.0)
    with pytest.raises(ConfigError):
        mode_metrics(torch.zeros(5, 2), MODES, STD, threshold=0)


def test_class_coverage_balanced_collapsed_and_partial():
    balanced = 10.0 * torch.eye(10).repeat(50, 1)  # confident, 50 samples per class
    r = class_coverage(balanced)
    assert r["modes_captured"] == 10 and r["num_modes"] == 10 and r["counts"] == [50] * 10
    assert r["kl_to_uniform"] == pytest.approx(0.0, abs=1e-12) and r["confident_fraction"] == 1.0
    collapsed = 10.0 * torch.eye(10)[[7] * 500]
    r = class_coverage(collapsed)
    assert r["modes_captured"] == 1 and r["kl_to_uniform"] == pytest.approx(math.log(10))
    # 495 samples in classes 0-4, one stray each in 5-9: the stray classes fall under the 1% rule
    # (ceil(0.01 * 500 / 10) = 1 would count them), so ask for 5% of the uniform count
    labels = [i % 5 for i in range(495)] + [5, 6, 7, 8, 9]
    r = class_coverage(10.0 * torch.eye(10)[labels], min_fraction=0.05)
    assert r["min_count"] == 3 and r["modes_captured"] == 5
    p = torch.tensor([99.0] * 5 + [1.0] * 5, dtype=torch.float64) / 500
    assert r["kl_to_uniform"] == pytest.approx(float((p * (p * 10).log()).sum()), rel=1e-12)


def test_class_coverage_confidence_and_validation():
    flat = torch.zeros(20, 10)  # uniform predictions: never confident
    assert class_coverage(flat)["confident_fraction"] == 0.0
    with pytest.raises(DataError, match="logits must have shape"):
        class_coverage(torch.zeros(5))
    with pytest.raises(ConfigError, match="confidence"):
        class_coverage(flat, confidence=0.0)
