"""A worker process's Prometheus metrics, served on ``BROWSERFLEET_METRICS_PORT``.

Counters and histograms are updated where the work happens (task end, LLM reply, blocked
request); the browser pool's gauges are read from the pool at scrape time, so they cost
nothing between scrapes. Labels stay bounded: status, model, queue, request kind.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

TASKS_STARTED = Counter("browserfleet_tasks_started", "Agent tasks a worker started running.")
TASKS_FINISHED = Counter(
    "browserfleet_tasks_finished",
    "Agent runs that ended, by terminal status and the agent's success claim.",
    ["status", "success"],
)
TASK_DURATION = Histogram(
    "browserfleet_task_duration_seconds",
    "Wall-clock time of one agent run.",
    buckets=(1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600),
)
TASK_STEPS = Histogram(
    "browserfleet_task_steps",
    "Steps one agent run took.",
    buckets=(1, 2, 3, 5, 8, 13, 21, 34, 55, 100, 200),
)
TASK_RETRIES = Counter(
    "browserfleet_task_retries",
    "Runs ended by an infrastructure fault and enqueued again: browser_crash, browser_setup, stalled.",
    ["reason"],
)
LLM_LATENCY = Histogram(
    "browserfleet_llm_request_duration_seconds",
    "One LLM completion, retries included.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120),
)
LLM_TOKENS = Counter(
    "browserfleet_llm_tokens", "Tokens sent to and received from LLMs.", ["model", "direction"]
)
LLM_COST = Counter(
    "browserfleet_llm_cost_dollars", "LLM spend in dollars (litellm's price table).", ["model"]
)
LLM_FAILURES = Counter(
    "browserfleet_llm_failures", "LLM requests that failed after their retries.", ["model"]
)
LLM_LIMIT_WAITS = Counter(
    "browserfleet_llm_limiter_waits", "LLM calls that waited for their model's fleet-wide rate limit.",
    ["model"],
)
LLM_LIMIT_WAIT_SECONDS = Histogram(
    "browserfleet_llm_limiter_wait_seconds",
    "How long an LLM call waited for its model's fleet-wide rate limit (calls that waited).",
    ["model"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300),
)
LLM_LIMIT_LATE = Counter(
    "browserfleet_llm_limiter_late",
    "Rate-limit slots given up because the call woke up too late for them (it reserved again).",
    ["model"],
)
LLM_LIMIT_REFUSALS = Counter(
    "browserfleet_llm_limiter_refusals",
    "LLM calls refused because their rate-limit slot was further than BROWSERFLEET_LLM_LIMIT_MAX_WAIT_S.",
    ["model"],
)
LLM_PROVIDER_LIMITED = Counter(
    "browserfleet_llm_provider_rate_limited", "Provider 429 answers (each pauses the model's bucket).",
    ["model"],
)
BUDGET_STOPS = Counter(
    "browserfleet_budget_stops",
    "Running tasks stopped by their cost cap (task_cap) or their key's budget (daily_budget, "
    "monthly_budget).",
    ["reason"],
)
WEBHOOK_DELIVERIES = Counter(
    "browserfleet_webhook_deliveries",
    "Webhook delivery attempts by result: delivered, failed (retried later), expired (given up), "
    "blocked (network policy), unconfigured.",
    ["result"],
)
WEBHOOK_LATENCY = Histogram(
    "browserfleet_webhook_delivery_seconds",
    "One webhook delivery attempt, connection to answer.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK_EVENT_AGE = Histogram(
    "browserfleet_webhook_event_age_seconds",
    "From a status change to its successful delivery (queueing and retries included).",
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
REQUESTS_BLOCKED = Counter(
    "browserfleet_requests_blocked",
    "Browser requests refused by allowedDomains or the network guard.",
    ["kind"],
)
SECRET_REFUSALS = Counter(
    "browserfleet_secret_refusals",
    "Secret placeholders the policy refused to reveal (unknown, or out of scope here).",
)


def tree_pss_bytes(pid: int) -> int:
    """PSS of the process's descendants (Playwright driver, Chromium and its renderers)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents.setdefault(ppid, []).append(int(stat.parent.name))
    total, todo = 0, list(parents.get(pid, []))
    while todo:
        child = todo.pop()
        todo += parents.get(child, [])
        try:
            for line in Path(f"/proc/{child}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        except OSError:
            continue
    return total


class PoolStats(Protocol):
    def stats(self) -> dict[str, int]: ...


class PoolCollector(Collector):
    """The browser pool's gauges, read at scrape time from the pool the runtime registered."""

    pool: PoolStats | None = None

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self.pool.stats() if self.pool is not None else {}
        gauges = {
            "browsers": "Chromium processes in the pool.",
            "contexts_in_use": "Browser contexts running a task.",
            "spare_contexts": "Browser contexts opened ahead of time.",
        }
        for name, doc in gauges.items():
            yield GaugeMetricFamily(f"browserfleet_pool_{name}", doc, value=stats.get(name, 0))
        yield CounterMetricFamily("browserfleet_pool_browser_recycles",
                                  "Browsers closed after their quota.", value=stats.get("recycles", 0))
        yield CounterMetricFamily("browserfleet_pool_browser_crashes",
                                  "Browsers found disconnected.", value=stats.get("crashes", 0))
        yield CounterMetricFamily("browserfleet_pool_spares_discarded",
                                  "Spare contexts closed unused (their options fell out of demand).",
                                  value=stats.get("spares_discarded", 0))
        yield GaugeMetricFamily("browserfleet_pool_browser_tree_pss_bytes",
                                "PSS of the worker's child processes (driver, Chromium, renderers).",
                                value=tree_pss_bytes(os.getpid()))


POOL = PoolCollector()


def watch_pool(pool: PoolStats) -> None:
    """The process's browser pool, whose gauges the next scrapes read."""
    POOL.pool = pool


def serve(port: int) -> None:
    """Expose this process's metrics on ``port`` (once per process)."""
    REGISTRY.register(POOL)
    start_http_server(port)
    log.info("metrics on :%d/metrics", port)
