# leadbridge: `make run` (local stack), `make test` (lint + types + tests). Needs python3 (3.11+) with pip, and the
# machine's Node.js and npm for the UI (ui/); `make test` installs Debian's Chromium for the browser tests when missing.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
TOOLS_VENV := .venv-tools
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
TOOLS_STAMP := $(TOOLS_VENV)/.installed-stamp
TAP_VENV := .venv-bench-tap
TAP_STAMP := $(TAP_VENV)/.installed-stamp
LAYER_VENV := .venv-bench-layer
LAYER_STAMP := $(LAYER_VENV)/.installed-stamp
# Lint and SAM CLI calls must never reach a real AWS account.
LINT_ENV := AWS_DEFAULT_REGION=eu-west-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing SAM_CLI_TELEMETRY=0

.PHONY: help install tools run test lint openapi bench clean

help:
	@echo "make run      start the local stack (moto, gateway on :3000, queue pump, scheduler, CRM sandboxes)"
	@echo "make test     the UI build and unit tests, ruff, mypy, pytest with the browser tests (installs what is missing)"
	@echo "make lint     ruff + mypy + cfn-lint + sam validate --lint"
	@echo "make openapi  regenerate docs/openapi.json from the HTTP handlers"
	@echo "make bench    run benchmarks/ (if present)"
	@echo "make ui       build the embeddable UI (ui/dist) and run its unit tests"

# pip brings in only uv (pinned), and uv installs the rest: on a clean clone the two virtualenvs take about 40 s
# instead of 2¼ minutes with pip (same packages and versions; uv unpacks and compiles in parallel). Bytecode is
# compiled at install time as pip does: where PYTHONDONTWRITEBYTECODE is set, every import would compile again.
UV_VERSION := 0.13.9
UV := $(BIN)/uv

# Reinstalls only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install --quiet uv==$(UV_VERSION)
	$(UV) pip install --quiet --compile-bytecode --python $(BIN)/python -e '.[dev]'
	@touch $@

install: $(STAMP)

# aws-sam-cli pins conflict with the project's; it lives in its own virtualenv (made and filled by the dev one's uv).
$(TOOLS_STAMP): | $(STAMP)
	@test -x $(TOOLS_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(TOOLS_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(TOOLS_VENV)/bin/python aws-sam-cli==1.170.0
	@touch $@

tools: $(TOOLS_STAMP)

run: $(STAMP) ui
	$(BIN)/python -m local.stack

lint: $(STAMP) $(TOOLS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(LINT_ENV) $(BIN)/cfn-lint template.yaml
	$(LINT_ENV) $(TOOLS_VENV)/bin/sam validate --lint --template template.yaml

test: $(STAMP) $(TOOLS_STAMP) ui-browser
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q -n auto --dist loadfile

openapi: $(STAMP)
	@if [ -f scripts/generate_openapi.py ]; then \
		$(BIN)/python scripts/generate_openapi.py; \
	else \
		echo "scripts/generate_openapi.py is not written yet; the gateway serves the template's routes at /openapi.json"; \
	fi

# tap-salesforce, the peer of benchmarks/bench_peer.py, pins its own dependencies: it lives in its own virtualenv.
$(TAP_STAMP):
	@test -x $(TAP_VENV)/bin/python || $(PYTHON) -m venv $(TAP_VENV)
	$(TAP_VENV)/bin/python -m pip install --quiet tap-salesforce==2.8.1
	@touch $@

# The cold-start benchmark imports handlers with only what the shared layer installs (as sam build does), not the
# dev virtualenv's extras: a package present only there (rich, pulled in by httpx when installed) skews the imports.
# boto3 stands for the copy the Lambda runtime provides, at the version pyproject.toml pins.
$(LAYER_STAMP): layers/common/requirements.txt pyproject.toml | $(STAMP)
	@test -x $(LAYER_VENV)/bin/python || $(UV) venv --quiet --python $(PYTHON) $(LAYER_VENV)
	$(UV) pip install --quiet --compile-bytecode --python $(LAYER_VENV)/bin/python -r layers/common/requirements.txt \
		"$$(grep -o '"boto3==[^"]*"' pyproject.toml | tr -d '"')"
	@touch $@

bench: $(STAMP) $(TAP_STAMP) $(LAYER_STAMP)
	@if [ -f benchmarks/run.py ]; then \
		$(BIN)/python benchmarks/run.py; \
	elif [ -d benchmarks ]; then \
		$(BIN)/pytest -q -p no:randomly benchmarks; \
	else \
		echo "no benchmarks/ yet"; \
	fi

# The embeddable UI (ui/): npm ci, type check, unit tests, then the versioned bundle in ui/dist. Its manifest is the
# stamp (written last), so the whole step runs again only when a ui/ source changes or the last run failed.
.PHONY: ui chromium ui-browser
UI_STAMP := ui/dist/manifest.json
UI_SOURCES := $(shell find ui/src ui/test -type f 2>/dev/null) ui/package.json ui/package-lock.json ui/tsconfig.json ui/build.mjs
CHROMIUM := /usr/bin/chromium

$(UI_STAMP): $(UI_SOURCES)
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	cd ui && npm run --silent typecheck && npm test --silent && npm run --silent build

ui: $(UI_STAMP)

# The browser tests drive Debian's Chromium (never a browser downloaded from elsewhere); installed only when missing.
$(CHROMIUM):
	$$( [ "$$(id -u)" -eq 0 ] || echo sudo ) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" -eq 0 ] || echo sudo -E ) apt-get install -y -qq chromium

chromium: $(CHROMIUM)

ui-browser: ui chromium

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .local-state
