"""The importance-sampled log-likelihood of a *trained* model: above the ELBO and rising with k."""

import torch

from unidgm import api
from unidgm.data import binarize, get_dataset


def test_importance_sampled_estimate_rises_with_k_on_a_trained_vae():
    run = api.train("vae", "digits", overrides={"steps": 200, "model.z_dim": 8, "model.hidden": "64"}, out="r",
                    progress=False)
    x = binarize(get_dataset("digits", "test").x[:100], "fixed")
    torch.manual_seed(0)
    elbo = run.model.elbo(x).mean().item()
    ll = {k: run.model.log_likelihood(x, k=k).mean().item() for k in (1, 10, 100, 1000)}
    assert abs(ll[1] - elbo) < 1.0  # k=1 is an unbiased single-sample ELBO
    assert ll[1] < ll[10] and ll[1] + 0.1 < ll[1000]
    # on this small model the bound is tight by k≈10: larger k only removes noise (measured ±0.02)
    assert ll[100] > ll[10] - 0.05 and ll[1000] > ll[100] - 0.05
    assert ll[1000] > elbo + 0.2


def test_a_conditional_models_likelihood_uses_the_true_test_labels_like_its_elbo(monkeypatch):
    """`unidgm eval` on a CVAE: log p(x|c) and the ELBO both condition on the test labels (the likelihood
    once drew random labels, so it could fall below the bound it must exceed)."""
    from unidgm.eval.run import evaluate_run
    run = api.train("cvae", "digits", overrides={"steps": 300, "model.z_dim": 8, "model.hidden": "64"}, out="c",
                    progress=False)
    seen = []
    original = type(run.model).log_likelihood

    def spy(self, x, k=1000, labels=None, **kw):
        seen.append(labels)
        return original(self, x, k=k, labels=labels, **kw)
    monkeypatch.setattr(type(run.model), "log_likelihood", spy)
    res = evaluate_run(run.path, ["elbo", "log_likelihood"], k=200, max_test=200, progress=False)
    test_y = get_dataset("digits", "test").y[:200]
    assert res["log_likelihood"]["conditioned_on_test_labels"] and res["elbo"]["conditioned_on_test_labels"]
    assert torch.equal(seen[0].cpu(), test_y)
    assert res["log_likelihood"]["value"] > res["elbo"]["value"]


def test_a_gaussian_decoders_samples_are_scored_in_the_datas_range(tmp_path, recwarn, monkeypatch):
    """A Gaussian decoder's mean is unbounded: its samples are clamped to the data's [0, 1] pixels before the
    domain classifier scores them (the fraction clamped is recorded), instead of reaching it with a warning."""
    import unidgm.eval.run as er
    seen = []

    class Spy(torch.nn.Module):  # stands in for the trained domain classifier: records what it is shown
        def forward(self, x):
            seen.append((float(x.min()), float(x.max())))
            return x.flatten(1)[:, :10]
    monkeypatch.setattr(er, "get_classifier", lambda *a, **k: (Spy(), 1.0))
    run = api.train("vae", "digits", overrides={"steps": 5, "model.likelihood": "gaussian", "model.hidden": [16],
                                                "batch_size": 32}, out=tmp_path / "run", progress=False)
    res = er.evaluate_run(run.path, ["inception_score"], n_samples=500, splits=2, progress=False)
    assert 0 < res["clamped_to_data_range"]["fraction_of_pixels"] < 1
    assert seen and min(lo for lo, _ in seen) >= 0 and max(hi for _, hi in seen) <= 1
    assert not [w for w in recwarn if "classifier expects images in [0, 1]" in str(w.message)]
    assert "samples clamped" in er.format_metrics(res)


def test_a_generators_inception_score_comes_with_the_real_test_images_score(tmp_path, monkeypatch):
    """The classifier's score of as many real test images is recorded beside a generator's: the ceiling its
    score is read against (the DCGAN reference row shows both)."""
    import unidgm.eval.run as er
    from unidgm.eval.scores import classifier_logits, inception_score
    torch.manual_seed(0)
    clf = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))  # a fixed stand-in classifier
    monkeypatch.setattr(er, "get_classifier", lambda *a, **k: (clf, 1.0))
    run = api.train("gan", "digits", overrides={"steps": 2, "batch_size": 16}, out=tmp_path / "run", progress=False)
    res = er.evaluate_run(run.path, ["inception_score"], n_samples=300, splits=2, progress=False)
    real = get_dataset("digits", "test").x[:300]
    expected = inception_score(classifier_logits(clf, real), splits=2, kind="logits")
    assert res["inception_score"]["real_test"] == {"mean": expected[0], "std": expected[1], "n": len(real)}
    assert res["inception_score"]["mean"] != expected[0]  # the generator's own samples, scored apart
