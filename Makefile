# The two README commands, `make run` and `make test`, set everything up themselves on a fresh
# clone: a pinned uv in .tools/, the locked environment in .venv/, then the work.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# The interpreter: PYTHON=... when given, else the first CPython 3.11 or newer on PATH, as
# scripts/find-python.sh chooses it (it says what to install when there is none). uv builds
# .venv with it (UV_PYTHON) and downloads no Python unless UV_PYTHON_DOWNLOADS=automatic.
PYTHON ?=
FIND_PYTHON := scripts/find-python.sh
UV_VERSION := 0.13.9
UV := .tools/bin/uv
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
export UV_PYTHON_DOWNLOADS ?= never
PYTEST_ARGS ?=

IMAGE ?= localhost/conveyor-serve:local
REQUIREMENTS ?= requirements/serve.txt

.PHONY: help setup run refresh-data rebuild test check-outputs gate champion compare suites unit test-image \
	test-workflows report report-example release-notes release-assets lint \
	check-static format clean bench bench-serve bench-drift serve image smoke requirements

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(UV):
	python=$$($(FIND_PYTHON) --bootstrap); "$$python" -m venv .tools
	.tools/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	python=$$($(FIND_PYTHON)); UV_PYTHON=$$python $(UV) sync --frozen --all-extras
	touch $@

setup: $(VENV)/.synced ## install the locked environment (.venv) with a pinned uv

# REPOSITORY (OWNER/REPO) and CODE_OWNER reach the scripts through the environment, never
# through the recipe's text. Both scripts refuse malformed values and say why.
.PHONY: init protect
init: ## rewrite the template's placeholders for your repository (REPOSITORY=owner/name, CODE_OWNER=@org/team; default: origin, @owner)
	scripts/init-repository.sh $${REPOSITORY:+"$$REPOSITORY"} $${CODE_OWNER:+--code-owner "$$CODE_OWNER"}

protect: setup ## protect the default branch with a ruleset requiring CI and a code-owner review (REPOSITORY=owner/name; needs gh)
	scripts/protect-main.sh $${REPOSITORY:+"$$REPOSITORY"}

run: setup ## set up, then run the whole pipeline (dvc repro) and summarise the model
	dvc repro
	conveyor summary

# The one hook that brings fresh data (retrain.yml runs it first): the template's default takes
# CONVEYOR_FRESH_DATA (a file or URL, through the environment) in place of a data source;
# replace scripts/refresh-data.sh with your own source (docs/retraining.md).
refresh-data: setup ## replace a data source with the file or URL in CONVEYOR_FRESH_DATA (docs/retraining.md)
	scripts/refresh-data.sh

rebuild: setup ## run every stage again, reusing nothing (what a release does)
	dvc repro --force
	conveyor summary

# CI's pipeline job runs these targets in this order (.github/workflows/ci.yml); `make test`
# runs the same order, so .ci/run proves it on a clean clone. Then the workflow tests, whose
# first test runs ci.yml's pipeline job itself with act on a clean copy, `make suites`
# included, unnarrowed: so every suite runs once, exactly as GitHub runs it. (`make suites`
# runs them directly, which is quicker while you work.) The workflow and container tests run
# in two lanes (pytest-xdist, one file at a time): that act run (tests/workflows/test_ci_run.py)
# in one, the other workflow runs and the image tests beside it in the other; every process,
# the workflows' steps included (tests/workflows/act.py passes it on), trains with one OpenMP
# thread, as in `make suites`.
test: run check-outputs gate champion compare lint check-static ## set up, run the pipeline, every check, then the whole test suite
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} pytest -m "workflows or container" -n 2 --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

check-outputs: setup ## fail if the committed dvc.lock and metrics/ are not what the pipeline produced
	conveyor check-outputs

gate: setup ## print every quality gate; fail if a blocking gate failed
	conveyor gate

