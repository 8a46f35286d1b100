# Two commands do everything on a fresh machine:
#   make demo   set up, start the local environment, deploy the local stack, show it resolving
#   make test   set up, lint, run every test (unit and end-to-end against real servers)
# Both install what they need (venv, Python packages, Debian packages, the Pulumi CLI)
# and are safe to run twice.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LINT_PATHS := orchestrator programs tests bench scripts/ci $(wildcard policy)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: setup venv debs engine demo test unit e2e lint bench down clean

setup: venv debs engine

venv: $(STAMP)
$(STAMP): pyproject.toml
	@echo "setup: Python virtualenv $(VENV) and pinned packages (first run: ~1-2 min, the cloud provider SDKs are large)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip >/dev/null
	@$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

debs:
	@bash scripts/install-debian-packages.sh

engine: venv
	@bash scripts/pulumi-engine.sh >/dev/null

demo: setup
	@bash scripts/demo.sh

test: setup lint
	@$(BIN)/python -m pytest -q -p no:cacheprovider tests

unit: venv
	@$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit

e2e: setup
	@$(BIN)/python -m pytest -q -p no:cacheprovider tests/e2e

lint: venv
	@$(BIN)/ruff check $(LINT_PATHS)
	@$(BIN)/ruff format --check $(LINT_PATHS)
	@$(BIN)/lint-imports --no-cache
	@bash scripts/ci/actionlint.sh
	@test -z "$$(gofmt -l tools/pluginfront)" || { echo "gofmt: run gofmt -w tools/pluginfront"; exit 1; }
	@cd tools && GOFLAGS=-mod=readonly go vet ./pluginfront

bench: setup
	@$(BIN)/python bench/bench_up.py
	@$(BIN)/python bench/bench_switch.py --sizes 100
	@$(BIN)/python bench/bench_database.py

down:
	@test -x $(BIN)/orchestrator && $(BIN)/orchestrator dev down || true

clean: down
	rm -rf $(VENV) .pulumi-state .dev .orchestrator
