"""Known-answer tests for the inception score, the Frechet distance / classifier-FID and conditional accuracy."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch
from torch import nn

from unidgm.errors import ConfigError, DataError, UnidgmError
from unidgm.eval import (DomainClassifier, classifier_fid, conditional_accuracy, feature_statistics,
                         frechet_distance, inception_fid, inception_score)


class Identity(nn.Module):
    """A stand-in 'classifier' on vectors: logits = features = x."""

    def __init__(self, d):
        super().__init__()
        self.num_features = d

    def features(self, x):
        return x

    def forward(self, x):
        return x


# ---------------------------------------------------------------- inception score
def test_is_of_uniform_one_hot_equals_class_count():
    k, n = 10, 1000
    probs = torch.nn.functional.one_hot(torch.arange(n) % k, k).float()
    mean, std = inception_score(probs, splits=10)
    assert mean == pytest.approx(10.0, abs=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)


def test_is_of_identical_predictions_is_one():
    probs = torch.tensor([[0.2, 0.3, 0.5]]).repeat(200, 1)
    mean, std = inception_score(probs, splits=4)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


def test_is_hand_computed_two_class_case_and_logits():
    p = torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64)
    expected = math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert inception_score(p, splits=1)[0] == pytest.approx(expected, rel=1e-12)
    # the same predictions given as logits
    assert inception_score(p.log() + 3.0, splits=1)[0] == pytest.approx(expected, rel=1e-6)
    # confident one-hot logits behave like one-hot probabilities
    logits = 50.0 * torch.nn.functional.one_hot(torch.arange(360) % 3, 3).float()
    assert inception_score(logits, splits=3)[0] == pytest.approx(3.0, rel=1e-6)


def test_is_split_std_and_errors():
    # first half balanced over 2 classes (IS 2), second half one class (IS 1): mean 1.5, std 0.5
    first = torch.nn.functional.one_hot(torch.arange(100) % 2, 2).float()
    second = torch.nn.functional.one_hot(torch.zeros(100, dtype=torch.long), 2).float()
    mean, std = inception_score(torch.cat([first, second]), splits=2)
    assert (mean, std) == (pytest.approx(1.5), pytest.approx(0.5))
    with pytest.raises(ConfigError):
        inception_score(first[:3], splits=10)
    with pytest.raises(DataError):
        inception_score(torch.tensor([[0.5, 0.2]]), splits=1, kind="probs")
    with pytest.raises(DataError):
        inception_score(torch.tensor([[float("nan"), 0.2]]), splits=1)


# ---------------------------------------------------------------- Frechet distance
def _reference_fd(mu1, s1, mu2, s2):
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fd_diagonal_closed_form():
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 1.0])
    expected = 1 + 0 + 4 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # = 5 + 1 + 1 + 4
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-12)
    assert expected == 11.0


def test_fd_full_covariance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    d = 6
    a, b = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    s1, s2 = a @ a.T + d * np.eye(d), b @ b.T + 0.5 * np.eye(d)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    got = frechet_distance(mu1, s1, mu2, s2)
    assert isinstance(got, float)
    assert got == pytest.approx(_reference_fd(mu1, s1, mu2, s2), rel=1e-9)
    # symmetric in its arguments
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(got, rel=1e-9)


def test_fd_singular_covariances_are_real_and_exact():
    rng = np.random.default_rng(1)
    v = rng.normal(size=(8, 2))
    s1 = v @ v.T  # rank 2 of 8
    mu = rng.normal(size=8)
    assert frechet_distance(mu, s1, mu, s1) == pytest.approx(0.0, abs=1e-9)
    # against a point mass: FD = ||mu1 - mu2||^2 + tr(s1)
    got = frechet_distance(mu, s1, np.zeros(8), np.zeros((8, 8)))
    assert math.isfinite(got) and got == pytest.approx(mu @ mu + np.trace(s1), rel=1e-12)
    # two different rank-deficient covariances: finite, real, non-negative
    w = rng.normal(size=(8, 3))
    got = frechet_distance(mu, s1, mu, w @ w.T)
    assert isinstance(got, float) and math.isfinite(got) and got >= 0


def test_fd_rejects_bad_shapes_and_nan():
    with pytest.raises(DataError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(DataError):
        frechet_distance(np.zeros(2), np.array([[np.nan, 0], [0, 1]]), np.zeros(2), np.eye(2))


def test_classifier_fid_zero_on_itself_and_grows_with_shift():
    torch.manual_seed(0)
    x = torch.randn(2000, 4)
    clf = Identity(4)
    assert classifier_fid(clf, x, x) == pytest.approx(0.0, abs=1e-8)
    # a shift leaves the covariance unchanged: FD = ||shift||^2 exactly
    fids = [classifier_fid(clf, x, x + c) for c in (0.1, 0.5, 1.0)]
    assert fids == [pytest.approx(4 * c * c, rel=1e-6) for c in (0.1, 0.5, 1.0)]
    assert fids[0] < fids[1] < fids[2]
    mu, sigma = feature_statistics(clf, x)
    assert mu.dtype == np.float64 and sigma.shape == (4, 4)
    assert np.allclose(sigma, np.cov(x.double().numpy(), rowvar=False))


def test_classifier_fid_matches_torchmetrics_with_same_features():
    from torchmetrics.image.fid import FrechetInceptionDistance

    torch.manual_seed(0)
    clf = DomainClassifier(1, 8, 8, 10).eval()
    real, fake = torch.rand(400, 1, 8, 8), torch.rand(400, 1, 8, 8) ** 2
    ours = classifier_fid(clf, real, fake, batch_size=128)
    metric = FrechetInceptionDistance(feature=clf.feature_extractor())
    with torch.no_grad():
        metric.update(real, real=True)
        metric.update(fake, real=False)
    assert ours > 0
    assert ours == pytest.approx(float(metric.compute()), rel=1e-3)


def test_inception_fid_refuses_without_local_weights(tmp_path):
    with pytest.raises(UnidgmError, match="(?i)inception"):
        inception_fid(torch.rand(4, 1, 8, 8), torch.rand(4, 1, 8, 8), weights_path=tmp_path / "missing.pth")


# ---------------------------------------------------------------- conditional accuracy
def test_conditional_accuracy_counts_agreement():
    samples = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 3]), 4).float()
    assert conditional_accuracy(Identity(4), samples, torch.tensor([0, 1, 2, 3])) == 1.0
    assert conditional_accuracy(Identity(4), samples, torch.tensor([0, 1, 0, 0]), batch_size=3) == 0.5
    with pytest.raises(DataError):
        conditional_accuracy(Identity(4), samples, torch.tensor([0, 1]))
