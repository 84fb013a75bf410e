"""Domain classifier: architecture, training on sklearn digits, safetensors cache keyed by data/arch/seed."""

import json
import warnings
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import unidgm.eval.classifier as C
from unidgm.errors import DataError
from unidgm.eval import (DomainClassifier, MLPClassifier, classifier_fid, classifier_inception_score,
                         conditional_accuracy, get_classifier)


def _digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data, dtype=torch.float32).reshape(-1, 1, 8, 8) / 16.0
    y = torch.tensor(d.target, dtype=torch.int64)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    return (SimpleNamespace(x=x[:1400], y=y[:1400], num_classes=10),
            SimpleNamespace(x=x[1400:], y=y[1400:], num_classes=10))


@pytest.fixture(scope="module")
def digits():
    return _digits()


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    train, test = digits
    model, acc = get_classifier("digits", train, test, root, seed=0, progress=False)
    return root, model, acc


def _no_training(monkeypatch):
    calls = []

    def fake_train(model, *args, **kwargs):
        calls.append(1)
        return model.eval()

    monkeypatch.setattr(C, "train_classifier", fake_train)
    return calls


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_cnn_shapes(shape):
    net = DomainClassifier(*shape, num_classes=10)
    x = torch.rand(5, *shape)
    assert net(x).shape == (5, 10)
    assert net.features(x).shape == (5, net.num_features) and net.num_features == 128
    assert net.feature_extractor()(x).shape == (5, 128)
    with pytest.raises(DataError):
        net(torch.rand(5, 1, 16, 16))


def test_classifier_trains_on_digits(trained, digits):
    root, model, acc = trained
    assert acc > 0.85
    assert model.trained_now is True and not model.training
    assert conditional_accuracy(model, digits[1].x, digits[1].y) == pytest.approx(acc)
    # cache files: safetensors weights + JSON sidecar
    path = model.cache_path
    assert path.parent == root / "classifiers" and path.name.startswith("digits-") and path.suffix == ".safetensors"
    info = json.loads(path.with_suffix(".json").read_text())
    assert info["test_accuracy"] == pytest.approx(acc)
    assert info["seed"] == 0 and info["epochs"] >= 3 and info["arch"]["kind"] == "cnn"
    assert info["arch"] == model.arch
    assert set(load_file(str(path))) == set(model.state_dict())


def test_second_call_loads_from_cache(trained, digits, monkeypatch):
    root, model, acc = trained
    calls = _no_training(monkeypatch)
    again, acc2 = get_classifier("digits", digits[0], digits[1], root, seed=0, progress=False)
    assert calls == [] and again.trained_now is False
    assert acc2 == pytest.approx(acc) and again.cache_path == model.cache_path
    for (k, a), (_, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(a, b), k
    # same network, another test set: the accuracy is re-measured on it, still without training
    sub = SimpleNamespace(x=digits[1].x[:50], y=digits[1].y[:50], num_classes=10)
    third, acc3 = get_classifier("digits", digits[0], sub, root, seed=0, progress=False)
    assert calls == [] and third.trained_now is False
    assert acc3 == pytest.approx(conditional_accuracy(model, sub.x, sub.y))


def test_cache_key_depends_on_seed_and_data(trained, digits, monkeypatch):
    root, model, _ = trained
    calls = _no_training(monkeypatch)
    other_seed, _ = get_classifier("digits", digits[0], digits[1], root, seed=1, progress=False)
    assert calls == [1] and other_seed.trained_now
    assert other_seed.cache_path != model.cache_path
    x = digits[0].x.clone()
    x[0, 0, 0, 0] += 0.5
    changed = SimpleNamespace(x=x, y=digits[0].y, num_classes=10)
    other_data, _ = get_classifier("digits", changed, digits[1], root, seed=0, progress=False)
    assert other_data.cache_path not in (model.cache_path, other_seed.cache_path)
    # a fresh model built for the same seed does not disturb the caller's RNG
    torch.manual_seed(123)
    a = torch.rand(1)
    torch.manual_seed(123)
    get_classifier("digits", digits[0], digits[1], root, seed=0, progress=False)
    assert torch.equal(torch.rand(1), a)


def test_corrupt_cache_entry_is_rebuilt(trained, digits, tmp_path, monkeypatch):
    calls = _no_training(monkeypatch)
    model, _ = get_classifier("digits", digits[0], digits[1], tmp_path, seed=5, progress=False)
    model.cache_path.write_bytes(b"not a safetensors file")
    with pytest.warns(UserWarning, match="retraining"):
        again, _ = get_classifier("digits", digits[0], digits[1], tmp_path, seed=5, progress=False)
    assert again.trained_now and len(calls) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        third, _ = get_classifier("digits", digits[0], digits[1], tmp_path, seed=5, progress=False)
    assert third.trained_now is False


def test_scores_with_trained_classifier(trained, digits):
    _, model, _ = trained
    test = digits[1].x
    mean, std = classifier_inception_score(model, test, splits=2)
    assert 7.0 < mean <= 10.0 and std >= 0
    noise = torch.rand_like(test)
    assert classifier_fid(model, test, test) == pytest.approx(0.0, abs=1e-6)
    half = digits[0].x[:397]
    assert classifier_fid(model, test, half) < classifier_fid(model, test, noise)


def test_vector_data_uses_mlp(digits, tmp_path):
    train, test = digits
    flat = lambda d: SimpleNamespace(x=d.x.reshape(len(d.y), -1), y=d.y)  # no num_classes: inferred
    model, acc = get_classifier("digits-flat", flat(train), flat(test), tmp_path, seed=0, epochs=25, progress=False)
    assert isinstance(model, MLPClassifier) and model.num_classes == 10
    assert acc > 0.85
    assert model.features(flat(test).x).shape == (len(test.y), model.num_features)


def test_bad_datasets_are_rejected(digits, tmp_path):
    train, test = digits
    with pytest.raises(DataError):
        get_classifier("d", train, SimpleNamespace(x=torch.rand(4, 1, 6, 6), y=torch.zeros(4, dtype=torch.long)),
                       tmp_path, progress=False)
    with pytest.raises(DataError):
        get_classifier("d", SimpleNamespace(x=train.x, y=train.y.float()), test, tmp_path, progress=False)
    with pytest.raises(DataError):
        get_classifier("d", "not a dataset", test, tmp_path, progress=False)


def test_a_cache_miss_under_no_grad_still_trains(digits, tmp_path):
    """Evaluation code runs under no_grad; a classifier missing from the cache must train all the same
    (a sweep's curve evaluation crashed with 'does not require grad' on a fresh cache)."""
    with torch.no_grad():
        model, acc = get_classifier("digits", digits[0], digits[1], tmp_path, seed=3, progress=False, epochs=2)
    assert model.trained_now and acc > 0.5
