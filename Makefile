# The two commands: `make demo` (the main job) and `make test` (the whole test suite).
# Each creates .venv on first use and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS_TEST := dev,pg,forecast,api,nats

.PHONY: demo test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-demo: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[$(EXTRAS_TEST)]'
	touch $@ $(VENV)/.installed-demo

# The demo writes stockmesh.db, its own ledger (never the one STOCKMESH_DB names): see README.md.
demo: $(VENV)/.installed-demo
	$(BIN)/stockmesh demo

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/python -m pytest

# The ledger benchmark (benchmarks/ledger, run from here): `make bench BENCH_ARGS="--runs 1 --no-pg"`;
# `.venv/bin/python -m benchmarks.ledger --help` lists the flags. Results go to BENCHMARKS.md.
BENCH_ARGS ?=
bench: $(VENV)/.installed-test
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python -m benchmarks.ledger $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
