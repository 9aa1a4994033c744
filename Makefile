# Floe: `make run` serves the platform, `make test` proves it. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export FLOE_DATA_DIR ?= $(CURDIR)/.floe
PROXY_VERSION := 5.3.0
CHARTJS_VERSION := 4.6.1
# configurable-http-proxy (the hub's proxy) and Chart.js (the job pages' charts), from npm.
TOOLS := .tools/.installed-chp$(PROXY_VERSION)-chartjs$(CHARTJS_VERSION)
# Each setup step prints one line; its whole output goes to $(FLOE_DATA_DIR)/logs/setup/NAME.log.
# STEP NAME LABEL WORD COMMAND: WORD is what the line says unless the command writes better
# (one phrase a line) into the file $FLOE_STEP_OUTCOME, as OUTCOME below does.
STEP := bash scripts/step.sh
OUTCOME := >>"$${FLOE_STEP_OUTCOME:-/dev/null}" echo

.PHONY: run test bench images docker venv tools chromium postgres registry lint backup restore clean

run: images tools ## serve Floe on http://127.0.0.1:$${FLOE_PORT:-8000}
	@$(VENV)/bin/jupyterhub -f jupyterhub_config.py

test: images tools chromium postgres registry lint ## unit, integration and browser tests; the database tests again on PostgreSQL
	@$(VENV)/bin/pytest
	@FLOE_TEST_DATABASE=postgresql $(VENV)/bin/pytest -p no:cacheprovider tests/service tests/platform/test_database.py

bench: images tools ## spawn-to-ready vs plain DockerSpawner; datasets; jobs vs docker run; environments; serving; traefik vs chp; transfers vs cp and DVC; jobs on a swarm vs one machine; check-store vs sha256sum; teams vs none
	$(PY) -m bench.spawn
	$(PY) -m bench.datasets
	$(PY) -m bench.jobs
	$(PY) -m bench.environments
	$(PY) -m bench.serving
	$(PY) -m bench.proxy
	$(PY) -m bench.transfers
	$(PY) -m bench.swarm
	$(PY) -m bench.store_check
	$(PY) -m bench.teams

images: venv docker ## build floe/workspace (and a base image when no registry answers); ENVS=all builds every environment ahead
	@$(STEP) images "image floe/workspace" done $(PY) -m images.build $(if $(ENVS),--envs $(ENVS))

lint: venv
	@$(STEP) lint "lint (ruff)" clean \
		bash -c '$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .'

# make judges whether the venv is current; the step tells which way it went.
venv:
	@$(STEP) venv "venv (pip)" "up to date" $(MAKE) --no-print-directory $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[hub,test]'
	touch $@
	$(OUTCOME) installed

docker:
	@$(STEP) docker "docker engine" ready bash scripts/ensure-docker.sh

tools:
	@$(STEP) tools "tools (npm)" "up to date" $(MAKE) --no-print-directory $(TOOLS)
$(TOOLS):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error \
		configurable-http-proxy@$(PROXY_VERSION) chart.js@$(CHARTJS_VERSION)
	touch $@
	$(OUTCOME) installed

chromium:
	@$(STEP) chromium chromium present bash scripts/ensure-chromium.sh

postgres:
	@$(STEP) postgres postgresql present bash scripts/ensure-postgres.sh

registry:
	@$(STEP) registry "registry (docker-registry)" present bash scripts/ensure-registry.sh

backup: venv ## make backup TO=DIR: a consistent backup of this Floe (databases, blobs, secrets, homes)
	$(PY) -m hub_config.admin backup "$(TO)"

restore: venv ## make restore FROM=DIR, into a fresh data dir, with the hub stopped
	$(PY) -m hub_config.admin restore "$(FROM)"

clean: ## remove the local virtualenv and tools (not the data dir, not images)
	rm -rf $(VENV) .tools
