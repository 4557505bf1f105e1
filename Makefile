# Trading Journal — every command a developer, CI or a self-hosting trader needs.
# `make dev` brings the whole system up on local defaults; `make test` runs every test.

SHELL := /bin/bash
.DEFAULT_GOAL := help
export UV_PYTHON_DOWNLOADS := never
# uv from PATH, or the module a fresh `pip install uv` leaves when no shim is on PATH yet.
UV ?= $(shell command -v uv >/dev/null 2>&1 && echo uv || echo python3 -m uv)
RUN := $(UV) run --frozen
SERVICE ?=
STEPS ?= 1
MSG ?=

.PHONY: help install native dev down infra-up infra-down infra-status bootstrap db-migrate db-rollback db-reset \
        db-revision test test-fast fuzz lint typecheck audit bench clean razorpay-simulate

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

install: ## Install uv (if missing) and the locked Python packages
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen --compile-bytecode
	@# Our own sources too: every service process (and its projector child) then starts from
	@# bytecode, even where PYTHONDONTWRITEBYTECODE is set (~7 s of CPU per start without).
	$(UV) run --frozen python -m compileall -q libs/common/src services/gateway/src services/trades/src services/imports/src services/billing/src >/dev/null
	@$(MAKE) --no-print-directory native || echo "warning: the trades engines run as pure Python (no C compiler?): see tj_trades/_native.py"

native: ## Compile the trades service's engines with mypyc (services/trades/.native; needs gcc)
	TJ_NATIVE=0 $(RUN) python -m tj_trades.native_build

dev: install infra-up db-migrate ## Start infrastructure and all four services, seed a demo user
	$(RUN) python deploy/local/dev.py

down: infra-down ## Stop the local infrastructure

infra-up: ## Start Kafka, PostgreSQL, Redis and S3 natively (idempotent), create topics and bucket
	bash deploy/local/infra.sh up
	$(RUN) python -m tj_common.ops bootstrap

infra-down: ## Stop the local infrastructure by pid
	bash deploy/local/infra.sh down

infra-status: ## Show what runs
	bash deploy/local/infra.sh status

bootstrap: ## Create the declared Kafka topics and the S3 bucket
	$(RUN) python -m tj_common.ops bootstrap

db-migrate: ## Apply pending migrations of every service (or SERVICE=x)
	$(RUN) python -m tj_common.ops migrate $(if $(SERVICE),--service $(SERVICE))

db-rollback: ## Roll back STEPS migrations of SERVICE
	@test -n "$(SERVICE)" || { echo "usage: make db-rollback SERVICE=trades STEPS=1"; exit 2; }
	$(RUN) python -m tj_common.ops rollback --service $(SERVICE) --steps $(STEPS)

db-reset: ## Drop and re-apply every migration of every service (or SERVICE=x)
	$(RUN) python -m tj_common.ops reset $(if $(SERVICE),--service $(SERVICE))

db-revision: ## Generate a migration: make db-revision SERVICE=trades MSG="add tags"
	@test -n "$(SERVICE)" -a -n "$(MSG)" || { echo 'usage: make db-revision SERVICE=trades MSG="what changes"'; exit 2; }
	$(RUN) python -m tj_common.ops revision --service $(SERVICE) -m "$(MSG)"

test: install ## Run the whole suite against the real infrastructure (started natively unless Docker or URLs give it)
	@if [ -z "$${KAFKA_BOOTSTRAP_SERVERS:-}" ] && ! docker info >/dev/null 2>&1; then \
		TJ_PG_FAST=$${TJ_PG_FAST:-1} bash deploy/local/infra.sh up; fi
	@# The engines' unit tests once as pure Python too: the compiled build must not hide a bug of
	@# the sources a machine without a C compiler runs (tj_trades/_native.py).
	TJ_NATIVE=0 $(RUN) pytest services/trades/tests -m "not infra" -q
	$(RUN) pytest

test-fast: ## Unit tests only (no infrastructure)
	$(RUN) pytest -m "not infra"

fuzz: ## Fuzz every import parser (10,000 examples per strategy; FUZZ_EXAMPLES=n to change)
	TJ_FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-10000} $(RUN) pytest services/imports/tests/test_fuzz_parsers.py -q --timeout 0

lint: ## ruff and format check
	$(RUN) ruff check .
	$(RUN) ruff format --check .

typecheck: ## mypy (strict) over libs and services
	$(RUN) mypy libs/common/src services/gateway/src services/trades/src services/imports/src services/billing/src

audit: ## pip-audit of the locked dependencies
	$(UV) export --frozen --no-dev --no-emit-workspace --no-hashes -o .local/requirements-audit.txt >/dev/null
	$(RUN) pip-audit -r .local/requirements-audit.txt --progress-spinner off

bench: install infra-up db-migrate ## Benchmarks; JSON results under bench/results/
	$(RUN) python -m bench.write_path
	$(RUN) python -m bench.read_cache
	$(RUN) python -m bench.trade_engine
	$(RUN) python -m bench.ingest
	$(RUN) python -m bench.analytics
	$(RUN) python -m bench.parse_formats
	$(RUN) python -m bench.import_1m
	$(RUN) python -m bench.webhooks

PLAN ?= pro_monthly
EVENTS ?= authenticated,activated,charged,invoice.paid
razorpay-simulate: ## Subscribe the demo user to PLAN and have the Razorpay stand-in send EVENTS (needs `make dev`)
	$(RUN) python -m deploy.razorpay.simulate --plan $(PLAN) --events $(EVENTS)

clean: ## Remove caches (not .local data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
