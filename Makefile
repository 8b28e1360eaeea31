# sopflow: `make run` serves the default bundle, `make test` runs every test.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEFINITIONS ?= definitions
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers of `make test` and `make test-tz` (PYTEST_WORKERS=0 runs in one process).
PYTEST_WORKERS ?= 2

.DEFAULT_GOAL := help
.PHONY: help venv run demo demo-clean test test-tz screenshots coverage-report accept-golden lint format bench schema validate clean db mutation

help: ## Show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP) ## Create .venv and install sopflow with its dev tools (done by every target)

# run and db use sopflow's own defaults (var/sopflow.db, var/evidence, var/mailbox, or
# $SOPFLOW_DATABASE_URL...), the same as `sopflow token`, `sopflow user` and `sopflow db`.
run: $(STAMP) ## Serve the default bundle on SQLite in var/ (prints the URL and a first token)
	@echo "sopflow: serving var/sopflow.db; for a simulated quarter of demo data (with tokens for a rep, a manager and an analyst) run 'make demo' instead"
	$(BIN)/sopflow serve $(DEFINITIONS) --host $(HOST) --port $(PORT) --log-format text

# `make demo`: a simulated quarter (sopflow demo, docs/server.md "Demo data") in var/demo.db,
# made once (delete the file or `make demo-clean` to make it again), then served; the start
# prints tokens for bundle staff: the rep holding most open records, their manager and an
# analyst (each start revokes the tokens the start before printed).
DEMO_DB ?= var/demo.db
SEED ?= 1
LEADS ?= 100000
DEMO_FLAGS = --database-url sqlite:///$(DEMO_DB) --evidence-dir var/demo-evidence
$(DEMO_DB): $(STAMP)
	@mkdir -p var
	$(BIN)/sopflow demo $(DEFINITIONS) $(DEMO_FLAGS) --seed $(SEED) --leads $(LEADS)

demo: $(DEMO_DB) ## Fill var/demo.db with a simulated quarter (SEED=1 LEADS=100000) and serve it
	$(BIN)/sopflow serve $(DEFINITIONS) $(DEMO_FLAGS) --host $(HOST) --port $(PORT) --log-format text

demo-clean: ## Delete the demo database (the next `make demo` simulates the quarter again)
	rm -rf $(DEMO_DB) var/demo-evidence

# The suite runs under coverage (branches, the `sopflow serve` subprocess included; settings in
# pyproject's [tool.coverage.*]); scripts/check_coverage.py fails under each package's floor.
# pytest-xdist spreads the tests over PYTEST_WORKERS processes; each worker is a subprocess
# of the measured pytest, so coverage's patch = subprocess measures it and `combine` merges it.
# The browser tests (tests/browser: Debian's Chromium, installed by ensure-chromium) run after
# the rest, in one process: one demo database and one browser for all of them (xdist's
# loadgroup did not keep them on one worker here: decision 78).
test: $(STAMP) ## Run the whole test suite under branch coverage (SQLite and PostgreSQL)
	@sh scripts/ensure-postgres.sh
	@sh scripts/ensure-chromium.sh
	@rm -f .coverage .coverage.* coverage.json
	$(BIN)/python -m coverage run -m pytest -q -n $(PYTEST_WORKERS) --ignore=tests/browser
	$(BIN)/python -m coverage run -m pytest -q -p no:cacheprovider tests/browser
	@$(BIN)/python -m coverage combine -q
	@$(BIN)/python -m coverage json -q -o coverage.json
	$(BIN)/python scripts/check_coverage.py coverage.json

test-tz: $(STAMP) ## Run the time-zone dependent tests (marker tz) again under TZ=America/New_York
	@sh scripts/ensure-postgres.sh
	@sh scripts/ensure-chromium.sh
	TZ=America/New_York $(BIN)/python -m pytest -q -p no:cacheprovider -n $(PYTEST_WORKERS) -m tz

screenshots: $(STAMP) ## Take the console's screenshots again into docs/screenshots (browser tests)
	@sh scripts/ensure-chromium.sh
	SOPFLOW_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser

coverage-report: ## Show the missing lines and branches of the last `make test`, least covered first
	$(BIN)/python -m coverage report --show-missing

accept-golden: ## Accept reviewed golden diagnostics (tests/fixtures/definitions/**/expected.txt.new)
	@find tests/fixtures/definitions -name expected.txt.new | while read -r f; do \
		mv "$$f" "$${f%.new}" && echo "accepted $${f%.new}"; done

# Mutation testing is slow (minutes a target) and not part of `make test`: docs/testing.md.
TARGET ?= all
JOBS ?= 1
mutation: $(STAMP) ## Mutation score of TARGET=expr|rules|prefilter|tables|scoring|render|calendar|alerts|tick|moves|cli|store|all (SAMPLE=n JOBS=1)
	$(BIN)/python scripts/mutation.py $(TARGET) --max-children $(JOBS) $(if $(SAMPLE),--sample $(SAMPLE))

lint: $(STAMP) ## ruff, ruff format --check, mypy, layer check
	$(BIN)/ruff check engine runtime api tests bench
	$(BIN)/ruff format --check engine runtime api tests bench
	$(BIN)/mypy
	@if [ -f ../shared/tools/check_layers.py ]; then $(BIN)/python ../shared/tools/check_layers.py; fi

format: $(STAMP) ## Format the code with ruff
	$(BIN)/ruff format engine runtime api tests bench
	$(BIN)/ruff check --fix engine runtime api tests bench

db: $(STAMP) ## Create or upgrade the database ($$SOPFLOW_DATABASE_URL, default var/sopflow.db)
	$(BIN)/sopflow db upgrade

bench: $(STAMP) ## Run the benchmarks and write docs/benchmarks.md (installs wrk if missing)
	@sh scripts/ensure-wrk.sh
	@sh scripts/ensure-postgres.sh
	$(BIN)/python -m bench

validate: $(STAMP) ## Validate the default bundle
	$(BIN)/sopflow validate $(DEFINITIONS)

schema: $(STAMP) ## Write the JSON Schema of definition files to schema/sopflow.schema.json
	@mkdir -p schema
	$(BIN)/sopflow schema --out schema/sopflow.schema.json

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis mutants .coverage .coverage.* coverage.json htmlcov
