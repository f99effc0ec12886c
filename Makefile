# One command per job. `make run` and `make test` install what they need on first use, so they are
# the only two commands a new machine needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
# The pinned Node.js from package.json (the machine's may be end-of-life) and the venv's tools.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1

.PHONY: help setup synth run serve orders timeline test faults mutation bench lint clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@echo "==> Creating $(VENV) and installing requirements-dev.txt (about a minute the first time)"
	@python3 -m venv $(VENV)
	@$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> Installing the pinned AWS CDK CLI and Node.js (npm ci)"
	@npm ci --no-audit --no-fund --loglevel=error
	@# The bundled Node.js binary is x86_64; elsewhere fall back to the machine's node.
	@node_modules/.bin/node --version >/dev/null 2>&1 || rm -f node_modules/.bin/node
	@touch $@

setup: $(VENV)/.installed node_modules/.installed ## install Python and Node dependencies (idempotent)

synth: setup ## cdk synth, offline (no AWS credentials needed)
	npx cdk synth --quiet
	@echo "Templates in cdk.out/: $$(ls cdk.out/*.template.json | xargs -n1 basename | tr '\n' ' ')"

run: setup ## run the system end to end on the local cloud (moto + fake vendor + local API)
	$(PY) -m local_cloud run

PORT ?= 8780
serve: setup ## like run, then keep the Order API up on 127.0.0.1:8780 (PORT=N, ARGS='--orders 0'; Ctrl-C to stop)
	$(PY) -m local_cloud run --serve --port $(PORT) $(ARGS)

orders: setup ## generated orders instead of the samples (ARGS='--orders 200 --vendor-faults flaky --json'; see --help)
	$(PY) -m local_cloud run $(if $(ARGS),$(ARGS),--orders 100)

timeline: setup ## run the samples, then print one order's events (REF=M106-S76-OP04-R03)
	@test -n "$(REF)" || { echo "usage: make timeline REF=<order reference>, e.g. REF=M106-S76-OP04-R03" >&2; exit 2; }
	$(PY) -m local_cloud run --timeline $(REF) $(ARGS)

bench: setup ## benchmarks (figures, not tests): cost per order, capacity, throughput, the mediator, seed 001's patterns
	$(PY) -m bench.cost --repeat 3
	$(PY) -m bench.capacity
	$(PY) -m bench.throttled --orders 100 --profile aws
	$(PY) -m bench.throughput
	$(PY) -m bench.mediator --requests 200 --quota 20 --faults healthy
	$(PY) -m bench.mediator --requests 200 --quota 20 --faults flaky
	$(PY) -m bench.patterns --steps 10 --work 5,60

lint: setup ## ruff (lint + format check), mypy, and the architecture's import rules
	ruff check .
	ruff format --check .
	mypy
	PYTHONPATH=.:lambdas lint-imports --no-logo --no-cache

test: setup lint ## lint, type-check and run the whole test suite
	LOAD_ORDERS=$${LOAD_ORDERS:-100} FAULT_ORDERS=$${FAULT_ORDERS:-20} \
		$(PY) -m pytest -n auto --maxprocesses 4 --dist loadscope

faults: setup ## the fault-injection suite, 500 orders per scenario (forty minutes to an hour)
	LOAD_ORDERS=$${LOAD_ORDERS:-500} FAULT_ORDERS=$${FAULT_ORDERS:-500} \
		$(PY) -m pytest tests/faults

mutation: setup ## how many small wrong changes where money moves the tests notice (ARGS='--module points.py'; not in make test)
	$(PY) -m tests.mutation $(ARGS)

clean: ## remove generated files (keeps .venv and node_modules)
	rm -rf cdk.out .local_cloud .pytest_cache .mypy_cache .ruff_cache .hypothesis
