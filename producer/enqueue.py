"""Record and enqueue new tasks: the broker, and what a failure leaves behind.

The Redis work is :class:`shared.task_queue.TaskQueue`'s: one Lua script per chunk of
``CHUNK`` tasks checks admission (:mod:`producer.admission`, once for the whole batch),
writes each task's record, indexes and one-off session, and pushes the chunk's Celery
messages and ``task-sent`` events (see :mod:`producer.wire`). A full queue refuses the
whole batch and writes nothing.

When the broker is elsewhere (``BROWSERFLEET_BROKER_URL``: another Redis, or RabbitMQ),
the scripts write only the records, and a :class:`Publisher` sends the messages after an
admission check on that broker: another Redis gets them in one pipeline, RabbitMQ through
Celery's ``send_task`` with publisher confirms. A failure before every message is sent
removes the records again: nothing is enqueued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from celery import Celery

from shared.spend import AccountGate
from shared.task_queue import CHUNK, ListPublisher, NewTask, QueueRefusedError, TaskQueue, TaskQueueError

from .admission import Admission
from .errors import EnqueueError, PartlyEnqueuedError
from .wire import WireFormat


class Publisher(Protocol):
    """Sends the messages of recorded tasks to a broker the scripts cannot write to."""

    def publish(self, task_ids: Sequence[str]) -> None:
        """Raise on failure: nothing may be left half-sent without the caller knowing."""


class RedisListPublisher:
    """Another Redis as the broker: the prebuilt envelopes and events in one pipeline."""

    def __init__(self, broker: ListPublisher, wire: WireFormat) -> None:
        self.broker, self.wire = broker, wire

    def publish(self, task_ids: Sequence[str]) -> None:
        events = [self.wire.sent_events(task_ids[i : i + CHUNK]) for i in range(0, len(task_ids), CHUNK)]
        self.broker.push(self.wire.queue, self.wire.messages(task_ids), events)


class CeleryPublisher:
    """RabbitMQ (or any broker Celery speaks): ``send_task`` per task; confirms make it durable."""

    def __init__(self, app: Celery, task_name: str, queue: str) -> None:
        self.app, self.task_name, self.queue = app, task_name, queue

    def publish(self, task_ids: Sequence[str]) -> None:
        with self.app.producer_or_acquire() as producer:
            for task_id in task_ids:
                self.app.send_task(self.task_name, args=[task_id], task_id=task_id, queue=self.queue,
                                   producer=producer)


class Enqueuer:
    """Writes and enqueues batches of new tasks; thread-safe, one per producer."""

    def __init__(
        self,
        queue: TaskQueue,
        wire: WireFormat,
        *,
        admission: Admission,
        publisher: Publisher | None,
    ) -> None:
        """``publisher`` None: the broker is the records' Redis, and the scripts push too."""
        self.queue = queue
        self.wire = wire
        self.admission = admission
        self.publisher = publisher

    def push(self, tasks: Sequence[NewTask], gate: AccountGate | None = None) -> None:
        """Record and enqueue ``tasks``; raises QueueFullError, AccountRefusedError (``gate``: the
        batch's account quotas and budget, checked in the same script) or EnqueueError.

        All or none, except when Redis fails between two chunks of a batch pushed here:
        then :class:`PartlyEnqueuedError` says how many of the first tasks were enqueued.
        """
        if not tasks:
            return
        if self.publisher is not None:
            self.admission.check(len(tasks))
        try:
            self.queue.write(tasks, self.wire, push=self.publisher is None, limit=self.admission.limit,
                             gate=gate)
        except QueueRefusedError as refused:
            raise self.admission.refused(refused.backlog) from None
        except TaskQueueError as exc:
            if self.publisher is not None:  # nothing was sent yet: take the written records back
                self._forget(tasks[: exc.written])
                raise EnqueueError(str(exc)) from exc
            if exc.written:
                raise PartlyEnqueuedError(
                    f"{exc}; the first {exc.written} of {len(tasks)} tasks were enqueued, the rest not",
                    exc.written,
                ) from exc
            raise EnqueueError(str(exc)) from exc
        if self.publisher is not None:
            self._publish(tasks)

    def _publish(self, tasks: Sequence[NewTask]) -> None:
        assert self.publisher is not None
        try:
            self.publisher.publish([t.task_id for t in tasks])
        except Exception as exc:  # the broker's errors vary by transport
            self._forget(tasks)
            raise EnqueueError(f"could not enqueue task: {exc}") from exc

    def _forget(self, tasks: Sequence[NewTask]) -> None:
        """Remove the records (and one-off sessions) of tasks the broker did not take."""
        if tasks:
            self.queue.forget(tasks)
