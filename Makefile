# Two set-up commands: `make demo` and `make test`. Each creates .venv when missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	# torch first, pinned: this build is on the machine's disk (CPU); anything else pulls a CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/unidgm demo

test: $(STAMP)
	# two workers of one torch thread each, a test file per worker at a time (module fixtures stay shared)
	UNIDGM_TEST_THREADS=1 OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -x -n 2 --dist loadfile --durations=15

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) build src/*.egg-info
