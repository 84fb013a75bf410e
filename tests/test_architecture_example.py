"""docs/architecture.md's worked example runs as written: a new GAN-family model in one file gets IW for free."""

import re
from pathlib import Path

import pytest
import torch

from unidgm import api
from unidgm.core import DataSpec, loss_from
from unidgm.registry import MODELS

DOC = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


@pytest.fixture
def noisy_gan():
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    try:
        yield "noisy_gan"
    finally:
        MODELS._entries.pop("noisy_gan", None)  # the registry is global: leave it as the zoo defines it


def test_the_worked_example_trains_with_importance_weighting(noisy_gan, tmp_path):
    spec = DataSpec((2,), None)
    model = api.build_model(noisy_gan, {"hidden": (16,)}, spec=spec, techniques={"iw": {"k": 8}})
    assert model.techniques == ("iw",) and "Eq. 16" in model.phase("theta").note
    torch.manual_seed(0)
    obj = model.phase("theta").objective(model, {"x": torch.randn(16, 2)})
    assert obj.weight is not None and obj.weight.shape == (16,) and torch.isfinite(loss_from(obj))
    run = api.train(noisy_gan, "ring8", overrides={"steps": 3, "batch_size": 16, "model.hidden": "16", "threads": 1},
                    techniques=["iw"], out=tmp_path / "run", progress=False)
    assert run.model.techniques == ("iw",)
