"""Regression pin for restructuring: the SHA-256 of every model's parameters after a few seeded training
steps, with and without each technique that applies, must not change when code is moved around.

The digests live in ``tests/param_digests.json``. A change that is *meant* to change numbers (a fixed
objective, a new default) regenerates them with ``UNIDGM_UPDATE_DIGESTS=1 pytest tests/test_param_digests.py``
and says so in its commit message; a refactoring must leave them untouched.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from unidgm import api
from unidgm.errors import ConfigError
from unidgm.registry import MODELS

DIGESTS = Path(__file__).with_name("param_digests.json")
DATA = {"ada": "moons-rot", "cyclegan": "digits-inv"}


def _small(name: str) -> dict:
    fields = MODELS.get(name).config.__dataclass_fields__
    out = {f"model.{k}": v for k, v in (("hidden", "16"), ("z_dim", 4), ("arch", "mlp")) if k in fields}
    return {**out, "steps": 3, "batch_size": 8, "log_every": 1, "threads": 1, "n_labelled": 20}


def _cases():
    for name in MODELS.names():
        for techs in ((), ("iw",), ("aa",)):
            yield name, techs


def _digest(model) -> str:
    h = hashlib.sha256()
    for k, v in sorted(model.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().float().numpy().tobytes())
    return h.hexdigest()


def _run(name, techs, tmp_path) -> str | None:
    try:
        run = api.train(name, DATA.get(name, "digits"), overrides=_small(name), techniques=techs,
                        out=tmp_path / f"{name}-{'-'.join(techs) or 'none'}", progress=False)
    except ConfigError as e:
        if "appl" in str(e) or "technique" in str(e):  # the technique does not apply to this model
            return None
        raise
    return _digest(run.model)


def test_parameter_digests_are_unchanged(tmp_path):
    got = {}
    for name, techs in _cases():
        d = _run(name, techs, tmp_path)
        if d is not None:
            got[f"{name}+{'+'.join(techs) or 'none'}"] = d
    if os.environ.get("UNIDGM_UPDATE_DIGESTS") == "1":
        DIGESTS.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"wrote {len(got)} digests to {DIGESTS}")
    assert DIGESTS.exists(), f"no {DIGESTS}: generate it with UNIDGM_UPDATE_DIGESTS=1"
    want = json.loads(DIGESTS.read_text())
    # a case may be added (a technique newly defined for a model: its pin is added to the file), never lost
    assert sorted(set(want) - set(got)) == [], "model x technique cases were lost"
    changed = [k for k in want if got[k] != want[k]]
    assert changed == [], f"parameters changed for {changed}"
