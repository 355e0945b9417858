"""New tasks into Redis: records, indexes, one-off sessions and Celery messages, in chunks.

One Lua script per chunk (:data:`CHUNK` tasks) writes each task's record hash, its
one-off session (if it has no ``sessionId``), the listing indexes, and, when the records'
Redis is also the broker, pushes the chunk's Celery messages with one ``LPUSH`` and its
``task-sent`` events with one ``PUBLISH``. A chunk is atomic: no record without its
message, no message without its record.

Why chunks, and why this shape (measured, see docs/benchmarks.md, "Enqueueing"): a script blocks Redis
while it runs, ~50 µs per task, so a chunk of 100 holds it ~5 ms however large the
batch; the tasks travel as one msgpack argument per chunk (Redis decodes it in C with
``cmsgpack``: ~4x cheaper on both sides than one argument per value); and the chunks are
pipelined: chunk k+1 is built in Python while Redis runs chunk k, so the two processes
work at the same time instead of in turn.

Admission (``max_queued_tasks``) is checked once, by the first chunk, for the whole batch.
If a later chunk fails (Redis gone for longer than the retries, a script error), the chunks
before it are enqueued and complete and the rest are not written at all:
:class:`TaskQueueError` says how many were written. A connection lost while a chunk is in
flight is retried with the client's retry policy; the script first checks whether its
chunk was already written (its first record exists), so a retry never writes a chunk twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import msgpack
import redis

from shared import keys, lua
from shared.models import CreateTaskRequest
from shared.redis_client import NO_REPLICAS, Replicas, Target, connect, run_script, wait_replicas
from shared.spend import NO_GATE, AccountGate
from shared.task_events import STATUS_EVENT

log = logging.getLogger(__name__)

CHUNK = 100  # tasks per script: ~5 ms of Redis time; more of a batch overlaps than with 200 or 500

_dumps = json.JSONEncoder().encode  # the encoding of shared.task_store's record values

# KEYS: [1] queue list, [2] the index of all tasks, [3] the index of all sessions.
# ARGV: [1] ttl, [2] admission limit (0 = none), [3] push the messages here ('1'/'0'), [4] tasks
# to admit (the whole batch on its first chunk, 0 after), [5] keys.TASKS_BY, [6] keys.SESSIONS_BY,
# [7] task key prefix, [8] session key prefix, [9] session-tasks key suffix, [10] event channel
# ('' = none), [11] the chunk's event envelope, [12] msgpack array of tasks, each
# {task id, session id, score, owner ('' = none), message, record hash as field/value array,
# one-off session hash as field/value array (empty: the task runs in an existing session),
# account ('' = none), '1' when its status changes go to a webhook}, [13..] the batch's account
# gate (AccountGate.args: account, max active, max queued, day spend key, day budget, month spend
# key, month budget (budgets in nano-dollars, '' = none), the oldest score still counted).
# Returns -1 when written, -2 when this chunk was written before (a retried request), -3..-6 when
# the account refused the batch (REFUSALS), else the backlog that refused it. Index names:
# keys.tasks_by / keys.sessions_by; account sets: keys.account_tasks.
_WRITE = lua.script("""
local ttl, limit, push, admit = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', tonumber(ARGV[4])
local by, sby, tkey, skey, ssuffix = ARGV[5], ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local tasks = cmsgpack.unpack(ARGV[12])
if redis.call('EXISTS', tkey .. tasks[1][1]) == 1 then return -2 end
local account = ARGV[13]
if account ~= '' and admit > 0 then
  local active, queued = account_tasks(account, 'active'), account_tasks(account, 'queued')
  redis.call('ZREMRANGEBYSCORE', active, '-inf', '(' .. ARGV[20])
  redis.call('ZREMRANGEBYSCORE', queued, '-inf', '(' .. ARGV[20])
  local max_active, max_queued = tonumber(ARGV[14]), tonumber(ARGV[15])
  if max_active > 0 and redis.call('ZCARD', active) + admit > max_active then return -3 end
  if max_queued > 0 and redis.call('ZCARD', queued) + admit > max_queued then return -4 end
  if ARGV[17] ~= '' and tonumber(redis.call('GET', ARGV[16]) or '0') >= tonumber(ARGV[17]) then return -5 end
  if ARGV[19] ~= '' and tonumber(redis.call('GET', ARGV[18]) or '0') >= tonumber(ARGV[19]) then return -6 end
end
if push and limit > 0 and admit > 0 then
  local backlog = redis.call('LLEN', KEYS[1])
  if backlog + admit > limit then return backlog end
