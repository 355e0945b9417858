"""Redis connections that ride out a Redis restart instead of failing the task at once.

Every command is retried with exponential backoff for ~20 s on connection errors
and timeouts; past that the error propagates and the caller ends the task with a
readable reason.
"""

from __future__ import annotations

import redis
import redis.asyncio
import redis.asyncio.retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

RETRIES = 10

StoreError = redis.RedisError
"""What any store raises when Redis fails (after the retries): callers outside ``shared`` catch
this name, so only ``shared`` knows the stores are Redis."""


def connect(url: str) -> redis.Redis:
    """A client for ``url`` (decoded strings) with browserfleet's retry policy."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        retry=Retry(ExponentialBackoff(cap=4.0, base=0.1), RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=5,
        socket_timeout=30,
        health_check_interval=15,
    )


def connect_async(url: str) -> redis.asyncio.Redis:
    """The asyncio client for ``url``, with the same retry policy (for the HTTP API's polls)."""
    return redis.asyncio.Redis.from_url(
        url,
        decode_responses=True,
        retry=redis.asyncio.retry.Retry(ExponentialBackoff(cap=4.0, base=0.1), RETRIES),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        socket_connect_timeout=5,
        socket_timeout=30,
        health_check_interval=15,
    )


def answers(url: str, timeout_s: float = 1.0) -> bool:
    """Whether a Redis answers PING at ``url`` within ``timeout_s`` (no retries: a probe)."""
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError):
        return False
