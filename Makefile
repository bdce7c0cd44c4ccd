# shelfware: two commands on a fresh machine.
#   make demo   create a virtualenv, install, run the whole loop against the sandboxes (SQLite),
#               then serve the web workspace on http://127.0.0.1:8000 (it prints how to sign in)
#   make test   install with test extras and run the tests (SQLite, then the store tests on
#               PostgreSQL when one answers; CI makes sure it does)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
DEMO_HOME ?= $(CURDIR)/.demo-home
DEMO_PORT ?= 8000

.PHONY: demo test test-sqlite test-postgres lint typecheck bench bench-asana bench-reconcile bench-api bench-m365 bench-google bench-scale clean install install-test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

demo: install
	rm -rf "$(DEMO_HOME)"
	SHELFWARE_HOME="$(DEMO_HOME)" $(BIN)/shelfware demo --serve --port $(DEMO_PORT)

test: install-test test-sqlite test-postgres

test-sqlite:
	$(BIN)/python -m pytest -n 2 -q -rs

test-postgres:
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(subst +psycopg,,$(PG_TEST_URL))', connect_timeout=3).close()" 2>/dev/null; then \
		SHELFWARE_TEST_DATABASE_URL="$(PG_TEST_URL)" $(BIN)/python -m pytest -m store -q; \
	elif [ -n "$$SHELFWARE_REQUIRE_SERVICES" ]; then \
		echo "PostgreSQL at $(PG_TEST_URL) does not answer, and SHELFWARE_REQUIRE_SERVICES is set" >&2; exit 1; \
	else \
		echo "SKIPPED store tests on PostgreSQL: nothing answers at $(PG_TEST_URL) (set PG_TEST_URL to point elsewhere)"; \
	fi

lint: install-test
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: install-test
	$(BIN)/mypy

# The bench measures the floor (raw fetch, raw driver write) in the same run as the syncs; it
# DROPs the schema of BENCH_DATABASE_URL (PostgreSQL is skipped when nothing answers there).
BENCH_DATABASE_URL ?= $(PG_TEST_URL)
BENCH_ARGS ?= --churn 150000 --million

bench: install-test
	$(BIN)/python bench/sync_rally.py --pg-url "$(BENCH_DATABASE_URL)" $(BENCH_ARGS)

bench-asana: install-test
	$(BIN)/python bench/sync_asana.py --members 10000 --rate-limit 150

# Microsoft 365 / Google Workspace: 100,000 users x 3 SKUs each at the vendors' documented
# throttling (Graph: 8,000 resource units per 10 s per app and tenant; Google: 2,400 queries a
# minute per user), next to the floor measured in the same run (SQLite; BENCH_VENDOR_ARGS may add
# --pg-url URL, whose schema it DROPs, and --second).
BENCH_VENDOR_ARGS ?=

bench-m365: install-test
	$(BIN)/python bench/sync_m365.py --users 100000 $(BENCH_VENDOR_ARGS)

bench-google: install-test
	$(BIN)/python bench/sync_google.py --users 100000 $(BENCH_VENDOR_ARGS)

# Reconciliation of 1,000,000 subscriptions across 1,000 models, SQLite and PostgreSQL (it DROPs
# the schema of BENCH_DATABASE_URL; PostgreSQL is skipped when nothing answers there).
bench-reconcile: install-test
	$(BIN)/python bench/reconcile.py --pg-url "$(BENCH_DATABASE_URL)"

# The API under load (issue 17): 50 clients against `shelfware serve` for 60 s at 1,000,000
# subscriptions and 100,000 candidates, SQLite and PostgreSQL (it DROPs the schema of
# BENCH_DATABASE_URL), with 1 and 2 `serve --workers`, each without then with a sync writing
# (each store built once). Smaller: make bench-api API_BENCH_ARGS=
API_BENCH_ARGS ?= --subscriptions 1000000 --candidates 100000 --seconds 60 --workers 1 2
bench-api: install-test
	$(BIN)/python bench/api_load.py --pg-url "$(BENCH_DATABASE_URL)" --sync both $(API_BENCH_ARGS)

# Scale-out (issue 17): 50 profiles x 20,000 users synced by 3 `shelfware worker` processes on
# PostgreSQL (it DROPs that database's schema) and the machine's Redis; and what the store weighs
# per subscription (docs/scaling.md).
bench-scale: install-test
	$(BIN)/python bench/scale_out.py --pg-url "$(BENCH_DATABASE_URL)" $(SCALE_BENCH_ARGS)
	$(BIN)/python bench/store_size.py --pg-url "$(BENCH_DATABASE_URL)"

clean:
	rm -rf $(VENV) .demo-home .pytest_cache
