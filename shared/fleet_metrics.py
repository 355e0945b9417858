"""Prometheus metrics shared by the API and the workers: the queues, read at scrape time.

Flower has no queue-length metric, and a queue's depth is the one number autoscalers need,
so every scrape reads it from the broker (``shared.broker``) with the age of the oldest
waiting task (its record's ``created_at``; Redis broker only: RabbitMQ cannot peek).
Labels are bounded (queue names); never task ids.
Process-local metrics live beside the code they measure (``workers/process/worker_metrics.py``, the API).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shared.broker import BrokerQueues, BrokerUnavailableError
from shared.redis_client import StoreError

if TYPE_CHECKING:
    from shared.task_store import TaskStore
    from shared.webhook_store import WebhookStore

ADMISSION_REJECTIONS = Counter(
    "browserfleet_admission_rejections", "Tasks refused because the queue backlog was at its limit (429)."
)
BUDGET_REFUSALS = Counter(
    "browserfleet_budget_refusals",
    "Creates refused by an API key's quota (active, queued: 429) or spent budget (daily_budget, "
    "monthly_budget, session_budget: 402).",
    ["reason"],
)


class QueueCollector(Collector):
    """``browserfleet_queue_depth`` and ``browserfleet_queue_oldest_age_seconds`` per queue."""

    def __init__(
        self, broker: BrokerQueues, records: TaskStore, queues: Iterable[str]
    ) -> None:
        self.broker, self.records, self.queues = broker, records, tuple(queues)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily("browserfleet_queue_depth", "Tasks waiting in the queue.", labels=["queue"])
        age = GaugeMetricFamily("browserfleet_queue_oldest_age_seconds",
                                "Age of the task waiting longest in the queue (0 when empty).",
                                labels=["queue"])
        for queue in self.queues:
            try:
                waiting = self.broker.depth(queue)
                oldest = self._age(queue) if waiting else 0.0
            except (StoreError, BrokerUnavailableError):
                continue  # no sample beats a wrong one: the scrape still succeeds
            depth.add_metric([queue], waiting)
            age.add_metric([queue], oldest)
        yield depth
        yield age

    def _age(self, queue: str) -> float:
        task_id = self.broker.oldest_task_id(queue)
        created = self.records.created_at(task_id) if task_id else None
        if created is None:
            return 0.0
        return max(0.0, time.time() - created.timestamp())


class WebhookCollector(Collector):
    """``browserfleet_webhook_pending_streams``: tasks (and test events) with undelivered webhook
    events, delivering or waiting for a retry; a number that only grows says no webhook worker runs."""

    def __init__(self, store: WebhookStore) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            pending = self.store.pending()
        except StoreError:
            return
        yield GaugeMetricFamily("browserfleet_webhook_pending_streams",
                                "Tasks and test events with undelivered webhook events.", value=pending)


def exposition(extra: CollectorRegistry) -> bytes:
    """The text exposition: this process's metrics (every process's under
    ``PROMETHEUS_MULTIPROC_DIR``, e.g. several uvicorn processes) plus ``extra``'s collectors,
    which are computed live at scrape time and so never need merging."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged) + generate_latest(extra)
    return generate_latest(REGISTRY) + generate_latest(extra)
