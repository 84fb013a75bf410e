"""`unidgm reproduce table2|table3|all`: the paper's tables, side by side with the published numbers.

Each comparison of the paper (base vs extended model, e.g. VAE vs AA-VAE at 1% of MNIST) becomes
two sweep variants with identical budgets (recipes.py); every (variant, seed) is one run folder, so
an interrupted reproduction continues where it stopped. The report (``<out>/reproduce.md`` and one
``tableN.md/.csv/.json`` per table) shows, per cell, the paper's numbers, ours as mean ± std over
seeds, the gain (extended − base) of both, a verdict, training curves, sample grids, the machine,
date, wall time and the exact commands.

- ``plan.py``: which variants an invocation trains (tables, sizes, steps, seeds, the data it finds);
- ``verdicts.py``: the statistics of a cell (paired gain, its standard error, gains along the curve)
  and the verdict rule;
- ``render.py``: the report (Markdown, CSV, JSON, figures) through ``unidgm.report``;
- ``command.py``: the command line.
"""
