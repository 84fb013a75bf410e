"""Techniques transform a model into a new one through what core declares — its phases' objectives and the
:data:`~unidgm.core.FIELDS` those objectives set — never through its name."""

from __future__ import annotations

import copy

from ..core import Phase, UnifiedModel
from ..errors import ConfigError
from ..registry import Registry

TECHNIQUES = Registry("technique")


class TechniqueRefused(ConfigError):
    """A technique asked of a model where its maths is not defined (exit code 2, as every config error)."""

    def __init__(self, technique: str, message: str):
        super().__init__(message)
        self.technique = technique


def derived_name(technique: str, model: str) -> str:
    """IWGAN, IW-CGAN, AA-VAE, AA-SVAE...: the paper's names, derived, not stored."""
    prefix = technique.upper()
    return f"{prefix}{model.upper()}" if model == "gan" else f"{prefix}-{model.upper()}"


def apply_techniques(model: UnifiedModel, techniques: dict[str, object]) -> UnifiedModel:
    """Apply each named technique (name → its config) in turn; refuse one that does not apply, saying why."""
    for name, cfg in techniques.items():
        entry = TECHNIQUES.get(name)
        why = entry.build.refusal(model)
        if why:
            raise TechniqueRefused(name, f"{entry.build.title} ({name}) does not apply to {model.name}: {why} "
                                         f"({entry.summary})")
        model = entry.build.apply(copy.deepcopy(model), cfg)
        model.techniques = (*model.techniques, name)
    return model


class Technique:
    """A technique names the phases it rewrites (:meth:`targets`, read off their objectives' declarations) and
    the Objective fields it reads there (``needs``); :meth:`apply` returns the new model."""

    title = ""
    needs: tuple[str, ...] = ()  # Objective fields the rewritten phases must provide

    @classmethod
    def targets(cls, model: UnifiedModel) -> list[Phase]:
        raise NotImplementedError

    @classmethod
    def wanted(cls, model: UnifiedModel) -> str:
        """What the technique looks for, in words (for refusals)."""
        raise NotImplementedError

    @classmethod
    def refusal(cls, model: UnifiedModel) -> str | None:
        """Why the technique is not defined for ``model`` (None: it applies). A target phase whose objective
        lacks a field the technique reads is named with the field."""
        phases = cls.targets(model)
        if not phases:
            have = "; ".join(f"{ph.name} ({'+'.join(ph.roles)})" for ph in model.phases)
            return f"it needs {cls.wanted(model)}, and its phases are {have}"
        for ph in phases:
            missing = sorted(set(cls.needs) - ph.objective.provides)
            if missing:
                return (f"phase {ph.name!r} ({ph.objective.__name__}) does not provide the field(s) "
                        f"{', '.join(missing)} that it reads")
        return None

    @classmethod
    def applies_to(cls, model: UnifiedModel) -> bool:
        return cls.refusal(model) is None

    @classmethod
    def apply(cls, model: UnifiedModel, cfg) -> UnifiedModel:
        raise NotImplementedError
