# engagement-warehouse: the two commands are `make run` and `make test` (see README.md).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# ---- settings (override on the command line or in .env) -------------------------------------------------
-include .env
PYTHON ?= python3.11
AS_OF ?= 2026-11-22
SAMPLE_USERS ?= 300
SAMPLE_DAYS ?= 14
SAMPLE_SEED ?= 7
SANDBOX_PORT ?= 4579
SCALE ?= small

ROOT := $(CURDIR)
LOCAL := $(ROOT)/.local
VENV := $(ROOT)/.venv
DBT_VENV := $(ROOT)/.venv-dbt
BIN := $(VENV)/bin
DBT := $(DBT_VENV)/bin/dbt

# Airflow with SQLite under .local/airflow, this repo's dags/ and plugins/, no examples, no telemetry.
export AIRFLOW_HOME ?= $(LOCAL)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(ROOT)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(ROOT)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__CORE__PARALLELISM ?= 4
export AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY ?= 120
export AIRFLOW__USAGE_DATA_COLLECTION__ENABLED := False
export AIRFLOW__COSMOS__ENABLE_TELEMETRY := False
export AIRFLOW__COSMOS__CACHE_DIR ?= $(LOCAL)/cosmos_cache
export GX_ANALYTICS_ENABLED := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export DO_NOT_TRACK := 1
export PYTHONPATH := $(ROOT)/plugins
# The project's settings (documented in README.md and .env.example).
export EWH_LAKE_URL ?= file://$(LOCAL)/lake
export EWH_TARGET ?= duckdb
export EWH_DUCKDB_PATH ?= $(LOCAL)/warehouse.duckdb
export EWH_PINPOINT_APPLICATION_ID ?= ewh-local-app
export EWH_PINPOINT_ENDPOINT_URL ?= http://127.0.0.1:$(SANDBOX_PORT)
export EWH_DATA_DOCS_DIR ?= $(LOCAL)/data_docs
export EWH_PINPOINT_IMPORT_POLL_SECONDS ?= 1
# The local sandbox accepts any credentials; real AWS uses the usual boto3 chain or the aws_default connection.
export AWS_DEFAULT_REGION ?= us-east-1
export AWS_ACCESS_KEY_ID ?= sandbox
export AWS_SECRET_ACCESS_KEY ?= sandbox

SANDBOX_DB := $(LOCAL)/sandbox/pinpoint.sqlite
SANDBOX_PID := $(LOCAL)/sandbox/sandbox.pid
SAMPLE_STAMP := $(LOCAL)/lake/.sample-$(SAMPLE_USERS)u-$(SAMPLE_DAYS)d-seed$(SAMPLE_SEED)-$(AS_OF)

.PHONY: help install airflow-init manifest data sandbox-start sandbox-stop run test lint lint-sql up docs bench env clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

# ---- install (skipped when the pins have not changed) ------------------------------------------------------
$(VENV)/.installed: requirements.txt constraints.txt
	@echo "==> installing the Airflow environment into .venv (a few minutes the first time)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -c constraints.txt
	touch $@

