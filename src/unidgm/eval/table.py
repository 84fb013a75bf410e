"""Multi-seed result tables: mean +- std over seeds, written as Markdown, CSV and JSON with the same content.

Protocol: each cell aggregates one metric over independent seeds as mean +- sample standard deviation
(ddof = 1; 0 for a single seed), the convention of the paper's tables.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from unidgm.errors import DataError
from unidgm.report import markdown_table, write_csv, write_json, write_text


def summarise(values) -> tuple[float, float]:
    """(mean, std) of per-seed values; std uses ddof=1 when there are >= 2 values, else 0.
    NaN values (e.g. a diverged seed) propagate, so they are visible in the table."""
    a = np.asarray(list(values), dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise DataError("summarise needs at least one value; a metric was recorded for no seed.")
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def format_mean_std(mean: float, std: float, digits: int = 2) -> str:
    """'mean ± std' with ``digits`` decimals, e.g. format_mean_std(98.123, 0.05) == '98.12 ± 0.05'."""
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_over_seeds(values, digits: int = 2) -> str:
    """``format_mean_std`` of per-seed values; a single value as it is (one seed has no spread to show)."""
    values = list(values)
    return f"{values[0]:.{digits}f}" if len(values) == 1 else format_mean_std(*summarise(values), digits=digits)


def _is_pair(v) -> bool:
    return isinstance(v, (tuple, list)) and len(v) == 2 and all(isinstance(e, (int, float)) for e in v)


def _text(v, digits: int) -> str:
    if v is None:
        return ""
    if _is_pair(v):
        return format_mean_std(float(v[0]), float(v[1]), digits)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def _json_value(v, digits: int):
    if _is_pair(v):
        return {"mean": _finite_or_none(v[0]), "std": _finite_or_none(v[1]), "text": _text(v, digits)}
    if isinstance(v, float):
        return _finite_or_none(v)
    if isinstance(v, (np.integer, np.floating)):
        return _json_value(v.item(), digits)
    return v


def _finite_or_none(v):
    v = float(v)
    return v if math.isfinite(v) else None


def write_table(rows, columns=None, path_stem=None, digits: int = 2) -> dict:
    """Write ``rows`` (dicts column -> value) as ``<path_stem>.md``, ``.csv`` and ``.json``; returns the paths.

    ``columns`` selects and orders the columns (default: keys in order of first appearance). A value may be
    a number, a string, None (empty cell) or a (mean, std) pair from ``summarise``, shown as 'mean ± std' with
    ``digits`` decimals in Markdown/CSV and stored as {"mean", "std", "text"} in JSON (NaN/inf become null).
    """
    if path_stem is None:
        raise DataError("write_table needs path_stem, e.g. runs/tables/table2 (suffixes are added).")
    rows = list(rows)
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise DataError(f"row {i} must be a dict column -> value, got {type(r).__name__}.")
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    columns = [str(c) for c in columns]
    cells = [[_text(r.get(c), digits) for c in columns] for r in rows]

    stem = Path(path_stem)
    paths = {ext: stem.with_name(stem.name + "." + ext) for ext in ("md", "csv", "json")}
    write_text(paths["md"], "\n".join(markdown_table(columns, cells)) + "\n")
    write_csv(paths["csv"], [dict(zip(columns, row)) for row in cells], columns)
    payload = {"columns": columns, "rows": [{c: _json_value(r.get(c), digits) for c in columns} for r in rows]}
    write_json(paths["json"], payload, ensure_ascii=False)
    return paths
