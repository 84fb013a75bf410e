"""Tables generated from the model definitions: the zoo listing and the paper's Table 1."""

from __future__ import annotations

from ..core import DataSpec
from ..report import markdown_table

PROBE = DataSpec((1, 28, 28), 10)  # a shape every model accepts, to read the definitions off


def _build_all():
    from ..api import build_model
    from ..registry import MODELS
    return {name: build_model(name, spec=PROBE) for name in MODELS.names()}


def techniques_for(model) -> list[str]:
    from ..techniques import TECHNIQUES
    from ..techniques.base import derived_name
    return [f"{t} ({derived_name(t, model.name)})" for t in TECHNIQUES.names()
            if TECHNIQUES.get(t).build.applies_to(model)]


def technique_matrix_table() -> str:
    """The model × technique matrix: where each technique's maths is defined (its derived name), and where
    not, why — read off the declared phases and fields (``api.technique_matrix``)."""
    from ..api import technique_matrix
    from ..techniques.base import derived_name
    matrix = technique_matrix()
    techs = list(next(iter(matrix.values())))
    rows = [(m, *(derived_name(t, m) if row[t] is None else "·" for t in techs)) for m, row in matrix.items()]
    head = ("model", *techs)
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join(["model × technique (name: defined there; ·: not defined, `unidgm explain MODEL --iw` says why)",
                      fmt(head), fmt(tuple("-" * w for w in widths)), *map(fmt, rows)])


def models_table() -> str:
    """One row per registered model: family, the KL it minimises, techniques, matched pairs."""
    rows = []
    for name, m in _build_all().items():
        pairs = ", ".join(f"{p.space}:{p.tool}" for p in m.matches) or "—"
        rows.append((name, m.family, ", ".join(techniques_for(m)) or "—", pairs,
                     "; ".join(dict.fromkeys(m.kl_minimised())) or "—"))
    head = ("model", "family", "techniques (iw: importance weighting, aa: adversary activation)", "pairs:tool", "KL minimised")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head) - 1)]
    fmt = lambda r: "  ".join(str(c).ljust(w) for c, w in zip(r, widths)) + "  " + r[-1]  # noqa: E731
    return "\n".join([fmt(head), fmt(tuple("-" * len(h) for h in head)), *map(fmt, rows)])


def table1_markdown(names: list[str] | None = None) -> str:
    """The paper's Table 1 as Markdown, one column per model, read off each model's parts and phases."""
    models = _build_all()
    names = names or list(models)
    cols = {n: models[n].table1_row() for n in names}  # component -> text; "|" in p(x|y) is escaped
    rows = [[r, *(cols[n][r] for n in names)] for r in cols[names[0]]]
    return "\n".join(markdown_table(["component", *names], rows))
