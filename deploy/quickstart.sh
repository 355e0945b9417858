#!/usr/bin/env bash
# Run one real task end to end on this machine: a worker in the background, a task
# followed live, the worker stopped afterwards. Needs an LLM key in the environment
# (OPENAI_API_KEY, ANTHROPIC_API_KEY or GEMINI_API_KEY; pick the model with
# BROWSERFLEET_DEFAULT_MODEL, e.g. anthropic/claude-sonnet-4-5-20250929).
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
TASK=${TASK:-"Open https://en.wikipedia.org/wiki/Special:Random and return the article's title"}
START_URL=${START_URL:-}
if [ -z "${OPENAI_API_KEY:-}${ANTHROPIC_API_KEY:-}${GEMINI_API_KEY:-}${OPENAI_API_BASE:-}" ]; then
  echo "quickstart: set an LLM key first (e.g. export OPENAI_API_KEY=sk-...)" >&2
  exit 2
fi
log=$(mktemp -t browserfleet-worker.XXXX.log)
browserfleet worker --concurrency 2 >"$log" 2>&1 &
worker=$!
trap 'kill -TERM $worker 2>/dev/null; wait $worker 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do grep -q " ready." "$log" && break; sleep 0.5; done
grep -q " ready." "$log" || { cat "$log"; echo "worker did not start" >&2; exit 1; }
args=("$TASK")
[ -n "$START_URL" ] && args+=(--start-url "$START_URL")
browserfleet run "${args[@]}"
