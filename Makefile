# On a fresh machine `make demo` and `make test` are the only set-up commands:
# every target builds .venv from python3 when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest clean example

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py

test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check jobqueue tests scripts
	$(BIN)/ruff format --check jobqueue tests scripts

typecheck: $(STAMP)
	$(BIN)/mypy --strict jobqueue

pytest: $(STAMP)
	$(BIN)/pytest

example: $(STAMP)
	$(BIN)/python scripts/make_example.py data-example

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache *.egg-info build dist
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# `make bench ARGS=--quick` for a run under a minute; see scripts/bench.py --help.
.PHONY: bench
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python scripts/bench.py $(ARGS)
