# E²A developer commands. `make run` and `make test` are the whole quick start.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run demo demo-run test proof install lock lock-upgrade migrate collectstatic bootstrap lint format bench browser-check schema-check clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The locked dependencies, each checked against its hash, then E²A itself without
# resolving anything again: every machine runs the same versions.
$(STAMP): requirements/lock-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/lock-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

## lock: add what pyproject.toml newly asks for to the hash-checked lock files, keeping every
## other pin; lock-upgrade: move every pin to the newest release its range allows
LOCK_FLAGS := --generate-hashes --python-version 3.11 --python-platform linux --no-header --quiet
lock: install
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) -o requirements/lock.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements/lock.txt $(LOCK_FLAGS) \
		-o requirements/lock-dev.txt

lock-upgrade: install
	$(BIN)/uv pip compile pyproject.toml $(LOCK_FLAGS) --upgrade -o requirements/lock.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev -c requirements/lock.txt $(LOCK_FLAGS) \
		--upgrade -o requirements/lock-dev.txt

migrate: install
	$(BIN)/python manage.py migrate --no-input

collectstatic: install
	$(BIN)/python manage.py collectstatic --no-input -v0

bootstrap: migrate collectstatic
	$(BIN)/python manage.py bootstrap_demo

## run: install, migrate, create the demo tenant, then web + worker + beat (Ctrl-C stops all)
run: bootstrap
	@echo "E²A on http://127.0.0.1:8000  (admin: /admin/, API docs: /docs)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

## demo: a finite tour without a server: a fresh demo database under var/, a past week of
## generated orders replayed through E²A (scan, detection, escalation, notes), the stats
DEMO_DB  := $(CURDIR)/var/demo.sqlite3
DEMO_ENV := DATABASE_URL=sqlite:///$(DEMO_DB) REDIS_URL= CELERY_BROKER_URL=filesystem:// LOG_LEVEL=WARNING
demo: install
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(DEMO_ENV) $(BIN)/python manage.py migrate --no-input -v0
	$(DEMO_ENV) $(BIN)/python manage.py bootstrap_demo
	$(DEMO_ENV) $(BIN)/python manage.py demo_tour --days 7
	$(DEMO_ENV) $(BIN)/python manage.py generate_invoices --tenant demo-3pl --period previous
	$(DEMO_ENV) $(BIN)/python manage.py generate_invoices --tenant demo-3pl --period current

## demo-run: `make run` plus a stream of generated orders over HTTP (the Procfile's own
## lines, with one more), so exceptions appear in the console within a minute
DEMO_TRAFFIC := traffic: python manage.py generate_events stream --seconds 86400 --rate 0.2 \
	--issue-key --wait-for-server 90
demo-run: bootstrap
	mkdir -p var
	{ cat Procfile; echo "$(DEMO_TRAFFIC)"; } > var/Procfile.demo-run
	@echo "E²A on http://127.0.0.1:8000 with demo traffic (admin: /admin/, API docs: /docs)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f var/Procfile.demo-run -d $(CURDIR)

## test: the suite without the long runs (SQLite here; .ci/run points it at PostgreSQL and Redis)
test: install
	$(BIN)/python -m pytest

## proof: the long runs: the browser tests, the served app and worker under outages, a
## replayed day scored (markers browser and proof; .ci/run runs it after `make test`)
proof: install
	$(BIN)/python -m pytest -m "browser or proof"

## browser-check: the console and /docs in headless Chromium (screenshots in var/screenshots/)
browser-check: install
	$(BIN)/python -m pytest -m browser -v

## schema-check: Schemathesis against /api/schema/ (every operation, every documented answer)
schema-check: install
	$(BIN)/python -m pytest tests/test_api_contract.py -v

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: every benchmark under bench/, each one's output published in docs/PERFORMANCE.md
## (needs the local PostgreSQL and Redis; about an hour on 2 cores)
bench: install
	$(BIN)/python bench/publish.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
