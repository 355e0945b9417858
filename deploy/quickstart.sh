#!/usr/bin/env bash
# Run one real task end to end on this machine: `browserfleet up` (Redis if none answers, a
# worker, a judge worker, the API) in the background, a task followed live, then Ctrl-C for
# the fleet. Needs an LLM key in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY or
# GEMINI_API_KEY; pick the model with BROWSERFLEET_DEFAULT_MODEL, e.g.
# anthropic/claude-sonnet-4-5-20250929).
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
TASK=${TASK:-"Open https://en.wikipedia.org/wiki/Special:Random and return the article's title"}
START_URL=${START_URL:-}
API_PORT=${API_PORT:-8000}
if [ -z "${OPENAI_API_KEY:-}${ANTHROPIC_API_KEY:-}${GEMINI_API_KEY:-}${OPENAI_API_BASE:-}" ]; then
  echo "quickstart: set an LLM key first (e.g. export OPENAI_API_KEY=sk-...)" >&2
  exit 2
fi
log=$(mktemp -t browserfleet-up.XXXX.log)
browserfleet up --workers 1 --concurrency 2 --api-port "$API_PORT" --flower-port 0 >"$log" 2>&1 &
fleet=$!
trap 'kill -INT $fleet 2>/dev/null; wait $fleet 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do grep -q "browserfleet is up" "$log" && break; kill -0 $fleet 2>/dev/null || break; sleep 0.5; done
grep -q "browserfleet is up" "$log" || { cat "$log"; echo "browserfleet up did not start" >&2; exit 1; }
cat "$log"
args=("$TASK")
[ -n "$START_URL" ] && args+=(--start-url "$START_URL")
browserfleet run "${args[@]}"
