"""Redis connections that ride out a Redis restart or a Sentinel failover instead of failing the task at once.

Every command is retried with exponential backoff for ~20 s on connection errors
and timeouts; past that the error propagates and the caller ends the task with a
readable reason. Behind Redis Sentinel (``sentinel://`` URLs, :mod:`shared.redis_url`) each
new connection asks the sentinels for the current master, so a retried command, and a
pub/sub subscriber's reconnection (which subscribes again), reach the promoted replica.
The sentinels answer "no master" while the old one is down and not yet replaced: that is
a connection error too, retried the same way. Lua scripts are called through redis-py's
``Script`` objects, which load a script again when a new master answers ``NOSCRIPT``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.sentinel
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from shared.redis_url import RedisTarget, parse_redis_url

log = logging.getLogger(__name__)

RETRIES = 10
SENTINEL_TIMEOUT_S = 2.0  # one sentinel's answer; a dead one must not stall the others

StoreError = redis.RedisError
"""What any store raises when Redis fails (after the retries): callers outside ``shared`` catch
this name, so only ``shared`` knows the stores are Redis."""

Target = RedisTarget | str


def _options() -> dict[str, Any]:
    return {
        "decode_responses": True,
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "socket_connect_timeout": 5,
        "socket_timeout": 30,
        "health_check_interval": 15,
    }


def sentinel_options(target: RedisTarget) -> dict[str, Any]:
    """How to talk to the sentinels themselves (short timeouts; their own password, if any)."""
    options: dict[str, Any] = {"socket_connect_timeout": SENTINEL_TIMEOUT_S,
                               "socket_timeout": SENTINEL_TIMEOUT_S}
    if target.sentinel_password:
        options["password"] = target.sentinel_password
    return options


def _node(target: RedisTarget) -> dict[str, Any]:
    found: dict[str, Any] = {"db": target.db}
    if target.username:
        found["username"] = target.username
    if target.password:
        found["password"] = target.password
    return found


def as_target(target: Target) -> RedisTarget:
    """A plain URL string read as a target (a ``sentinel://`` string without a service name fails)."""
    return target if isinstance(target, RedisTarget) else parse_redis_url(target)


def connect(target: Target) -> redis.Redis:
    """A client for ``target`` (decoded strings) with browserfleet's retry policy."""
    target = as_target(target)
    options = {**_options(), "retry": Retry(ExponentialBackoff(cap=4.0, base=0.1), RETRIES)}
    if not target.is_sentinel:
        return redis.Redis.from_url(target.url, **options)
    sentinels = redis.sentinel.Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options(target))
    master = target.master or ""
    client: redis.Redis = sentinels.master_for(master, redis_class=redis.Redis, **options, **_node(target))
    return client


def connect_async(target: Target) -> redis.asyncio.Redis:
    """The asyncio client for ``target``, with the same retry policy (for the HTTP API's polls)."""
    target = as_target(target)
    retry = redis.asyncio.retry.Retry(ExponentialBackoff(cap=4.0, base=0.1), RETRIES)
    options = {**_options(), "retry": retry}
    if not target.is_sentinel:
        return redis.asyncio.Redis.from_url(target.url, **options)
    sentinels = redis.asyncio.sentinel.Sentinel(
        list(target.sentinels), sentinel_kwargs=sentinel_options(target)
    )
    master = target.master or ""
    client: redis.asyncio.Redis = sentinels.master_for(
        master, redis_class=redis.asyncio.Redis, **options, **_node(target)
    )
    return client


def answers(target: Target, timeout_s: float = 1.0) -> bool:
    """Whether a Redis answers PING at ``target`` within ``timeout_s`` (no retries: a probe).
    Behind Sentinel: whether the sentinels name a master and it answers."""
    options = {"socket_connect_timeout": timeout_s, "socket_timeout": timeout_s}
    sentinels: redis.sentinel.Sentinel | None = None
    try:
        target = as_target(target)
        if target.is_sentinel:
            sentinels = redis.sentinel.Sentinel(list(target.sentinels),
                                                sentinel_kwargs={**sentinel_options(target), **options})
            client = sentinels.master_for(target.master or "", retry=Retry(ExponentialBackoff(), 0),
                                          **options, **_node(target))
        else:
            client = redis.Redis.from_url(target.url, **options)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False
    finally:
        if sentinels is not None:
            sentinels.close()


@dataclass(frozen=True)
class Replicas:
    """How many replicas must confirm a write a failover must not lose (``WAIT``), and how long
    to wait for them. ``count`` 0: none (the write is acknowledged by the master alone).

    Replication is asynchronous: a write the master acknowledged and had not yet streamed to a
    replica is lost when that master dies and the replica is promoted. ``WAIT`` after the
    writes that matter (a task's creation, a run's lease take, each step record, every status
    change) closes that window for them: once it answers, the write is on a replica the
    sentinels can promote. When no replica confirms in time the write stands (availability
    first) and a warning says that a failover now could lose it.
    """

    count: int = 0
    timeout_ms: int = 100

    def confirm(self, acked: int) -> None:
        if acked < self.count:
            _warn_unconfirmed(acked, self)


NO_REPLICAS = Replicas()


def run_script(
    client: redis.Redis, script: Script, keys: list[Any], args: list[Any], replicas: Replicas
) -> Any:
    """``script(keys, args)``, then ``WAIT`` for ``replicas`` on the same connection (a
    pipeline: one round trip). A new master that lacks the script (``NOSCRIPT`` after a failover)
    is given it and asked again, as redis-py's ``Script`` does."""
    if replicas.count <= 0:
        return script(keys=keys, args=args)
    for attempt in (1, 2):
        pipe = client.pipeline(transaction=False)
        pipe.evalsha(script.sha, len(keys), *keys, *args)
        pipe.execute_command("WAIT", replicas.count, replicas.timeout_ms)
        try:
            reply, acked = pipe.execute()
        except NoScriptError:
            if attempt == 2:
                raise
            client.script_load(script.script)
            continue
        replicas.confirm(int(acked))
        return reply
    raise AssertionError("unreachable")


def wait_replicas(connection: Any, replicas: Replicas) -> None:
    """``WAIT`` on a connection the caller holds (its writes were sent on it)."""
    if replicas.count <= 0:
        return
    connection.send_command("WAIT", replicas.count, replicas.timeout_ms)
    replicas.confirm(int(connection.read_response()))


_last_warning = 0.0


def _warn_unconfirmed(acked: int, replicas: Replicas) -> None:
    """At most one warning a minute per process: a dead replica would otherwise log every write."""
    global _last_warning
    now = time.monotonic()
    if now - _last_warning < 60:
        return
    _last_warning = now
    log.warning("Redis: a write was confirmed by %d of %d replicas within %d ms; a failover now could "
                "lose the latest writes (is a replica down or lagging?)", acked, replicas.count,
                replicas.timeout_ms)
