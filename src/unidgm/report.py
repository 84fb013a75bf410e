"""The one writer of the project's reports: Markdown tables, CSV, JSON, and the machine description.

Result tables (eval/table.py), the experiment commands (experiments/) and the benchmarks all write
through these, so a table is spelled the same wherever it comes from and every file is written
atomically: an interrupted report never leaves a half-written file where the last good one was.

    lines = markdown_table(["model", "ELBO"], [["vae", "-98.1 ± 0.2"]])
    write_text("out/table.md", "\\n".join(lines) + "\\n")
    write_csv("out/table.csv", [{"model": "vae", "elbo": -98.1}])
    write_json("out/table.json", {"rows": [...], "machine": machine()})
"""

from __future__ import annotations

import csv
import io
import json
import os
import platform
from pathlib import Path


def md_row(cells) -> str:
    """One Markdown table row. A ``|`` or a line break inside a cell is escaped: either would split the row."""
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def markdown_table(head, rows) -> list[str]:
    """The lines of a Markdown table: the header, the separator, one line per row of cells."""
    return [md_row(head), "|" + "---|" * len(head), *(md_row(r) for r in rows)]


def write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename), creating the folder."""
    from .train.checkpoint import atomic_write_text
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path


def write_json(path, obj, indent: int = 2, **options) -> Path:
    """``obj`` as JSON with a final newline; ``options`` go to ``json.dumps`` (``default``, ``ensure_ascii``)."""
    return write_text(path, json.dumps(obj, indent=indent, **options) + "\n")


def csv_text(rows: list[dict], columns=None, line_end: str = "\n") -> str:
    """``rows`` (dicts column -> value) as CSV; ``columns`` default to the keys in order of first
    appearance, a missing value is an empty cell. ``line_end``: "\\r\\n" is the csv module's own default."""
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, columns, extrasaction="ignore", lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def write_csv(path, rows: list[dict], columns=None, line_end: str = "\n") -> Path:
    """``csv_text`` written to ``path``."""
    return write_text(path, csv_text(rows, columns, line_end))


def machine() -> dict:
    """Versions and machine of this process, for every report: unidgm (and its git commit), torch, numpy,
    python, platform, host, processor and CPU model, CPU count, torch threads, CUDA and the device."""
    import numpy as np
    import torch

    import unidgm
    from .train.rundir import git_commit
    cuda = torch.cuda.is_available()
    return {"unidgm": unidgm.__version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": platform.platform(), "host": platform.node(),
            "processor": platform.processor() or platform.machine(), "cpu": _cpu_model(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "cuda": cuda,
            "device": torch.cuda.get_device_name() if cuda else "cpu", "git_commit": git_commit()}


def _cpu_model() -> str:
    """The CPU's model name (Linux), else what ``platform`` knows: ``platform.processor()`` is often
    just the architecture, which says nothing about the speed a report was measured at."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
