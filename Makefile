# threatmatch — two commands: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck bench browser-deps clean

$(STAMP): pyproject.toml requirements-compat.txt requirements-compat-deps.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet -r requirements-compat-deps.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-compat.txt
	touch $(STAMP)

## make run: set everything up and run the main job on embedded defaults
run: $(STAMP)
	$(BIN)/threatmatch serve --demo

## make test: set everything up and run the whole suite (lint + types + tests)
test: $(STAMP) browser-deps
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/mypy src
	$(BIN)/pytest

## Real headless Chromium for the console tests (Debian packages; skipped loudly when they cannot be installed)
browser-deps:
	@bash scripts/ensure-chromium.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks scripts

typecheck: $(STAMP)
	$(BIN)/mypy src

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .threatmatch .pytest_cache .mypy_cache .ruff_cache
