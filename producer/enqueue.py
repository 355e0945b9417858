"""Record and enqueue new tasks in one Redis round trip (one Lua script per batch).

The script checks admission (the queue backlog against ``max_queued_tasks``), writes
each task's record and indexes, creates its one-off session, and pushes its Celery
message and ``task-sent`` event (see :mod:`producer.wire`). It is all or nothing for
the batch: a full queue refuses every task of it and writes nothing.

When the broker is elsewhere (``BROWSERFLEET_BROKER_URL``: another Redis, or RabbitMQ),
the script writes only the records, and a :class:`Publisher` sends the messages after an
admission check on that broker: another Redis gets them in one pipeline, RabbitMQ through
Celery's ``send_task`` with publisher confirms. A failed publish removes the records again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import redis
from celery import Celery

from shared import keys
from shared.broker import BrokerQueues, BrokerUnavailableError
from shared.metrics import ADMISSION_REJECTIONS
from shared.session_store import SESSION_INDEX_LUA, SessionRecord
from shared.task_store import INDEX_LUA, TaskRecord, TaskStore

from .errors import EnqueueError, QueueFullError
from .wire import WireFormat

# KEYS: [1] queue list, [2] task index, [3] session index; per task: task hash, session-tasks zset,
# session hash. ARGV: [1] ttl, [2] admission limit (0 = none), [3] push here ('1'/'0'), [4] event
# channel, [5] task count, [6] the listing indexes' prefix (keys.TASKS_BY); per task: id, session
# id, score, message, event, the record hash as a
# JSON object, the one-off session's hash as a JSON object and its start time ('' and 0 when the
# task runs in an existing, already claimed session).
# Returns -1 when written, else the backlog that refused the batch.
_CREATE = INDEX_LUA + SESSION_INDEX_LUA + """
local function hset(key, json)
  local fields, flat = cjson.decode(json), {}
  for k, v in pairs(fields) do flat[#flat + 1] = k; flat[#flat + 1] = v end
  redis.call('HSET', key, unpack(flat))
  return fields
end
local n, limit, push = tonumber(ARGV[5]), tonumber(ARGV[2]), ARGV[3] == '1'
if push and limit > 0 then
  local backlog = redis.call('LLEN', KEYS[1])
  if backlog + n > limit then return backlog end
end
local ttl, prefix = ARGV[1], ARGV[6]
for i = 0, n - 1 do
  local a, k = 7 + 8 * i, 4 + 3 * i
  local tid, sid, score = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local fields = hset(KEYS[k], ARGV[a + 5])
  redis.call('EXPIRE', KEYS[k], ttl)
  redis.call('ZADD', KEYS[2], score, tid)
  local owner = fields['owner'] and cjson.decode(fields['owner']) or nil
  if owner then redis.call('ZADD', prefix .. 'owner:' .. owner, score, tid) end
  index_status(prefix, tid, score, owner, nil, cjson.decode(fields['status']))
  redis.call('ZADD', KEYS[k + 1], score, tid)
  if ARGV[a + 6] ~= '' then
    local session = hset(KEYS[k + 2], ARGV[a + 6])
    redis.call('EXPIRE', KEYS[k + 2], ttl)
    redis.call('ZADD', KEYS[3], ARGV[a + 7], sid)
    session_listed(sid, ARGV[a + 7], session['owner'], session['status'])
  end
  if push then
    redis.call('LPUSH', KEYS[1], ARGV[a + 3])
    if ARGV[a + 4] ~= '' then redis.call('PUBLISH', ARGV[4], ARGV[a + 4]) end
  end
end
return -1
"""


@dataclass
class NewTask:
    """A task to record and enqueue, with the one-off session to create for it (if any)."""

    record: TaskRecord
    one_off_session: SessionRecord | None = None


class Publisher(Protocol):
    """Sends the messages of recorded tasks to a broker the script cannot write to."""

    def publish(self, task_ids: Sequence[str], messages: list[tuple[str, str]]) -> None:
        """Raise on failure: nothing may be left half-sent without the caller knowing."""


class RedisListPublisher:
    """Another Redis as the broker: the prebuilt envelopes and events in one pipeline."""

    def __init__(self, broker: redis.Redis, wire: WireFormat) -> None:
        self.broker, self.wire = broker, wire

    def publish(self, task_ids: Sequence[str], messages: list[tuple[str, str]]) -> None:
        pipe = self.broker.pipeline(transaction=False)
        for message, event in messages:
            pipe.lpush(self.wire.queue, message)
            if event:
                pipe.publish(self.wire.event_channel, event)
        pipe.execute()


class CeleryPublisher:
    """RabbitMQ (or any broker Celery speaks): ``send_task`` per task; confirms make it durable."""

    def __init__(self, app: Celery, task_name: str, queue: str) -> None:
        self.app, self.task_name, self.queue = app, task_name, queue

    def publish(self, task_ids: Sequence[str], messages: list[tuple[str, str]]) -> None:
        with self.app.producer_or_acquire() as producer:
            for task_id in task_ids:
                self.app.send_task(self.task_name, args=[task_id], task_id=task_id, queue=self.queue,
                                   producer=producer)


class Enqueuer:
    """Writes and enqueues batches of new tasks; thread-safe, one per producer."""

    def __init__(
        self,
        store: TaskStore,
        wire: WireFormat,
        *,
        broker: BrokerQueues,
        publisher: Publisher | None,
        max_queued: int,
        retry_after_s: int,
    ) -> None:
        """``publisher`` None: the broker is the records' Redis, and the script pushes too."""
        self.store = store
        self.wire = wire
        self.broker = broker
        self.publisher = publisher
        self.max_queued = max_queued
        self.retry_after_s = retry_after_s
        self._create = store._redis.register_script(_CREATE)  # interim: moves behind a shared store

    def push(self, tasks: Sequence[NewTask]) -> None:
        """Record and enqueue ``tasks``, all or none; raises QueueFullError or EnqueueError."""
        if not tasks:
            return
        if self.publisher is not None:
            self._admit_on_broker(len(tasks))
        messages = [(self.wire.message(str(t.record.id)), self.wire.event(str(t.record.id))) for t in tasks]
        script_keys, args = self._script_input(tasks, messages)
        try:
            backlog = int(self._create(keys=script_keys, args=args))
        except redis.RedisError as exc:  # the script is atomic: nothing was written
            raise EnqueueError(f"could not enqueue task: {exc}") from exc
        if backlog >= 0:
            raise self._full(backlog)
        if self.publisher is not None:
            self._publish(tasks, messages)

    def _full(self, backlog: int) -> QueueFullError:
        ADMISSION_REJECTIONS.inc()
        return QueueFullError(backlog, self.max_queued, max(1, self.retry_after_s))

    def _script_input(
        self, tasks: Sequence[NewTask], messages: list[tuple[str, str]]
    ) -> tuple[list[str], list[str | int | float]]:
        script_keys = [self.wire.queue, keys.TASK_INDEX, keys.SESSION_INDEX]
        args: list[str | int | float] = [
            self.store.ttl_s, self.max_queued, "0" if self.publisher else "1",
            self.wire.event_channel, len(tasks), keys.TASKS_BY,
        ]
        for task, (message, event) in zip(tasks, messages, strict=True):
            record, one_off = task.record, task.one_off_session
            task_id, session_id = str(record.id), str(record.session_id)
            script_keys += [keys.task(task_id), keys.session_tasks(session_id), keys.session(session_id)]
            args += [
                task_id, session_id, record.created_at.timestamp(), message, event,
                json.dumps(TaskStore.fields(record)),
                json.dumps(one_off.fields()) if one_off else "",
                one_off.started_at.timestamp() if one_off else 0,
            ]
        return script_keys, args

    def _admit_on_broker(self, count: int) -> None:
        if self.max_queued <= 0:
            return
        try:
            backlog = self.broker.depth(self.wire.queue)
        except (redis.RedisError, BrokerUnavailableError) as exc:
            raise EnqueueError(f"could not enqueue task: the broker did not answer: {exc}") from exc
        if backlog + count > self.max_queued:
            raise self._full(backlog)

    def _publish(self, tasks: Sequence[NewTask], messages: list[tuple[str, str]]) -> None:
        assert self.publisher is not None
        try:
            self.publisher.publish([str(t.record.id) for t in tasks], messages)
        except Exception as exc:  # the broker's errors vary by transport
            self._forget(tasks)
            raise EnqueueError(f"could not enqueue task: {exc}") from exc

    def _forget(self, tasks: Sequence[NewTask]) -> None:
        """Remove the records (and one-off sessions) of tasks the broker did not take."""
        for task in tasks:
            self.store.delete(str(task.record.id), str(task.record.session_id))
            if task.one_off_session is not None:
                sid = str(task.one_off_session.id)
                self.store._redis.delete(*keys.session_keys(sid))
                self.store._redis.zrem(keys.SESSION_INDEX, sid)
