# The two commands of the README: `make demo` and `make test`. Everything else builds on them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint format run dev chaos bench browser clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: install
	$(BIN)/callcue demo

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Benchmarks (~25 min; never in CI): figures and targets in docs/PERFORMANCE.md.
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench

# The reliability scenarios alone, with their results table (they also run in `make test`).
chaos: install
	$(BIN)/pytest tests/chaos -q

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

run dev: install
	$(BIN)/callcue dev

# Debian's Chromium and its driver, for the live page's browser test (skipped without them).
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then echo "chromium: present"; \
	else apt-get update -qq && apt-get install -y -qq chromium chromium-driver; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