end
local function add(groups, name, score, id)
  local g = groups[name]
  if not g then g = {}; groups[name] = g end
  g[#g + 1] = score; g[#g + 1] = id
end
local all, owned, sessions, sowned, messages, accounts = {}, {}, {}, {}, {}, {}
for i = 1, #tasks do
  local t = tasks[i]
  local tid, sid, score, owner = t[1], t[2], t[3], t[4]
  local key = tkey .. tid
  redis.call('HSET', key, unpack(t[6]))
  redis.call('EXPIRE', key, ttl)
  if t[8] ~= '' then add(accounts, t[8], score, tid) end
  if t[9] == '1' then status_changed(key, tid, 'created', ttl) end
  redis.call('ZADD', skey .. sid .. ssuffix, score, tid)
  all[#all + 1] = score; all[#all + 1] = tid
  if owner ~= '' then add(owned, owner, score, tid) end
  if #t[7] > 0 then
    redis.call('HSET', skey .. sid, unpack(t[7]))
    redis.call('EXPIRE', skey .. sid, ttl)
    sessions[#sessions + 1] = score; sessions[#sessions + 1] = sid
    if owner ~= '' then add(sowned, owner, score, sid) end
  end
  messages[#messages + 1] = t[5]
end
redis.call('ZADD', KEYS[2], unpack(all))
redis.call('ZADD', listing_index(by, nil, 'created'), unpack(all))
for owner, g in pairs(owned) do
  redis.call('ZADD', listing_index(by, owner, nil), unpack(g))
  redis.call('ZADD', listing_index(by, owner, 'created'), unpack(g))
end
if #sessions > 0 then
  redis.call('ZADD', KEYS[3], unpack(sessions))
  redis.call('ZADD', listing_index(sby, nil, 'active'), unpack(sessions))
  for owner, g in pairs(sowned) do
    redis.call('ZADD', listing_index(sby, owner, nil), unpack(g))
    redis.call('ZADD', listing_index(sby, owner, 'active'), unpack(g))
  end
end
for acct, g in pairs(accounts) do
  redis.call('ZADD', account_tasks(acct, 'active'), unpack(g))
  redis.call('ZADD', account_tasks(acct, 'queued'), unpack(g))
end
if push then
  redis.call('LPUSH', KEYS[1], unpack(messages))
  if ARGV[10] ~= '' then redis.call('PUBLISH', ARGV[10], ARGV[11]) end
end
return -1
""", lua.LISTING_INDEX, lua.ACCOUNT_TASKS, STATUS_EVENT)

_SESSION_TASKS_SUFFIX = keys.session_tasks("x").removeprefix(keys.session("x"))
assert keys.session_tasks("x") == keys.session("x") + _SESSION_TASKS_SUFFIX


@dataclass(slots=True)
class OneOffSession:
    """The session of a task created without ``sessionId``: written with it, stopped when it ends."""

    screen_width: int | None = None
    screen_height: int | None = None
    profile_id: str | None = None
    enable_recording: bool = False
    proxy_country_code: str | None = None  # the upstream proxy's country (None: no upstream proxy)


@dataclass(slots=True)
class NewTask:
    """A validated, redacted task to write, bound to its session."""

    task_id: str
    session_id: str
    request: CreateTaskRequest  # secret values already replaced by placeholders
    owner: str | None
    secrets_token: str | None = None
    proxy_country_code: str | None = None
    one_off: OneOffSession | None = None  # None: an existing session, already claimed for it
    account: str | None = None  # the API key's account (shared.accounts): quotas, budget, webhook
    webhook: bool = False  # its status changes go to a webhook (shared.task_events)
    cost_limits: dict[str, str] | None = None  # its cap and its key's budgets (Limits.for_record)


def record_hash(task: NewTask, created_at: datetime) -> list[str]:
    """The new record's Redis hash as field/value pairs: what ``TaskStore.fields`` writes.

    Built directly (no ``TaskRecord`` round trip, ~4x cheaper); tests/unit/test_task_queue.py
    checks it against ``TaskStore.fields`` value by value (the ``request`` JSON is compact).
    """
    request = task.request
    # the request as stored, without the secrets: pydantic's own JSON (compact, UTF-8), ~3x
    # cheaper than dumping to a dict and encoding that
    stored = request.model_dump_json(exclude={"secrets"})
    pairs = [
        "id", f'"{task.task_id}"', "session_id", f'"{task.session_id}"',
        "llm", _dumps(request.llm), "task", _dumps(request.task), "status", '"created"',
        "created_at", f'"{created_at.isoformat()}"',
        "metadata", _dumps(dict(request.metadata)) if request.metadata else "{}", "request", stored,
    ]
    if task.secrets_token is not None:
        pairs += ["secrets_token", _dumps(task.secrets_token)]
    if task.owner is not None:
        pairs += ["owner", _dumps(task.owner)]
    if task.proxy_country_code is not None:
        pairs += ["proxy_country_code", _dumps(task.proxy_country_code)]
    if task.account is not None:
        pairs += ["account", _dumps(task.account)]
    if task.webhook:
        pairs += ["webhook", "true"]
    if task.cost_limits:
        pairs += ["cost_limits", _dumps(task.cost_limits)]
    return pairs


def session_hash(task: NewTask, one_off: OneOffSession, started: float) -> list[str]:
    """The one-off session's Redis hash as field/value pairs: what ``SessionRecord.fields`` writes."""
    at = repr(started)
    return [
        "id", task.session_id, "owner", task.owner or "", "status", "active", "started_at", at,
        "finished_at", "", "last_active_at", at, "claimed_at", at, "running_task", task.task_id,
        "persist_memory", "0", "keep_alive", "0", "one_off", "1", "start_url", "",
        "screen_width", str(one_off.screen_width or ""), "screen_height", str(one_off.screen_height or ""),
        "profile_id", one_off.profile_id or "", "enable_recording", "1" if one_off.enable_recording else "0",
        "proxy_country_code", one_off.proxy_country_code or "",
    ]


class Envelopes(Protocol):
    """The broker's wire format of the tasks' messages (``producer.wire.WireFormat``)."""

    def messages(self, task_ids: Sequence[str]) -> list[str]:
        """The Celery messages that run these tasks."""

    def sent_events(self, task_ids: Sequence[str]) -> tuple[str, str]:
        """The channel and envelope of the ``task-sent`` events of these tasks (('', '') if none)."""


class QueueRefusedError(Exception):
    """Admission: the backlog plus the batch would pass the limit; nothing was written."""

    def __init__(self, backlog: int) -> None:
        self.backlog = backlog
        super().__init__(f"{backlog} tasks waiting")


class AccountRefusedError(Exception):
    """The account's quota or budget refused the batch (``reason`` in REFUSALS); nothing was written."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


REFUSALS = {-3: "active", -4: "queued", -5: "daily_budget", -6: "monthly_budget"}


class TaskQueueError(Exception):
    """Redis failed a chunk: the first ``written`` tasks are written (and pushed), the rest not at all."""

    def __init__(self, message: str, written: int) -> None:
        self.written = written
        super().__init__(message)


class TaskQueue:
    """Writes new tasks chunk by chunk; thread-safe (each call uses its own pooled connection)."""

    def __init__(self, client: redis.Redis, queue: str, ttl_s: int, replicas: Replicas = NO_REPLICAS) -> None:
        self._redis, self.queue, self.ttl_s = client, queue, ttl_s
        self.replicas = replicas  # a create answers once its tasks are on them (a failover keeps them)
        self._script = client.register_script(_WRITE)

    def write(
        self, tasks: Sequence[NewTask], wire: Envelopes, *, push: bool, limit: int,
        gate: AccountGate | None = None,
    ) -> None:
        """Write ``tasks`` (and push their messages if ``push``); raises QueueRefusedError,
        AccountRefusedError (``gate``: the batch's account, checked with the first chunk), TaskQueueError."""
        written, sent = 0, None
        conn = self._redis.connection_pool.get_connection()
        gate_args = gate.args(time.time() - self.ttl_s) if gate is not None else NO_GATE
        try:
            for chunk in self._chunks(tasks, wire, push, limit, gate_args):  # built while Redis runs `sent`
                if sent is not None:
                    pending, sent = sent, None
                    written += self._finish(conn, pending, written)
                sent = self._send(conn, chunk)
            if sent is not None:
                pending, sent = sent, None
                written += self._finish(conn, pending, written)
            self._confirm(conn)
        except (QueueRefusedError, AccountRefusedError, TaskQueueError):
            raise
        except BaseException as exc:  # building a chunk failed: learn whether the one in flight landed
            if sent is not None:
                written += self._finish(conn, sent, written)
            if not isinstance(exc, Exception):
                raise
            raise TaskQueueError(f"could not enqueue task: {exc!r}", written) from exc
        finally:
            self._redis.connection_pool.release(conn)

    def forget(self, tasks: Sequence[NewTask]) -> None:
        """Remove the records, index entries and one-off sessions of tasks the broker did not take."""
        pipe = self._redis.pipeline(transaction=False)
        for task in tasks:
            tid, sid = task.task_id, task.session_id
            pipe.delete(*keys.task_keys(tid))
            for index in keys.listings(keys.TASK_INDEX, keys.TASKS_BY, task.owner, "created"):
                pipe.zrem(index, tid)
            if task.account is not None:
                pipe.zrem(keys.account_tasks(task.account, "active"), tid)
                pipe.zrem(keys.account_tasks(task.account, "queued"), tid)
            if task.webhook:
                pipe.delete(keys.webhook_outbox(tid))
                pipe.zrem(keys.WEBHOOKS_DUE, tid)
            pipe.zrem(keys.session_tasks(sid), tid)
            if task.one_off is not None:
                pipe.delete(*keys.session_keys(sid))
                for index in keys.listings(keys.SESSION_INDEX, keys.SESSIONS_BY, task.owner, "active"):
                    pipe.zrem(index, sid)
        pipe.execute()

    # -- internals --------------------------------------------------------------------------
    def _chunks(
        self, tasks: Sequence[NewTask], wire: Envelopes, push: bool, limit: int, gate: list[str | int]
    ) -> Iterator[_Chunk]:
        for start in range(0, len(tasks), CHUNK):
            chunk = tasks[start : start + CHUNK]
            ids = [t.task_id for t in chunk]
            messages = wire.messages(ids) if push else [""] * len(chunk)
            packed = []
            for task, message in zip(chunk, messages, strict=True):
                now = datetime.now(UTC)
                started = now.timestamp()
                packed.append([
                    task.task_id, task.session_id, repr(started), task.owner or "", message,
                    record_hash(task, now),
                    session_hash(task, task.one_off, started) if task.one_off else [],
                    task.account or "", "1" if task.webhook else "",
                ])
            channel, event = wire.sent_events(ids) if push else ("", "")
            yield _Chunk(len(chunk), [
                "EVALSHA", self._script.sha, 3, self.queue, keys.TASK_INDEX, keys.SESSION_INDEX,
                self.ttl_s, limit, "1" if push else "0", len(tasks) if start == 0 else 0,
                keys.TASKS_BY, keys.SESSIONS_BY, keys.task(""), keys.session(""), _SESSION_TASKS_SUFFIX,
                channel, event, msgpack.packb(packed), *gate,
            ])

    def _send(self, conn: Any, chunk: _Chunk) -> _Chunk:
        """Send one chunk's script call without waiting for its answer."""
        try:
            conn.send_packed_command(conn.pack_command(*chunk.args))
            chunk.sent = True
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()  # _finish runs the chunk again, with the client's retries
        return chunk

    def _confirm(self, conn: Any) -> None:
        """``WAIT`` for the replicas on the connection that sent the chunks (a chunk run again
        elsewhere waited on its own)."""
        try:
            wait_replicas(conn, self.replicas)
        except redis.RedisError as exc:  # the tasks are written; the master alone has them
            log.warning("tasks written, not confirmed by a replica: %s", exc)
            conn.disconnect()

    def _finish(self, conn: Any, chunk: _Chunk, written: int) -> int:
        """Read a sent chunk's answer (or run it again when there is none); returns its size."""
        args = chunk.args
        try:
            result = None
            if chunk.sent:
                try:
                    result = int(conn.read_response())
                except (redis.ConnectionError, redis.TimeoutError, redis.exceptions.NoScriptError):
                    conn.disconnect()
            if result is None:  # loads the script if needed; retries; -2 if the chunk had landed
                result = int(run_script(self._redis, self._script, args[3:6], args[6:], self.replicas))
        except redis.RedisError as exc:
            raise TaskQueueError(f"could not enqueue task: {exc}", written) from exc
        if result >= 0:
            raise QueueRefusedError(result)
        if result in REFUSALS:
            raise AccountRefusedError(REFUSALS[result])
        return chunk.size


@dataclass(slots=True)
class _Chunk:
    size: int
    args: list[Any]  # the EVALSHA command
    sent: bool = False


class ListPublisher:
    """Another Redis as the broker: messages and events pushed as kombu's Redis transport does."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @classmethod
    def from_url(cls, url: Target) -> ListPublisher:
        return cls(connect(url))

    @property
    def db(self) -> int:
        """The broker's Redis database (Celery's event channels are per database)."""
        return int(self._redis.connection_pool.connection_kwargs.get("db", 0))

    def push(self, queue: str, messages: Sequence[str], events: Sequence[tuple[str, str]]) -> None:
        """``LPUSH`` the messages (in order, ``CHUNK`` per command) and publish the events
        (channel, envelope), in one pipeline."""
        pipe = self._redis.pipeline(transaction=False)
        for start in range(0, len(messages), CHUNK):
            pipe.lpush(queue, *messages[start : start + CHUNK])
        for channel, event in events:
            if channel:
                pipe.publish(channel, event)
        pipe.execute()

