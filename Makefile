# One way to run each task; CI runs `make test` through .ci/run.
# The interpreter the venv is made with: PYTHON if given, else the first safe one that
# scripts/find-python finds (it refuses one without the CVE-2024-6923 fix, in one line).
PYTHON ?=
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HLS_JS := gateway/web/static/vendor/hls.min.js

.PHONY: run test test-fast redis lint format assets clean bench chaos lock

RUN_STAMP := $(VENV)/.installed-demo

# The venv, (re)made with a safe interpreter when the one it has is not, and a current pip.
define make_venv
@scripts/find-python $(PY) >/dev/null 2>&1 || { \
  python=$$(scripts/find-python $(PYTHON)) && rm -rf $(VENV) && \
  echo "$$python -m venv $(VENV)" && $$python -m venv $(VENV); }
$(PY) -m pip install --quiet --upgrade pip
endef

# Python packages at the versions constraints.txt pins (`make lock` moves them), so that a
# clean clone installs what was last tested, never whatever was released since.
LOCK := constraints.txt

# What `make run` needs: the gateway and the demo's encoder, not the test tools.
$(RUN_STAMP): pyproject.toml $(LOCK) scripts/find-python
	$(make_venv)
	$(PY) -m pip install --quiet -c $(LOCK) -e '.[demo]'
	touch $(RUN_STAMP)

# Everything, for the tests.
$(STAMP): pyproject.toml $(LOCK) scripts/find-python
	$(make_venv)
	$(PY) -m pip install --quiet -c $(LOCK) -e '.[dev,demo]'
	touch $(STAMP) $(RUN_STAMP)

# constraints.txt anew: the newest releases pyproject.toml admits, installed into a fresh
# venv and frozen. Then `make test`, and commit the file with what the new versions needed.
lock:
	rm -rf .venv-lock
	python=$$(scripts/find-python $(PYTHON)) && $$python -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet '.[dev,demo]'
	{ echo "# Written by \`make lock\` from pyproject.toml's ranges ($$(.venv-lock/bin/python -V)):"; \
	  echo "# every Python package \`make\` and the image install, at the version last tested."; \
	  .venv-lock/bin/python -m pip freeze --exclude stream-gateway; } > $(LOCK)
	rm -rf .venv-lock build *.egg-info

# hls.js from the npm registry, pinned in package-lock.json; never committed, never from a CDN.
# Without npm the player falls back to the browser's own HLS (Safari, iOS, recent Chromium).
assets: $(HLS_JS)
$(HLS_JS): package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
	  npm ci --no-audit --no-fund --ignore-scripts --silent && \
	  mkdir -p $(dir $@) && cp node_modules/hls.js/dist/hls.min.js $@; \
	else \
	  echo "npm not found: the player will use the browser's own HLS (Safari, iOS, recent Chromium);"; \
	  echo "install Node.js and npm for hls.js in every other browser, then run 'make assets'."; \
	fi

PORT ?= 8000
run: $(RUN_STAMP) assets  ## rehearsal on embedded defaults (PORT=8001 for another port)
	$(VENV)/bin/gateway demo --port $(PORT)

# In CI (CI=true) the suite runs under coverage, with floors: branches overall, and the core.
# Two workers, a test file each at a time (xdist --dist loadfile: a file's module fixtures
# are built once); the end-to-end tests mostly wait on the real clock, so this halves the run.
COVER_FLOOR ?= 84
CORE_FLOOR ?= 95
WORKERS ?= 2
ifeq ($(CI),true)
PYTEST := $(PY) -m pytest --cov=gateway --cov-branch --cov-report= -n $(WORKERS) --dist loadfile
else
PYTEST := $(PY) -m pytest -n $(WORKERS) --dist loadfile
endif

test: $(STAMP) assets lint redis  ## the whole suite (starts the servers it needs)
	$(PYTEST) --durations=15
ifeq ($(CI),true)
	$(PY) -m coverage report --skip-covered --fail-under=$(COVER_FLOOR)
	$(PY) -m coverage report --include='gateway/core/*' --fail-under=$(CORE_FLOOR)
endif

# The edit-test loop (< 90 s): unit and HTTP tests, no other process, no browser, no fuzzing.
test-fast: $(STAMP) redis
	$(PY) -m pytest -q -n $(WORKERS) -m "not subprocess and not fuzz and not slow"

redis:
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
	  echo "starting a throwaway redis-server on 127.0.0.1:6379 for the tests"; \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no; \
	  sleep 0.5; }

lint: $(STAMP)
	$(VENV)/bin/ruff check gateway tests bench
	$(VENV)/bin/ruff format --check gateway tests bench
	$(VENV)/bin/mypy gateway tests bench
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format gateway tests bench
	$(VENV)/bin/ruff check --fix gateway tests bench

# Issue 7's benchmark: nginx, bare Starlette and the gateway side by side in one run, then
# PASS/FAIL per target (installs wrk and nginx with apt when root). BENCH_QUICK=1: ~2 minutes.
bench: $(STAMP)
	$(PY) -m bench

# Issue 8's fault suite in its long versions (outages of 30 s and more), with the figures table.
chaos: $(STAMP) assets
	CHAOS=1 $(PY) -m pytest tests/faults -q

clean:
	rm -rf $(VENV) .venv-lock build *.egg-info .pytest_cache .mypy_cache .ruff_cache node_modules
