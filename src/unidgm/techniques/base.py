"""Techniques transform a model into a new one through its core parts and phases, never its name."""

from __future__ import annotations

import copy

from ..core import UnifiedModel
from ..errors import ConfigError
from ..registry import Registry

TECHNIQUES = Registry("technique")


def derived_name(technique: str, model: str) -> str:
    """IWGAN, IW-CGAN, AA-VAE, AA-SVAE...: the paper's names, derived, not stored."""
    prefix = technique.upper()
    return f"{prefix}{model.upper()}" if model == "gan" else f"{prefix}-{model.upper()}"


def apply_techniques(model: UnifiedModel, techniques: dict[str, object]) -> UnifiedModel:
    """Apply each named technique (name → its config) in turn; refuse one that does not apply."""
    from ..registry import MODELS
    for name, cfg in techniques.items():
        entry = TECHNIQUES.get(name)
        if not entry.build.applies_to(model):
            where = [m for m in MODELS.names() if entry.build.applies_to_name(m)]
            raise ConfigError(f"{entry.build.title} ({name}) does not apply to {model.name}: it is defined for "
                              f"{', '.join(where) or 'no model'} ({entry.summary})")
        model = entry.build.apply(copy.deepcopy(model), cfg)
        model.techniques = (*model.techniques, name)
    return model


class Technique:
    """``applies_to(model)`` reads the model's parts and phases; ``apply(model, cfg)`` returns the new model."""

    title = ""

    @classmethod
    def applies_to(cls, model: UnifiedModel) -> bool:
        raise NotImplementedError

    @classmethod
    def applies_to_name(cls, model_name: str) -> bool:
        """Whether it applies to the registered model's default build (for listings and errors)."""
        from ..api import build_model
        try:
            return cls.applies_to(build_model(model_name, spec=_PROBE_SPEC))
        except Exception:
            return False


from ..core import DataSpec  # noqa: E402

_PROBE_SPEC = DataSpec((1, 8, 8), 10)
