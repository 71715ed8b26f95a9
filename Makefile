# The two README commands, `make run` and `make test`, set everything up themselves on a fresh
# clone: a pinned uv in .tools/, the locked environment in .venv/, then the work.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export UV_PYTHON_DOWNLOADS := never
PYTEST_ARGS ?=

IMAGE ?= localhost/conveyor-serve:local
REQUIREMENTS ?= requirements/serve.txt

.PHONY: help setup run test lint check-static format clean bench bench-serve serve image smoke requirements

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	$(PYTHON) -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras
	touch $@

setup: $(VENV)/.synced ## install the locked environment (.venv) with a pinned uv

run: setup ## set up, then run the whole pipeline on the embedded data (dvc repro)
	dvc repro
	dvc metrics show

test: run lint check-static ## set up, run the pipeline, lint, then the whole test suite
	pytest $(PYTEST_ARGS)

lint: setup ## ruff (lint + format check) and mypy
	ruff check src tests bench
	ruff format --check src tests bench
	mypy

SCHEMAS := tests/workflows/schemas
check-static: setup ## workflow and Dockerfile checks: actionlint, zizmor, JSON schemas, hadolint
	actionlint
	zizmor --offline --strict-collection --no-progress .
	check-jsonschema --schemafile $(SCHEMAS)/github-workflows.json .github/workflows/*.yml
	check-jsonschema --schemafile $(SCHEMAS)/github-actions.json .github/actions/*/action.yml
	check-jsonschema --schemafile $(SCHEMAS)/dependabot.json .github/dependabot.yml
	hadolint --failure-threshold style Dockerfile

format: setup ## apply ruff's fixes and formatting
	ruff check --fix src tests bench
	ruff format src tests bench

bench: run ## measure the pipeline (docs/benchmarks.md)
	python bench/pipeline.py --write docs/benchmarks.md

bench-serve: image ## measure the server against the alternatives (docs/serving-benchmarks.md)
	python bench/serve.py --image $(IMAGE) --write docs/serving-benchmarks.md

serve: run ## serve models/model.onnx on http://127.0.0.1:8080 (CONVEYOR_* variables apply)
	CONVEYOR_HOST=$${CONVEYOR_HOST:-127.0.0.1} conveyor-serve

image: run ## build the serving image with docker, else podman (IMAGE=...)
	scripts/container.sh build $(IMAGE)

smoke: image ## start the image, call /health and /predict, stop it
	scripts/smoke-test.sh $(IMAGE)

requirements: setup ## export the locked runtime requirements the image installs
	$(UV) export --frozen --no-dev --no-emit-project --format requirements-txt \
		--quiet --output-file $(REQUIREMENTS)

clean: ## remove environments, caches and pipeline outputs (not the DVC cache)
	rm -rf .tools $(VENV) .mypy_cache .ruff_cache .pytest_cache data/prepared models
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
