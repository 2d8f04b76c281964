# The README's commands. Each one sets up what it needs first (idempotent): the project's
# environment in .venv and DVC's isolated one in .venv-dvc, both from the committed lock files.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
DVC_VENV := .venv-dvc
UV := $(VENV)/bin/uv
UV_VERSION := 0.13.9
ENV_STAMP := $(VENV)/.installed
DVC_STAMP := $(DVC_VENV)/.installed
MLFLOW_VENV := .venv-mlflow
MLFLOW_CLIENT_STAMP := $(VENV)/.mlflow-installed
MLFLOW_SERVER_STAMP := $(MLFLOW_VENV)/.installed
export DAGSTER_HOME := $(CURDIR)/.dagster
UI_PORT ?= 3000

.PHONY: setup mlflow run test test-all test-heavy ui bench bench-scale census-full lint lock keys docs

setup: $(ENV_STAMP) $(DVC_STAMP)

$(ENV_STAMP): requirements.lock pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(VENV)/bin/pip install -q uv==$(UV_VERSION)
	$(UV) pip install -q --compile-bytecode --python $(VENV)/bin/python -r requirements.lock
	$(UV) pip install -q --python $(VENV)/bin/python --no-deps -e .
	touch $@

$(DVC_STAMP): requirements-dvc.lock $(ENV_STAMP)
	test -x $(DVC_VENV)/bin/python || $(UV) venv -q --python $(VENV)/bin/python $(DVC_VENV)
	$(UV) pip install -q --compile-bytecode --python $(DVC_VENV)/bin/python -r requirements-dvc.lock
	touch $@

## `governance publish mlflow` (docs/mlflow.md): the `.[mlflow]` extra (mlflow-skinny, the client)
## into .venv from requirements-mlflow.lock, resolved against requirements.lock so no project pin
## moves; and an MLflow tracking server (`.venv-mlflow/bin/mlflow server`) in its own virtualenv,
## as DVC has, because the full mlflow's SQLAlchemy, Alembic and pandas pins are its own. The
## publish test starts that server; `make test` installs both.
mlflow: $(MLFLOW_CLIENT_STAMP) $(MLFLOW_SERVER_STAMP)

$(MLFLOW_CLIENT_STAMP): requirements-mlflow.lock $(ENV_STAMP)
	$(UV) pip install -q --compile-bytecode --python $(VENV)/bin/python -r requirements-mlflow.lock
	touch $@

$(MLFLOW_SERVER_STAMP): requirements-mlflow-server.lock $(ENV_STAMP)
	test -x $(MLFLOW_VENV)/bin/python || $(UV) venv -q --python $(VENV)/bin/python $(MLFLOW_VENV)
	$(UV) pip install -q --compile-bytecode --python $(MLFLOW_VENV)/bin/python \
		-r requirements-mlflow-server.lock
	touch $@

## The main job: `dvc repro` of the governed graph, then the gate table and report paths.
run: setup
	$(VENV)/bin/governance run

## Demo signing keys for a local try-out (docs/registry.md): two reviewers and the pipeline in
## .governance-keys/ (git-ignored), their lines added to governance/allowed_signers.
keys: setup
	$(VENV)/bin/governance keys init

## The tests (unit, graph, gates both ways, bad input, DVC, selection parsing), on
## TEST_WORKERS pytest-xdist workers: tests that share state carry an xdist_group and stay in
## one worker, in file order; tests/conftest.py sets the queue, longest first (hence no
## reorder). TEST_WORKERS=0 runs them in one process. The heavy end-to-end ones (browser,
## PostgreSQL + Celery, kills and concurrency, census scale) carry markers: `make test-all`.
HEAVY := browser or scale_out or reliability or scale
TEST_WORKERS ?= 2
test: setup mlflow
	$(VENV)/bin/python -m pytest -m "not ($(HEAVY))" -n $(TEST_WORKERS) --dist loadgroup \
		--no-loadscope-reorder

## Every test (what CI runs: .ci/run): `make test` on its workers, then the heavy end-to-end
## ones in one process (they start servers, kill runs and time whole graphs).
test-all: test
	$(VENV)/bin/python -m pytest -m "$(HEAVY)"

## Only the heavy end-to-end tests.
test-heavy: setup
	$(VENV)/bin/python -m pytest -m "$(HEAVY)"

## The Dagster UI (dg dev) on the project's instance, with the same runs `make run` made. Ctrl-C or a
## SIGTERM to make stops dg dev and every process it started (governance_assets/ui_server.py);
## a UI_PORT already in use stops it before anything starts.
ui: setup
	$(VENV)/bin/governance ui --port $(UI_PORT)

## Benchmarks, median of 3 each: the whole graph beside the same library work written plainly
## (benchmarks/plain_library.py) and beside its bare asset bodies, one interpreter per stage, a
## policy-only change and the no-op run (benchmarks/RESULTS.md); one 1,000,000-row census batch
## end to end (MILLION_ROW_BATCH.md); the audit questions over a 10,000,000-decision log
## (LOG_QUERIES.md). Run it on a quiet machine: the figures are wall times.
bench: setup
	$(VENV)/bin/python benchmarks/run_benchmarks.py
	$(VENV)/bin/python benchmarks/million_row_batch.py
	$(VENV)/bin/python benchmarks/decision_log_scale.py

## The full census (both UCI files, 299,285 rows) through the whole graph at 1x, 2x and 4x rows,
## each in a fresh temporary copy of the project; writes benchmarks/SCALE.md (docs/speed.md).
bench-scale: setup
	$(VENV)/bin/python benchmarks/census_scale.py

## Build data/raw/census_income_full.csv.gz (git-ignored) from ../shared for
## `dataset: census_income_full`.
census-full: setup
	$(VENV)/bin/python data/build_census_full.py

## The documentation site in site/: the reference pages generated from the code (docs/reference/,
## the asset graph on docs/architecture.md), then `mkdocs build --strict`, which fails on a broken
## link or anchor and on a page missing from the nav. NO_MKDOCS_2_WARNING silences Material's
## end-of-life banner, which is not a finding about the site.
docs: setup
	$(VENV)/bin/python -m governance_assets.docs_site
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

lint: setup
	$(VENV)/bin/ruff check governance_assets tests benchmarks

## Re-resolve the pinned environments after changing pyproject.toml or a requirements-*.txt.
lock: $(ENV_STAMP)
	$(UV) pip compile pyproject.toml --extra dev --universal -p 3.10 -o requirements.lock
	$(UV) pip compile requirements-dvc.txt --universal -p 3.10 -o requirements-dvc.lock
	$(UV) pip compile pyproject.toml --extra mlflow -c requirements.lock --universal -p 3.10 \
		-o requirements-mlflow.lock
	$(UV) pip compile requirements-mlflow-server.txt --universal -p 3.10 \
		-o requirements-mlflow-server.lock
