# browserfleet: one command to set up and test, one to run a real task.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
export LITELLM_LOCAL_MODEL_COST_MAP := True

.PHONY: install system-deps services test lint typecheck bench quickstart worker api flower

system-deps:  ## Chromium and Redis from Debian, when missing
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation)
	@command -v redis-server >/dev/null 2>&1 || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server)

services: system-deps  ## start Redis on 127.0.0.1:6379 unless one answers
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || \
	  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no

install: system-deps
	$(PIP) install -q -e '.[api,flower,dev]'

lint:
	ruff check shared producer workers tests
	mypy

test: install services lint  ## the README's test command
	$(PYTHON) -m pytest -q

bench: install services  ## benchmarks → tests/benchmarks/results.json
	$(PYTHON) tests/benchmarks/bench_dom.py --out tests/benchmarks/results.json
	$(PYTHON) tests/benchmarks/bench_pipeline.py --out tests/benchmarks/results.json
	$(PYTHON) tests/benchmarks/bench_guard.py --out tests/benchmarks/results.json
	$(PYTHON) tests/benchmarks/bench_api.py --out tests/benchmarks/results.json
	$(PYTHON) tests/benchmarks/bench_throughput.py --out tests/benchmarks/results.json

quickstart: install services  ## a real task end to end (needs an LLM key, e.g. OPENAI_API_KEY)
	bash deploy/quickstart.sh

worker:
	browserfleet worker

api:
	browserfleet api

flower:
	browserfleet flower