$(DBT_VENV)/.installed: requirements-dbt.txt constraints-dbt.txt
	@echo "==> installing dbt into .venv-dbt"
	test -x $(DBT_VENV)/bin/python || $(PYTHON) -m venv $(DBT_VENV)
	$(DBT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip==26.3"
	$(DBT_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dbt.txt -c constraints-dbt.txt
	touch $@

install: $(VENV)/.installed $(DBT_VENV)/.installed ## create both virtualenvs with the pinned dependencies

# ---- Airflow metadata DB (SQLite) and the pool that serialises DuckDB writers ----------------------------
$(AIRFLOW_HOME)/.initialised: $(VENV)/.installed
	@echo "==> initialising Airflow (SQLite) in $(AIRFLOW_HOME)"
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/db-migrate.log 2>&1 || (tail -20 $(AIRFLOW_HOME)/db-migrate.log; exit 1)
	$(BIN)/airflow pools set duckdb_warehouse 1 "DuckDB allows one writer per file" > /dev/null
	$(BIN)/airflow pools set --include-deferred pinpoint_import_jobs 2 "Pinpoint import jobs in flight" > /dev/null
	touch $@

airflow-init: $(AIRFLOW_HOME)/.initialised ## initialise Airflow's metadata DB under .local/airflow

# ---- dbt manifest: cosmos renders tasks from it, so parsing DAGs never runs dbt -------------------------
manifest: $(DBT_VENV)/.installed ## build dbt_project/target/manifest.json (dbt parse)
	cd dbt_project && $(DBT) parse --quiet --target duckdb

# ---- sample data (deterministic; written once per setting) ---------------------------------------------
$(SAMPLE_STAMP): | $(VENV)/.installed
	@echo "==> generating sample data ($(SAMPLE_USERS) users, $(SAMPLE_DAYS) days to $(AS_OF), seed $(SAMPLE_SEED))"
	$(BIN)/python -m engagement_warehouse.sample_data --lake-url "$(EWH_LAKE_URL)" --users $(SAMPLE_USERS) \
		--days $(SAMPLE_DAYS) --seed $(SAMPLE_SEED) --end-date $(AS_OF)
	touch $@

data: $(SAMPLE_STAMP) ## generate the sample data into the lake's raw/ folder

# ---- the local Pinpoint sandbox -------------------------------------------------------------------------
sandbox-start: $(VENV)/.installed ## start the local Pinpoint API on 127.0.0.1:$(SANDBOX_PORT)
	mkdir -p $(dir $(SANDBOX_DB))
	if [ -f $(SANDBOX_PID) ] && kill -0 "$$(cat $(SANDBOX_PID))" 2>/dev/null; then \
		echo "sandbox already running (pid $$(cat $(SANDBOX_PID)))"; \
	else \
		$(BIN)/python -m engagement_warehouse.sandbox.wait --port $(SANDBOX_PORT) --expect free && \
		{ nohup $(BIN)/python -m engagement_warehouse.sandbox --host 127.0.0.1 --port $(SANDBOX_PORT) \
			--db $(SANDBOX_DB) --pidfile $(SANDBOX_PID) > $(LOCAL)/sandbox/sandbox.log 2>&1 & } && \
		$(BIN)/python -m engagement_warehouse.sandbox.wait --port $(SANDBOX_PORT) --expect listening \
			|| { echo "see $(LOCAL)/sandbox/sandbox.log"; exit 1; }; \
	fi

sandbox-stop: ## stop the local Pinpoint API
	if [ -f $(SANDBOX_PID) ]; then kill $$(cat $(SANDBOX_PID)) 2>/dev/null || true; rm -f $(SANDBOX_PID); fi

# ---- the two commands ------------------------------------------------------------------------------------
run: install airflow-init manifest data sandbox-start ## set everything up and run the whole pipeline once
	@echo "==> running the pipeline for $(AS_OF)"
	$(BIN)/python -m engagement_warehouse.local_run --as-of $(AS_OF) --log-dir $(LOCAL)/logs/dags \
		|| { $(MAKE) --no-print-directory sandbox-stop; exit 1; }
	$(MAKE) --no-print-directory sandbox-stop
	cd dbt_project && $(DBT) docs generate --quiet --target duckdb --vars '{as_of: "$(AS_OF)"}' > /dev/null
	$(BIN)/python -m engagement_warehouse.reporting.sync_report > /dev/null
	$(BIN)/python -m engagement_warehouse.reporting.summary --as-of $(AS_OF)

lint: $(VENV)/.installed ## ruff (lint and format check)
	$(BIN)/ruff check plugins dags tests bench
	$(BIN)/ruff format --check plugins dags tests bench

test: install manifest lint ## ruff, DAG integrity, unit tests and the scheduler-driven end-to-end test
	$(BIN)/python -m pytest -q

# ---- more ------------------------------------------------------------------------------------------------
up: install airflow-init manifest ## airflow standalone: the UI on http://localhost:8080 (login in .local/airflow)
	PATH="$(BIN):$$PATH" $(BIN)/airflow standalone

docs: manifest ## build and serve the dbt docs on http://127.0.0.1:8081 (catalog from the warehouse when it exists)
	cd dbt_project && if [ -f "$(EWH_DUCKDB_PATH)" ] && $(DBT) docs generate --quiet --target duckdb \
			--vars '{as_of: "$(AS_OF)"}'; then :; else \
		DBT_INTROSPECT=false $(DBT) docs generate --quiet --target duckdb --no-populate-cache --empty-catalog \
			--vars '{offline_incremental: false}'; fi
	cd dbt_project && $(DBT) docs serve --host 127.0.0.1 --port 8081 --no-browser

lint-sql: $(DBT_VENV)/.installed ## sqlfluff (dbt templater) on the dbt models
	cd dbt_project && $(DBT_VENV)/bin/sqlfluff lint models

bench: install ## figures on generated data (SCALE=small|medium|large): one table + bench/results.json
	$(BIN)/python bench/run.py --scale $(SCALE) --output $(ROOT)/bench/results.json

env: ## print the environment make uses: eval "$$(make -s env)" to run airflow/dbt by hand
	@env | grep -E '^(AIRFLOW_HOME|AIRFLOW__|EWH_|PYTHONPATH|GX_|DBT_|DO_NOT_TRACK|AWS_DEFAULT_REGION)' | sort \
		| sed -E "s/^([^=]+)=(.*)$$/export \1='\2'/"

clean: sandbox-stop ## remove .local (lake, warehouse, Airflow DB) and dbt's target/
	rm -rf $(LOCAL) dbt_project/target dbt_project/logs
