# Two commands do everything on a fresh machine:
#   make run   - set up, then run the whole pipeline on the demo bank through Airflow
#   make test  - set up, then lint (ruff, sqlfluff) and run the test suite
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.synced

.PHONY: help venv run test lint pytest lock clean stop

help:
	@echo "make run    set up and run the whole pipeline (embedded Postgres, Airflow, dbt, GX, ML)"
	@echo "make test   set up and run ruff, sqlfluff and pytest"
	@echo "make lock   re-resolve requirements.lock from pyproject.toml"
	@echo "make stop   stop the embedded Postgres"
	@echo "make clean  remove .venv and local state (.crm)"

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (found %s); set PYTHON=/path/to/python3.11" % sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --quiet --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

venv: $(STAMP)

run: venv
	$(BIN)/crm run $(if $(DATE),--date $(DATE),)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/sqlfluff lint dbt_project warehouse/migrations --processes 2
	$(BIN)/sqlfluff lint ml/sql --templater placeholder

pytest: venv
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint pytest

lock:
	@test -x $(BIN)/uv || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"; }
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --quiet -o requirements.lock

stop:
	@test -x $(BIN)/crm && $(BIN)/crm warehouse stop || true

clean: stop
	rm -rf $(VENV) .crm .crm-test
