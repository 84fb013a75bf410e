"""Run benchmarks by name: ``python -m benchmarks.run [name ...] [--options]`` (all when none is named;
``make bench``). Options after the names are passed to each benchmark.

Each benchmark is a module with ``main(argv) -> dict`` that writes ``benchmarks/results/<name>.json``
and ``.md`` itself; add one by adding a line to ``BENCHES``.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from unidgm.report import write_json, write_text

BENCHES = {
    "throughput": "benchmarks.throughput",  # training samples/s vs a hand-written loop, FLOP/s, DDP, memory
    "endtoend": "benchmarks.endtoend",  # whole runs on real MNIST: CLI/API vs a hand loop and pythae, paired
    "iwgan": "benchmarks.iwgan",  # GAN vs IWGAN on MNIST 1%, long budget, with what Eq. 16 does to the gradient
    "ais": "benchmarks.ais",  # GAN vs VAE family on one scale: AIS log-likelihood, modes / IS, BDMC gaps vs T
    "m2_alpha": "benchmarks.m2_alpha",  # M2's weighting of labelled/unlabelled halves, chosen on validation accuracy
}


RESULTS = Path(__file__).resolve().parent / "results"


def write_results(name: str, res: dict, markdown: str) -> None:
    """``benchmarks/results/<name>.json`` and ``.md``, and the Markdown on stdout."""
    write_json(RESULTS / f"{name}.json", res, indent=1)
    write_text(RESULTS / f"{name}.md", markdown)
    print(markdown)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first_option = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    names, options = argv[:first_option] or list(BENCHES), argv[first_option:]  # options go to every bench
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    for name in names:
        t = time.perf_counter()
        print(f"== {name}", flush=True)
        importlib.import_module(BENCHES[name]).main(options)
        print(f"== {name} done in {time.perf_counter() - t:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
