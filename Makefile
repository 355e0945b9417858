# browserfleet: one command to set up and test, one to run a real task.
#
# Everything runs in a virtual environment ($(VENV), default .venv) installed only from
# the committed lock (requirements/dev.lock, hashes checked), so every machine resolves
# the same versions. `make lock` refreshes the lock after a pyproject.toml change.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
PY := $(BIN)/python
LOCK := requirements/dev.lock
DEPLOY_LOCK := requirements/deploy.lock
LOCK_ARGS := --universal --python-version 3.11 --generate-hashes --quiet
SHELL := /bin/bash
export LITELLM_LOCAL_MODEL_COST_MAP := True
export PATH := $(BIN):$(PATH)

.PHONY: install system-deps test-deps services test lint bench quickstart worker api flower lock

system-deps:  ## Chromium, Redis and ffmpeg from Debian, when missing
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation)
	@command -v redis-server >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)
	@command -v ffprobe >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ffmpeg)

test-deps:  ## what only the tests need: docker-compose validates deploy/ statically (no engine runs); real picker libraries
	@command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose)
	@test -f /usr/share/javascript/jquery-ui/jquery-ui.min.js && \
	  test -f /usr/share/nodejs/react-dom/umd/react-dom.production.min.js || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    libjs-jquery-ui node-react node-react-dom)

services: system-deps  ## start Redis (6379) and RabbitMQ (5672, for its e2e tests) unless they answer
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
	@(echo > /dev/tcp/127.0.0.1/5672) 2>/dev/null || { \
	  command -v rabbitmq-server >/dev/null 2>&1 || \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server); \
	  rabbitmq-server -detached; rabbitmqctl await_startup --timeout 120; }

# The venv is rebuilt when the lock or pyproject.toml changes; pip checks every hash.
$(VENV)/.installed: $(LOCK) pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r $(LOCK)
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $@

install: system-deps $(VENV)/.installed

lock: $(VENV)/.installed  ## re-resolve requirements/*.lock from pyproject.toml
	$(BIN)/uv pip compile pyproject.toml requirements/build.in \
	  --extra api --extra flower --extra dev --extra onepassword $(LOCK_ARGS) -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml requirements/build.in --extra api --extra flower \
	  --extra onepassword $(LOCK_ARGS) -c $(LOCK) -o $(DEPLOY_LOCK)
	@# what some tests run in a subprocess of their own (tests/support/side_packages.py)
	for spec in requirements/side/*.in; do \
	  $(BIN)/uv pip compile $$spec $(LOCK_ARGS) -o $${spec%.in}.lock || exit 1; done

lint: install
	$(BIN)/ruff check shared producer workers tests
	$(BIN)/mypy

test: install test-deps services lint  ## the README's test command
	$(PY) -m pytest -q

bench: install services  ## benchmarks → tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_dom.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_pipeline.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_flows.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_guard.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_api.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_live.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_cdp.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_live_crowd.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_producer.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_listing.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_throughput.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_llm_limits.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_throughput.py --vision --levels 1,16 --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_fleet.py --out tests/benchmarks/results.json
	$(PY) tests/benchmarks/bench_sentinel.py --out tests/benchmarks/results.json

quickstart: install  ## a real task end to end (needs an LLM key, e.g. OPENAI_API_KEY)
	bash deploy/quickstart.sh

worker: install
	browserfleet worker

api: install
	browserfleet api

flower: install
	browserfleet flower
