"""Transferred techniques as switches: importance weighting (Eq. 16) and adversary activation (Eq. 17)."""

from . import adversary_activation, importance_weighting  # noqa: F401  (registers them)
from .base import TECHNIQUES, TechniqueRefused, apply_techniques, derived_name

__all__ = ["TECHNIQUES", "TechniqueRefused", "apply_techniques", "derived_name"]
