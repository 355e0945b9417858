"""Queue admission: past ``max_queued_tasks`` waiting tasks, new ones are refused, not queued.

A fleet that cannot keep up should say so at once (``QueueFullError``, HTTP 429 with
``Retry-After``) rather than let tasks wait for hours. The backlog is the broker queue's
depth. Where the records' Redis is the broker, the check runs inside the enqueue script
(atomic with the push, once per batch: see :mod:`shared.task_queue`); with another broker
it is read from that broker just before publishing.
"""

from __future__ import annotations

from shared.broker import BROKER_ERRORS, BrokerQueues
from shared.fleet_metrics import ADMISSION_REJECTIONS

from .errors import EnqueueError, QueueFullError


class Admission:
    """The backlog limit of one queue; ``max_queued`` 0 admits everything."""

    def __init__(self, broker: BrokerQueues, queue: str, max_queued: int, retry_after_s: int) -> None:
        self.broker = broker
        self.queue = queue
        self.limit = max(0, max_queued)
        self.retry_after_s = max(1, retry_after_s)

    def check(self, count: int) -> None:
        """Admit ``count`` more tasks or raise :class:`QueueFullError` (read from the broker)."""
        if self.limit <= 0:
            return
        try:
            backlog = self.broker.depth(self.queue)
        except BROKER_ERRORS as exc:
            raise EnqueueError(f"could not enqueue task: the broker did not answer: {exc}") from exc
        if backlog + count > self.limit:
            raise self.refused(backlog)

    def refused(self, backlog: int) -> QueueFullError:
        """The error for a refused batch (counted for ``browserfleet_admission_rejections_total``)."""
        ADMISSION_REJECTIONS.inc()
        return QueueFullError(backlog, self.limit, self.retry_after_s)
