"""What producers and operators ask of the Celery broker, whichever it is: Redis or RabbitMQ.

Admission control, ``/healthz``, ``browserfleet status`` and the queue metrics need a
queue's depth; Celery has no broker-neutral call for it. Redis keeps a queue as a list
(``LLEN``; kombu pushes left and pops right, so the oldest message is at the right end);
RabbitMQ answers a passive ``queue.declare`` with the ready-message and consumer counts.
"""

from __future__ import annotations

import json
import threading
from functools import cached_property
from typing import Protocol
from urllib.parse import urlsplit

import redis
from kombu import Connection
from kombu.exceptions import OperationalError

from shared.redis_client import Target, connect

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def is_amqp(url: str) -> bool:
    return urlsplit(url).scheme in AMQP_SCHEMES


class BrokerQueues(Protocol):
    def depth(self, queue: str) -> int:
        """Messages waiting in ``queue`` (not those a worker holds)."""

    def oldest_task_id(self, queue: str) -> str | None:
        """The id of the task waiting longest, when the broker can tell without consuming."""


class RedisQueues:
    def __init__(self, url: Target) -> None:
        self.url = url

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.url)

    def depth(self, queue: str) -> int:
        return int(self.redis.llen(queue))

    def oldest_task_id(self, queue: str) -> str | None:
        raw = self.redis.lindex(queue, -1)
        if raw is None:
            return None
        try:
            return str(json.loads(raw)["headers"]["id"])
        except (ValueError, KeyError, TypeError):
            return None


class BrokerUnavailableError(ConnectionError):
    """The broker did not answer a question about its queues."""


# What ``depth`` raises when the broker does not answer (Redis's own errors, or RabbitMQ's wrapped).
BROKER_ERRORS: tuple[type[Exception], ...] = (redis.RedisError, BrokerUnavailableError)


class AmqpQueues:
    """RabbitMQ through kombu: a passive declare on a fresh channel of one shared connection."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._conn: Connection | None = None
        self._errors: tuple[type[BaseException], ...] = (OperationalError, *Connection(url).connection_errors)
        self._lock = threading.Lock()  # kombu connections are not thread-safe

    def depth(self, queue: str) -> int:
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = Connection(self.url, connect_timeout=5)
                self._conn.ensure_connection(max_retries=1)
                with self._conn.channel() as channel:
                    try:
                        _, ready, _ = channel.queue_declare(queue=queue, passive=True)
                    except self._conn.channel_errors:  # 404: never declared, so nothing waits
                        return 0
            except self._errors as exc:
                self._conn = None
                raise BrokerUnavailableError(f"RabbitMQ unreachable: {exc}") from exc
        return int(ready)

    def oldest_task_id(self, queue: str) -> str | None:
        return None  # peeking would take the message from its consumer


def broker_queues(url: str, redis_target: Target | None = None) -> BrokerQueues:
    """The queues of the broker at ``url``; a Redis broker through ``redis_target`` when given
    (a ``sentinel://`` URL needs its service name, which the target carries)."""
    return AmqpQueues(url) if is_amqp(url) else RedisQueues(redis_target or url)
