# The two commands of the README: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: run test lint bench install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: install python3.11 or run 'make PYTHON=/path/to/python3.11 ...'."; exit 1; }
	@echo "==> Creating the main environment in $(VENV) and installing the product with its test tools (first run: about a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -q --upgrade pip
	@$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

run: install
	@echo "==> Migrating the database ($${CCM_DATABASE_URL:-SQLite in var/ccm.db})"
	@$(BIN)/ccm db upgrade
	@$(BIN)/ccm seed --if-empty
	@echo "==> Starting CCM on http://$${CCM_HOST:-127.0.0.1}:$${CCM_PORT:-8000} (API under /api/v1, docs at /docs); Ctrl-C stops it"
	@$(BIN)/ccm serve

test: install
	@$(BIN)/python tests/preflight.py
	@echo "==> Lint: ruff and the import contracts"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports
	@echo "==> Tests on SQLite and PostgreSQL"
	@$(BIN)/pytest

bench: install
	@$(BIN)/python -m benchmarks.lifecycle

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis
