# zoho-aep: every target installs what it needs into .venv first (python3 >= 3.11 is all it assumes).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1

CHECKOV_VENV ?= .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-stamp
# `make lock` resolves the *.lock files (pinned, with hashes) with uv, from a virtualenv of its own.
LOCK_VENV ?= .venv-lock
UV := $(LOCK_VENV)/bin/uv
UV_COMPILE := $(UV) pip compile --quiet --generate-hashes --upgrade --custom-compile-command "make lock"

.PHONY: install browser demo local test test-unit test-integration test-proof test-e2e lint format typecheck validate \
	build check security proof proof-full proof-figures docs bench lock clean

# The test tiers (every folder of tests/ is in one; tests/unit/test_makefile.py checks it).
TESTS_UNIT := tests/unit
TESTS_INTEGRATION := tests/integration tests/emulators
TESTS_PROOF := tests/proof
TESTS_E2E := tests/e2e

# Installs exactly the locked versions, each checked against its hash (requirements-dev.lock, made
# from requirements-dev.txt by `make lock`). The lock is complete, so pip installs it as it is
# (--no-deps) and `pip check` proves it consistent; the package is built with the locked setuptools.
$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements-dev.lock
	$(PY) -m pip check
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# checkov pins old versions of boto3 and packaging, so it gets a virtualenv of its own.
$(CHECKOV_STAMP): requirements-checkov.lock
	test -x $(CHECKOV_VENV)/bin/python || python3 -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --require-hashes --no-deps -r requirements-checkov.lock
	touch $(CHECKOV_STAMP)

## The product's main job, locally: moto's server + the Zoho emulator, a link, a consent, the callback.
demo: install
	$(PY) -m local.demo

## Debian's Chromium and its driver, for the browser end-to-end test (installed when missing and root).
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing chromium and chromium-driver for the browser test..."; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "make browser: install Debian's chromium and chromium-driver as root to run the browser test"; fi

## The product locally for a person: emulated Zoho/Adobe/AWS, the real handlers, a connect link.
local: install
	$(PY) -m local.run

## Every test tier in one run: unit, integration (emulators included), proof, the browser end to end.
test: install browser
	$(PY) -m pytest $(TESTS_UNIT) $(TESTS_INTEGRATION) $(TESTS_PROOF) $(TESTS_E2E)

test-unit: install
	$(PY) -m pytest $(TESTS_UNIT)

test-integration: install
	$(PY) -m pytest $(TESTS_INTEGRATION)

test-proof: install
	$(PY) -m pytest $(TESTS_PROOF)

test-e2e: install browser
	$(PY) -m pytest $(TESTS_E2E)

## Speed, cost and scale, measured side by side (not part of `make test`; about 10 minutes).
## BENCH_QUICK=1: every code path at toy sizes. Writes docs/benchmarks.{md,png,json}.
bench: install
	$(PY) -m pip install --quiet -r benchmarks/requirements.txt
	$(PY) -m benchmarks

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy

validate: install
	$(VENV)/bin/sam validate --lint

build: install
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/sam build --parallel

## Static security checks: bandit on the layer and the functions, checkov on the template (offline).
security: install $(CHECKOV_STAMP)
	$(VENV)/bin/bandit -r layers/common/zoho_aep functions -q
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --skip-download --compact --quiet

## The proof suites (hostile callbacks, injected faults, concurrency, leaks, the template) and the static checks.
## `make test` runs the same suites (at CI size, tests/proof/sizes.py) among all the others; CI adds `make security`.
proof: security test-proof

## The proof suites at the size of their claims (PROOF_SIZE=full: >= 10,000 hostile callback inputs,
## 1,000 writers on one connection, every fault kind of every dependency call); not part of make test
## or CI. Rewrites the figures table of docs/security.md from the run.
proof-full: install
	PROOF_SIZE=full PROOF_FIGURES_DOC=docs/security.md PROOF_FIGURES_COMMAND="make proof-full" \
		$(PY) -m pytest -q -p no:cacheprovider tests/proof

## The figures of docs/security.md come from a full run.
proof-figures: proof-full

## Rewrite the tables in docs/ that are generated from the code (a unit test fails while they are stale).
docs: install
	$(PY) -m tools.docs

## Re-resolve every lock file to the newest versions its requirements allow, with hashes (then run
## `make test` and commit the *.lock files). The layer's lock is resolved for what Lambda runs:
## CPython 3.13 on manylinux2014_aarch64, so it carries those wheels' hashes.
lock:
	test -x $(UV) || { python3 -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/python -m pip install --quiet uv; }
	$(UV_COMPILE) --universal --python-version 3.11 -o requirements-dev.lock requirements-dev.txt
	$(UV_COMPILE) --universal --python-version 3.11 -o requirements-checkov.lock requirements-checkov.txt
	cd layers/common && ../../$(UV_COMPILE) --python-version 3.13 --python-platform aarch64-manylinux2014 \
		-o requirements.lock requirements.txt

## What CI runs besides the tests.
check: lint typecheck validate security

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache .venv-lock
