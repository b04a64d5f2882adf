# E²A developer commands. `make run` and `make test` are the whole quick start.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test install migrate bootstrap lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --no-input

bootstrap: migrate
	$(BIN)/python manage.py bootstrap_demo

## run: install, migrate, create the demo tenant, then web + worker + beat (Ctrl-C stops all)
run: bootstrap
	@echo "E²A on http://127.0.0.1:8000  (admin: /admin/, API docs: /docs)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

## test: the whole suite (SQLite here; .ci/run points it at PostgreSQL and Redis)
test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/sla_scan.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
