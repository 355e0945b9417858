"""Webhook deliveries in Redis: outboxes, what is due when, who flushes what, and the log.

Events are appended to their stream's outbox (a list; a stream is one task, or one ``test``
event) by the scripts that change task statuses (:mod:`shared.task_events`), and the stream
is marked due in ``keys.WEBHOOKS_DUE`` (a zset scored by when to try next). Webhook workers:

1. :meth:`WebhookStore.claim_due` takes the due streams (pushing their score a claim period
   ahead, so nobody else takes them meanwhile; a claim whose flush never happened comes due
   again after it) and sends each to the webhook queue;
2. the flush of a stream holds its lock (:meth:`lock`), reads the head event, delivers it,
   and on success removes exactly that entry (:meth:`ack`); on failure it counts the attempt
   and sets when the stream is due again (:meth:`fail`). Later events of the stream wait
   behind the head, so a task's events arrive in order; an event is removed only once a
   receiver answered 2xx (or it expired): at least once.
3. :meth:`settle` ends a flush: the stream leaves the due set when its outbox is empty (in
   one script, so an event appended meanwhile keeps it due).

Every attempt is written to the account's delivery log (the last ``log_size``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from shared import keys
from shared.task_events import Event, decode_event, test_entry

# KEYS[1] due zset. ARGV: now, until (the claim's end), limit. Returns the claimed streams.
_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, stream in ipairs(due) do redis.call('ZADD', KEYS[1], 'XX', ARGV[2], stream) end
return due
"""

# KEYS[1] outbox, KEYS[2] attempts counter. ARGV[1] the head entry delivered.
_ACK = """
if redis.call('LINDEX', KEYS[1], 0) ~= ARGV[1] then return 0 end
redis.call('LPOP', KEYS[1])
redis.call('DEL', KEYS[2])
return 1
"""

# KEYS[1] attempts counter, KEYS[2] due zset. ARGV: stream, when it is due again, ttl.
_FAIL = """
local n = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return n
"""

# KEYS[1] outbox, KEYS[2] due zset. ARGV: stream, now. Returns the events left.
_SETTLE = """
local left = redis.call('LLEN', KEYS[1])
if left == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) else redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1]) end
return left
"""

_UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _attempts(stream: str) -> str:
    return keys.webhook_lock(stream) + ":attempts"


@dataclass(frozen=True)
class Head:
    """The oldest undelivered event of a stream and how many attempts it has had."""

    event: Event
    attempts: int


class WebhookStore:
    """Outboxes, due times, flush locks and delivery logs; thread-safe, one per process."""

    def __init__(self, client: redis.Redis, ttl_s: int, log_size: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self.log_size = log_size
        self._claim = client.register_script(_CLAIM)
        self._ack = client.register_script(_ACK)
        self._fail = client.register_script(_FAIL)
        self._settle = client.register_script(_SETTLE)
        self._unlock = client.register_script(_UNLOCK)

    # -- the producer's side ----------------------------------------------------------
    def add_test(self, account: str | None) -> str:
        """Queue a ``test`` event for ``account``'s webhook; returns its delivery id."""
        delivery_id, entry = test_entry(account)
        stream = f"test-{delivery_id}"
        pipe = self._redis.pipeline()
        pipe.rpush(keys.webhook_outbox(stream), entry)
        pipe.expire(keys.webhook_outbox(stream), self.ttl_s)
        pipe.zadd(keys.WEBHOOKS_DUE, {stream: time.time()})
        pipe.execute()
        return delivery_id

    def log(self, account: str, limit: int = 100) -> list[dict[str, Any]]:
        """The account's last delivery attempts, newest first."""
        return [json.loads(e) for e in self._redis.lrange(keys.webhook_log(account), 0, max(0, limit - 1))]

    def pending(self) -> int:
        """Streams with events waiting (delivering, or waiting for a retry)."""
        return int(self._redis.zcard(keys.WEBHOOKS_DUE))

    # -- the webhook worker's side ----------------------------------------------------
    def claim_due(self, claim_s: float, limit: int = 100) -> list[str]:
        """Take up to ``limit`` streams due now, for ``claim_s`` seconds."""
        now = time.time()
        return [str(s) for s in self._claim(keys=[keys.WEBHOOKS_DUE], args=[now, now + claim_s, limit])]

    def lock(self, stream: str, owner: str, ttl_s: float) -> bool:
        return bool(self._redis.set(keys.webhook_lock(stream), owner, nx=True, px=int(ttl_s * 1000)))

    def unlock(self, stream: str, owner: str) -> None:
        self._unlock(keys=[keys.webhook_lock(stream)], args=[owner])

    def head(self, stream: str) -> Head | None:
        """The stream's oldest undelivered event (``None``: nothing left)."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.lindex(keys.webhook_outbox(stream), 0)
        pipe.get(_attempts(stream))
        raw, attempts = pipe.execute()
        if raw is None:
            return None
        return Head(decode_event(str(raw)), int(attempts or 0))

    def ack(self, stream: str, event: Event) -> bool:
        """Remove the delivered (or expired) head event; False if it was no longer the head."""
        return bool(self._ack(keys=[keys.webhook_outbox(stream), _attempts(stream)], args=[event.raw]))

    def fail(self, stream: str, retry_at: float) -> int:
        """Count a failed attempt of the head and make the stream due at ``retry_at``; returns attempts."""
        return int(self._fail(keys=[_attempts(stream), keys.WEBHOOKS_DUE],
                              args=[stream, retry_at, self.ttl_s]))

    def settle(self, stream: str) -> int:
        """The flush is over: forget the stream when empty, else make it due now; returns events left."""
        return int(self._settle(keys=[keys.webhook_outbox(stream), keys.WEBHOOKS_DUE],
                                args=[stream, time.time()]))

    def record(self, account: str, entry: dict[str, Any]) -> None:
        """Append one attempt to the account's delivery log (capped at ``log_size``)."""
        key = keys.webhook_log(account)
        pipe = self._redis.pipeline(transaction=False)
        pipe.lpush(key, json.dumps(entry))
        pipe.ltrim(key, 0, self.log_size - 1)
        pipe.expire(key, self.ttl_s)
        pipe.execute()
