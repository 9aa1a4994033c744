# Floe: `make run` serves the platform, `make test` proves it. Everything else is a step of those.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export FLOE_DATA_DIR ?= $(CURDIR)/.floe
PROXY := .tools/node_modules/.bin/configurable-http-proxy
PROXY_VERSION := 5.3.0

.PHONY: run test bench images docker venv proxy chromium lint clean

run: images proxy ## serve Floe on http://127.0.0.1:$${FLOE_PORT:-8000}
	$(VENV)/bin/jupyterhub -f jupyterhub_config.py

test: images proxy chromium lint ## unit, integration and browser tests
	$(VENV)/bin/pytest

bench: images proxy ## spawn-to-ready vs plain DockerSpawner; dataset upload, dedup, mounts
	$(PY) -m bench.spawn
	$(PY) -m bench.datasets

images: venv docker ## build floe/workspace (and a base image when no registry answers)
	$(PY) -m images.build

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

docker:
	bash scripts/ensure-docker.sh

proxy: $(PROXY)
$(PROXY):
	npm install --prefix .tools --no-audit --no-fund --loglevel=error configurable-http-proxy@$(PROXY_VERSION)

chromium:
	bash scripts/ensure-chromium.sh

clean: ## remove the local virtualenv and tools (not the data dir, not images)
	rm -rf $(VENV) .tools
