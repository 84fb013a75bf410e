"""Typed configs: validation, JSON round trip, overrides routed by section with suggestions."""

import pytest

from unidgm.api import Settings, resolve
from unidgm.config import apply_overrides, parse_overrides
from unidgm.errors import ConfigError
from unidgm.models.vae import VAEConfig
from unidgm.train.config import TrainConfig


def test_round_trip_through_json():
    s = resolve("gan", "ring8", ["steps=7", "model.hidden=(32,16)", "k=4"], techniques=["iw"])
    again = Settings.from_dict(s.to_dict())
    assert again.to_dict() == s.to_dict()
    assert again.train.steps == 7 and again.model_config.hidden == (32, 16) and again.techniques["iw"].k == 4


def test_overrides_are_typed_and_validated():
    out = apply_overrides({"model": VAEConfig(), "train": TrainConfig()},
                          parse_overrides(["z_dim=3", "train.n_train=None", "progress=off"]))
    assert out["model"].z_dim == 3 and out["train"].n_train is None and out["train"].progress is False
    with pytest.raises(ConfigError, match="must be > 0"):
        apply_overrides({"train": TrainConfig()}, {"steps": "0"})
    with pytest.raises(ConfigError, match="not a valid int"):
        apply_overrides({"train": TrainConfig()}, {"steps": "1.5"})
    with pytest.raises(ConfigError, match="ambiguous"):
        apply_overrides({"model": VAEConfig(), "other": VAEConfig()}, {"lr": "1"})


def test_bad_values_on_construction():
    with pytest.raises(ConfigError, match="likelihood"):
        VAEConfig(likelihood="poisson")
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["steps"])


def test_match_keys_pick_the_tool():
    assert resolve("vae", "digits", ["match.z=adversarial"]).model_config.match_z == "adversarial"
    with pytest.raises(ConfigError, match="match_q|match_z|unknown key"):
        resolve("vae", "digits", ["match.q=kl"])