# CHAMPION_FROM and BASE reach the recipes through the environment, never the recipe's text.
# auto: the latest GitHub release's model (with gh), else BASE's (default HEAD: the model as
# last committed) from the DVC cache or remote, else none (the fixed bounds still apply).
CHAMPION_FROM ?= auto
export CHAMPION_FROM
champion: setup ## fetch the champion (the model in production) into .champion/ (CHAMPION_FROM=auto|release|release:TAG|git:REV|path:DIR)
	conveyor champion fetch --from "$$CHAMPION_FROM" --base "$${BASE:-HEAD}"

compare: setup ## judge this checkout's model against the champion (gates.champion); fail if a blocking margin failed
	conveyor compare

# One pytest-xdist worker per core (SUITES_WORKERS=0: one process), one test file at a time
# each, the files that run the real pipeline first (tests/conftest.py). Every process trains
# with one OpenMP thread, so the workers never fight over the cores (OpenMP threads spin while
# they wait); the saved model does not depend on the thread count (tests/unit/test_modelio.py).
SUITES := not workflows and not container
SUITES_WORKERS ?= auto
suites: setup ## the test suites CI's pipeline job runs (all but the workflow and container tests)
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} pytest -m "$(SUITES)" -n $(SUITES_WORKERS) --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

unit: setup ## the unit tests alone (no pipeline run needed), with line coverage of src/conveyor
	pytest tests/unit --cov=conveyor --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

test-image: run ## the container tests: build, start, call, inspect and stop the image
	pytest -m container $(PYTEST_ARGS)

test-workflows: setup ## the workflow tests: the real workflow files run by act against stand-ins
	pytest -m workflows $(PYTEST_ARGS)

# BASE (a git revision) and RUN_URL reach the recipe through the environment, never through
# the recipe's text, so a branch name cannot inject shell.
export BASE RUN_URL RELEASE_TAG
report: setup ## write report.md: this checkout's model against the champion and BASE (e.g. BASE=origin/main)
	conveyor report $${BASE:+--base "$$BASE"} --output report.md $${RUN_URL:+--run-url "$$RUN_URL"}

release-notes: setup ## write release-comparison.md: the comparison with the champion this release replaces
	conveyor report --release-notes --output release-comparison.md

report-example: run ## regenerate docs/report-example.md and .png: the default model against a worse baseline
	python -m tests.report.make_example

release-assets: setup ## pack this checkout's model as the next champion (release-assets/; RELEASE_TAG names it)
	conveyor champion pack --output release-assets $${RELEASE_TAG:+--label "release $$RELEASE_TAG"}

lint: setup ## ruff (lint + format check) and mypy
	ruff check src tests bench
	ruff format --check src tests bench
	mypy

SCHEMAS := tests/workflows/schemas
# zizmor at its auditor persona (every audit, every confidence): a finding is fixed, or ignored
# on its line with the reason written beside it (tests/workflows/test_static.py checks both).
check-static: setup ## workflow and Dockerfile checks: actionlint, zizmor (auditor), JSON schemas, hadolint
	actionlint
	zizmor --offline --strict-collection --persona auditor --no-progress .
	check-jsonschema --schemafile $(SCHEMAS)/github-workflows.json .github/workflows/*.yml
	check-jsonschema --schemafile $(SCHEMAS)/github-actions.json .github/actions/*/action.yml
	check-jsonschema --schemafile $(SCHEMAS)/dependabot.json .github/dependabot.yml
	hadolint --failure-threshold style Dockerfile

format: setup ## apply ruff's fixes and formatting
	ruff check --fix src tests bench
	ruff format src tests bench

bench: run ## measure the pipeline (docs/benchmarks.md)
	python bench/pipeline.py --write docs/benchmarks.md

bench-serve: image ## measure the server against MLServer, BentoML and a bare app (docs/serving-benchmarks.md)
	scripts/bench-tools.sh
	python bench/serve.py --image $(IMAGE) --write docs/serving-benchmarks.md

bench-drift: run ## measure live drift tracking: offline vs live, the server with it on vs off (docs/drift-benchmarks.md)
	scripts/bench-tools.sh
	python bench/drift.py --write docs/drift-benchmarks.md

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
