"""The floors of docs/architecture.md: no module imports from a floor above its own."""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "unidgm"
# floor → the unidgm subpackages/modules it must never import (docs/architecture.md, "The floors")
FORBIDDEN = {
    "data": {"core", "nets", "models", "techniques", "train", "training", "eval", "experiments", "api", "cli", "theory"},
    "core": {"models", "techniques", "train", "training", "eval", "theory", "experiments", "api", "cli"},
    "nets": {"models", "techniques", "train", "training", "eval", "experiments", "api", "cli"},
    "models": {"techniques", "train", "training", "eval", "experiments", "api", "cli"},
    "techniques": {"models", "train", "training", "eval", "experiments", "api", "cli"},
}


def _imports(path: Path) -> set[str]:
    """The top-level unidgm modules that ``path`` imports (absolute or relative, at any depth in the file)."""
    return _imports_of(path.read_text(), len(path.relative_to(SRC).parts) - 1)


def _imports_of(text: str, depth: int) -> set[str]:
    """``depth``: how many packages below unidgm the module sits (core/x.py: 1)."""
    out = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("unidgm.")}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("unidgm"):
                parts = node.module.split(".")
                out |= {parts[1]} if len(parts) > 1 else {a.name for a in node.names}
            elif node.level > depth:  # climbs out of the floor: from ..x import y / from .. import x
                parts = (node.module or "").split(".")
                out |= {parts[0]} if parts[0] else {a.name for a in node.names}
    return out


@pytest.mark.parametrize("floor", sorted(FORBIDDEN))
def test_no_upward_imports(floor):
    bad = {}
    for path in (SRC / floor).rglob("*.py"):
        hit = _imports(path) & FORBIDDEN[floor]
        if hit:
            bad[str(path.relative_to(SRC))] = sorted(hit)
    assert bad == {}, f"upward imports from {floor}/ (docs/architecture.md, 'The floors'): {bad}"


def test_the_checker_sees_relative_and_absolute_imports():
    text = "from ..api import build_model\nimport unidgm.eval.run\nfrom .. import techniques\nfrom .parts import Part\n"
    assert _imports_of(text, 1) == {"api", "eval", "techniques"}
