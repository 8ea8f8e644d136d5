# One way to run each task; CI runs `make test` through .ci/run.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)  ## rehearsal on embedded defaults
	$(VENV)/bin/gateway demo

test: $(STAMP) lint  ## the whole suite (starts the servers it needs)
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
	  echo "starting a throwaway redis-server on 127.0.0.1:6379 for the tests"; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no; \
	  sleep 0.5; }
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check gateway tests
	$(VENV)/bin/ruff format --check gateway tests
	$(VENV)/bin/mypy gateway tests

format: $(STAMP)
	$(VENV)/bin/ruff format gateway tests
	$(VENV)/bin/ruff check --fix gateway tests

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
