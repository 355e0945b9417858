"""The task-record store in Redis: the source of truth for ``TaskView``.

The producer writes a record at creation (``created``); the worker moves it through
``started`` to a terminal status, appending each step as it happens. Every status
change is a compare-and-set (a Lua script), so a stop racing a start, or a
redelivered task racing its first run, has exactly one winner.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import redis
import redis.asyncio

from shared import control, keys, live_events, lua
from shared.models import FileView, TaskItemView, TaskStatus, TaskStatusView, TaskStepView, TaskView
from shared.redis_client import NO_REPLICAS, Replicas, run_script
from shared.task_events import STATUS_EVENT

# KEYS: [1] task hash, [2] the index of all tasks, [3] the task's lease. ARGV: [1] allowed
# statuses, [2] task id, [3] the indexes' prefix, [4] the fencing token of the run writing
# ('' = not a run: the producer, the judge), [5] its lease epoch, [6] the webhook outbox's TTL,
# then field/value pairs (status first). A run's write is refused (-2) once a newer run took
# the lease (see shared.lease_store): the newer run's record is not the old run's to end. A real
# change also updates the account's sets and emits the status event (shared.task_events).
# The listing indexes (``keys.tasks_by``) follow every status change here (``relisted``), so a
# page of any index is exact.
_TRANSITION = lua.script("""
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then return -1 end
if not string.find(ARGV[1], '|' .. cur .. '|', 1, true) then return 0 end
if ARGV[4] ~= '' then
  local holder = redis.call('GET', KEYS[3])
  if holder ~= ARGV[4] and (holder or redis.call('HGET', KEYS[1], 'lease_epoch') ~= ARGV[5]) then
    return -2
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 7))
local new = ARGV[8]
if new ~= cur then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[2])
  if score then
    relisted(ARGV[3], ARGV[2], score, json_field(KEYS[1], 'owner'), cjson.decode(cur), cjson.decode(new))
  end
  status_changed(KEYS[1], ARGV[2], cjson.decode(new), ARGV[6])
end
if new ~= cur then
  local status_json = new
  redis.call('PUBLISH', KEYS[1] .. ':live', @STATUS@)
end
return 1
""".replace("@STATUS@", live_events.LUA_STATUS), lua.LISTINGS, lua.JSON_FIELD, STATUS_EVENT)

# Deletes a task and, in the same step, the grant of its liveUrl: a token can neither outlive
# the record (the link would keep working) nor be created for a record that is gone (the
# token script checks the record in one step too). Viewers are told on the task's channel
# and on the control channel. KEYS: the task's keys (``keys.task_keys``; [1] the record,
# [2] its live-token key). ARGV: [1] task id, [2] the session's task index, [3] the listing
# indexes' prefix, [4] the index of all tasks, [5] the grant keys' prefix, [6] control channel,
# [7] the webhook outbox's TTL, [8] the task's run-signal channel (shared.control), [9] its
# ``gone`` signal. A task deleted while queued or running (its session was deleted) is "stopped"
# for its account's sets and its webhook, in the same step.
_DELETE = lua.script("""
local tid = ARGV[1]
local status, owner = json_field(KEYS[1], 'status'), json_field(KEYS[1], 'owner')
if status == 'created' or status == 'started' then status_changed(KEYS[1], tid, 'stopped', ARGV[7]) end
local token = redis.call('GET', KEYS[2])
if token then
  redis.call('DEL', ARGV[5] .. token)
  local ids = {redis.sha1hex(token)}
  redis.call('PUBLISH', ARGV[6], @REVOKED@)
end
redis.call('DEL', unpack(KEYS))
redis.call('ZREM', ARGV[4], tid)
redis.call('ZREM', ARGV[2], tid)
unlisted(ARGV[3], tid, owner, status)
redis.call('PUBLISH', KEYS[1] .. ':live', @DELETED@)
redis.call('PUBLISH', ARGV[8], ARGV[9])  -- a run of the task stops before its next move
return 1
""".replace("@REVOKED@", live_events.LUA_REVOKED).replace("@DELETED@", live_events.LUA_DELETED),
                     lua.LISTINGS, lua.JSON_FIELD, STATUS_EVENT)


_VIEW_FIELDS = set(TaskView.model_fields) - {"steps", "output_files"}
# What a status poll reads: the status view, plus who owns the task and the judge's deadline.
STATUS_FIELDS = ["id", *(f for f in TaskStatusView.model_fields if f != "id"), "owner", "judge_deadline"]


def utcnow() -> datetime:
    return datetime.now(UTC)


class TaskRecord(TaskView):
    """A task's stored state: the public view plus what only the worker reads."""

    request: dict[str, Any]
    secrets_token: str | None = None
    owner: str | None = None
    # The API key the task was created with (shared.accounts): its quotas, budget and webhook.
    account: str | None = None
    # Whether its status changes go to a webhook (decided at creation, see shared.task_events).
    webhook: bool | None = None
    # Its cost cap and its key's budgets, as decided at creation (shared.accounts.Limits.for_record).
    cost_limits: dict[str, str] | None = None
    # Set while the judge is pending (status stays ``started``): past it, readers finish the task.
    judge_deadline: datetime | None = None

    @property
    def judge_overdue(self) -> bool:
        return (
            self.status == TaskStatus.started
            and self.judge_deadline is not None
            and utcnow() > self.judge_deadline
        )

    def view(self) -> TaskView:
        return TaskView.model_validate(self.model_dump(include=_VIEW_FIELDS | {"steps", "output_files"}))

    def item(self) -> TaskItemView:
        return TaskItemView.model_validate(self.model_dump(include=set(TaskItemView.model_fields)))

    def status_view(self) -> TaskStatusView:
        return TaskStatusView.model_validate(
            self.model_dump(include=set(TaskStatusView.model_fields))
        )


@dataclass
class StatusFields:
    """A status poll's read: the view, the task's owner, and whether its judge is overdue."""

    view: TaskStatusView
    owner: str | None
    judge_overdue: bool


def status_from_fields(raw: list[bytes | str | None]) -> StatusFields | None:
    """Parse an ``HMGET`` of :data:`STATUS_FIELDS` (``None``: no such record)."""
    if raw[0] is None:
        return None
    data = {name: json.loads(value) for name, value in zip(STATUS_FIELDS, raw, strict=True) if value}
    owner, deadline = data.pop("owner", None), data.pop("judge_deadline", None)
    overdue = (
        data.get("status") == TaskStatus.started.value
        and deadline is not None
        and utcnow() > datetime.fromisoformat(deadline)
    )
    return StatusFields(TaskStatusView.model_validate(data), owner, overdue)


OVERDUE_JUDGE = "the judge did not answer before its deadline (is a worker consuming the judge queue?)"


def unjudged(reason: str) -> str:
    """The ``judgement`` of a task whose judge failed: every field present, no verdict."""
    return json.dumps({
        "verdict": None,
        "reasoning": "",
        "failureReason": None,
        "impossibleTask": None,
        "reachedCaptcha": None,
        "error": reason,
    })


class FencedWriteError(Exception):
    """A run's write refused: a newer run of the task holds its lease (see shared.lease_store)."""


class OutputFileTooLargeError(ValueError):
    """An output file over the configured size limit."""


_dumps = json.JSONEncoder().encode  # json.dumps without its per-call keyword handling


def _encode(value: Any) -> str:
    """One hash value as JSON (the common cases first: this runs ~20 times per created task)."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return _dumps(value)
    if isinstance(value, datetime):
        return '"' + value.isoformat() + '"'
    if isinstance(value, UUID):
        return '"' + str(value) + '"'
    if isinstance(value, Decimal):
        return '"' + format(value, "f") + '"'
    return _dumps(value)


MAX_OFFSET = 2**62  # Redis offsets are signed 64-bit: a larger page number just lies past the end


class TaskStore:
    """Reads and writes task records; one instance per process is enough (thread-safe)."""

    def __init__(self, client: redis.Redis, ttl_s: int, replicas: Replicas = NO_REPLICAS) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self.replicas = replicas  # every status change waits for them (a failover must not undo it)
        self._transition = client.register_script(_TRANSITION)
        self._delete = client.register_script(_DELETE)

    # -- writes -----------------------------------------------------------
    @staticmethod
    def fields(record: TaskRecord) -> dict[str, str]:
        """The Redis hash of a new record (each value JSON; steps and files live elsewhere).

        Unset (None) fields are left out: an absent field reads back as its default (None),
        and a new record has a dozen of them.
        """
        data = record.model_dump(exclude={"steps", "output_files"}, exclude_none=True)
        return {n: _encode(v) for n, v in data.items()}

    def create(self, record: TaskRecord) -> None:
        """Write a new record (status ``created``) and index it."""
        task_id, session_id = str(record.id), str(record.session_id)
        fields: dict[Any, Any] = self.fields(record)
        score = record.created_at.timestamp()
        pipe = self._redis.pipeline()
        pipe.hset(keys.task(task_id), mapping=fields)
        pipe.expire(keys.task(task_id), self.ttl_s)
        for index in keys.listings(keys.TASK_INDEX, keys.TASKS_BY, record.owner, record.status.value):
            pipe.zadd(index, {task_id: score})
        pipe.zadd(keys.session_tasks(session_id), {task_id: score})
        pipe.execute()

    def transition(
        self, task_id: str, to: TaskStatus, allowed_from: Iterable[TaskStatus], fence: str = "",
        **fields: Any,
    ) -> bool:
        """Set ``status=to`` (and ``fields``) only if the current status is in ``allowed_from``
        and, for a run's write (``fence``: its lease token), only while that run holds the lease
        (else :class:`FencedWriteError`)."""
        allowed = "|" + "|".join(_encode(s.value) for s in allowed_from) + "|"
        args: list[str] = [allowed, task_id, keys.TASKS_BY, fence, fence.rpartition("#")[2],
                           str(self.ttl_s), "status", _encode(to.value)]
        for name, value in fields.items():
            args += [name, _encode(value)]
        touched = [keys.task(task_id), keys.TASK_INDEX, keys.lease(task_id)]
        result = int(run_script(self._redis, self._transition, touched, args, self.replicas))
        if result == -2:
            raise FencedWriteError(task_id)
        return result == 1

    def update(self, task_id: str, **fields: Any) -> None:
        """Set fields without a status change (cost so far, judge results)."""
        self._redis.hset(keys.task(task_id), mapping={k: _encode(v) for k, v in fields.items()})

    def append_step(self, task_id: str, step: TaskStepView) -> None:
        """Record a step, and push it to the task's live viewers (one round trip)."""
        data = step.model_dump_json()
        pipe = self._redis.pipeline()
        pipe.rpush(keys.steps(task_id), data)
        pipe.expire(keys.steps(task_id), self.ttl_s)
        pipe.publish(keys.live_frames(task_id), live_events.step(step.model_dump_json(by_alias=True)))
        pipe.execute()

    def add_output_file(
        self, task_id: str, file_name: str, data: bytes, content_type: str, max_bytes: int
    ) -> FileView:
        """Keep one output file of the task (base64 in Redis, with the record's TTL)."""
        if len(data) > max_bytes:
            raise OutputFileTooLargeError(
                f"{file_name} is {len(data)} bytes, over the {max_bytes}-byte file limit"
            )
        file_id = str(uuid4())
        meta = {"id": file_id, "fileName": file_name, "contentType": content_type,
                "size": len(data), "createdAt": utcnow().isoformat()}
        pipe = self._redis.pipeline()
        pipe.hset(keys.output_file_data(task_id), file_id, base64.b64encode(data).decode())
        pipe.hset(keys.output_files(task_id), file_id, json.dumps(meta))
        pipe.expire(keys.output_file_data(task_id), self.ttl_s)
        pipe.expire(keys.output_files(task_id), self.ttl_s)
        pipe.execute()
        return FileView(id=UUID(file_id), file_name=file_name)

    def finish_unjudged(self, task_id: str, reason: str) -> bool:
        """End a judge-pending task without a verdict (judge down, failed or overdue)."""
        return self.transition(
            task_id, TaskStatus.finished, [TaskStatus.started],
            finished_at=utcnow(), judgement=unjudged(reason), judge_verdict=None, judge_deadline=None,
        )

    def settle(self, record: TaskRecord, with_steps: bool = False) -> TaskRecord:
        """The record as it stands once an overdue judge is given up on.

        Reads never write; the producer calls this on what it is about to show, so no reader
        waits forever on a dead judge fleet (a judge that answers later finds the task finished).
        """
        if not record.judge_overdue:
            return record
        self.finish_unjudged(str(record.id), OVERDUE_JUDGE)
        return self.load(str(record.id), with_steps) or record

    def keep_step_screenshot(self, task_id: str, number: int, image: str) -> None:
        """Keep a step's screenshot (base64) for the task viewer's replay."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hset(keys.step_screenshots(task_id), str(number), image)
        pipe.expire(keys.step_screenshots(task_id), self.ttl_s)
        pipe.execute()

    def keep_judge_screenshots(self, task_id: str, images: list[str], ttl_s: int) -> None:
        """The last screenshots the judge will look at (replacing any of an earlier delivery)."""
        pipe = self._redis.pipeline()
        pipe.delete(keys.judge_screenshots(task_id))
        if images:
            pipe.rpush(keys.judge_screenshots(task_id), *images)
            pipe.expire(keys.judge_screenshots(task_id), ttl_s)
        pipe.execute()

    def judge_screenshots(self, task_id: str) -> list[str]:
        return [str(s) for s in self._redis.lrange(keys.judge_screenshots(task_id), 0, -1)]

    def drop_judge_screenshots(self, task_id: str) -> None:
        """Called once the verdict is written (a redelivered judge still finds them before)."""
        self._redis.delete(keys.judge_screenshots(task_id))

    def clear_run(self, task_id: str) -> None:
        """Forget the steps and files of an earlier delivery before the task runs again."""
        self._redis.delete(keys.steps(task_id), keys.output_files(task_id), keys.output_file_data(task_id))

    def request_stop(self, task_id: str) -> None:
        """Set the stop flag (the run's step script reads it) and signal the run at once."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(keys.stop_flag(task_id), "1", ex=self.ttl_s)
        control.publish(pipe, task_id, control.STOP)
        pipe.execute()

    def delete(self, task_id: str, session_id: str) -> None:
        """Remove the task's keys and index entries, and revoke its liveUrl, in one step; one still
        queued or running is "stopped" for its account and webhook."""
        task_keys = keys.task_keys(task_id)
        assert task_keys[:1] == [keys.task(task_id)] and keys.live_token_of_task(task_id) in task_keys
        ordered = [keys.task(task_id), keys.live_token_of_task(task_id),
                   *(k for k in task_keys[1:] if k != keys.live_token_of_task(task_id))]
        args = [task_id, keys.session_tasks(session_id), keys.TASKS_BY, keys.TASK_INDEX, keys.LIVE_GRANT,
                keys.LIVE_CONTROL, str(self.ttl_s), keys.control(task_id), control.GONE]
        self._delete(keys=ordered, args=args)

    # -- reads ------------------------------------------------------------
    def stop_requested(self, task_id: str) -> bool:
        """Stop when asked to, and when the record is gone (deleted, or expired): a task
        nobody can see any more must not go on browsing with its secrets."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(keys.stop_flag(task_id))
        pipe.exists(keys.task(task_id))
        flagged, present = pipe.execute()
        return bool(flagged) or not present

    def load(self, task_id: str, with_steps: bool = False) -> TaskRecord | None:
        if with_steps:
            pipe = self._redis.pipeline(transaction=False)
            pipe.hgetall(keys.task(task_id))
            pipe.lrange(keys.steps(task_id), 0, -1)
            pipe.hvals(keys.output_files(task_id))
            raw, *rest = pipe.execute()
        else:
            raw = self._redis.hgetall(keys.task(task_id))
        if not raw:
            return None
        data = {name: json.loads(value) for name, value in raw.items()}
        if with_steps:
            data["steps"] = [json.loads(s) for s in rest[0]]
            files = sorted((json.loads(m) for m in rest[1]), key=lambda m: m["createdAt"])
            data["output_files"] = [{"id": m["id"], "file_name": m["fileName"]} for m in files]
        return TaskRecord.model_validate(data)

    def load_status(self, task_id: str) -> StatusFields | None:
        """The polled view, the task's owner and whether its judge is overdue (one HMGET)."""
        return status_from_fields(self._redis.hmget(keys.task(task_id), STATUS_FIELDS))

    def output_file(self, task_id: str, file_id: str) -> tuple[dict[str, Any], bytes] | None:
        """One output file's metadata (fileName, contentType, size) and content, if kept."""
        pipe = self._redis.pipeline()
        pipe.hget(keys.output_files(task_id), file_id)
        pipe.hget(keys.output_file_data(task_id), file_id)
        meta, data = pipe.execute()
        if meta is None or data is None:
            return None
        return json.loads(meta), base64.b64decode(data)

    def status(self, task_id: str) -> TaskStatus | None:
        raw = self._redis.hget(keys.task(task_id), "status")
        return TaskStatus(json.loads(raw)) if raw else None

    def created_at(self, task_id: str) -> datetime | None:
        raw = self._redis.hget(keys.task(task_id), "created_at")
        return datetime.fromisoformat(json.loads(raw)) if raw else None

    def exists(self, task_id: str) -> bool:
        return bool(self._redis.exists(keys.task(task_id)))

    def step_screenshot(self, task_id: str, number: int) -> str | None:
        raw = self._redis.hget(keys.step_screenshots(task_id), str(number))
        return None if raw is None else str(raw)

    def step_screenshot_numbers(self, task_id: str) -> list[int]:
        return sorted(int(n) for n in self._redis.hkeys(keys.step_screenshots(task_id)))

    def steps(self, task_id: str, start: int = 0) -> list[TaskStepView]:
        raw = self._redis.lrange(keys.steps(task_id), start, -1)
        return [TaskStepView.model_validate_json(s) for s in raw]

    def page_ids(
        self,
        page_size: int,
        page_number: int,
        *,
        owner: str | None = None,
        status: str | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
    ) -> tuple[list[str], int]:
        """One page of task ids, newest first, and the total: O(log n + page) in one round trip.

        Entries older than the record TTL (their records expired) are trimmed first.
        """
        index = keys.tasks_by(owner=owner, status=status)
        expired = time.time() - self.ttl_s
        low = max(after.timestamp(), expired) if after else expired
        high: float | str = before.timestamp() if before else "+inf"
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(index, "-inf", f"({expired}")
        pipe.zcount(index, low, high)
        offset = min(max(page_number - 1, 0) * page_size, MAX_OFFSET)  # a page past the end is empty
        pipe.zrevrangebyscore(index, high, low, start=offset, num=page_size)
        _, total, ids = pipe.execute()
        return [str(i) for i in ids], int(total)

    def session_ids(self, session_id: str, after: datetime | None = None,
                    before: datetime | None = None) -> list[str]:
        """A session's task ids, newest first (sessions hold few tasks: read whole)."""
        high = before.timestamp() if before else "+inf"
        low = after.timestamp() if after else "-inf"
        return [str(i) for i in self._redis.zrevrangebyscore(keys.session_tasks(session_id), high, low)]

    def load_many(self, task_ids: list[str]) -> list[TaskRecord]:
        pipe = self._redis.pipeline()
        for task_id in task_ids:
            pipe.hgetall(keys.task(task_id))
        return [
            TaskRecord.model_validate({k: json.loads(v) for k, v in raw.items()})
            for raw in pipe.execute() if raw
        ]


class AsyncStatusReader:
    """The status poll on an event loop (the HTTP API's): one async ``HMGET``, no thread hop."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client

    async def load_status(self, task_id: str) -> StatusFields | None:
        return status_from_fields(await self._redis.hmget(keys.task(task_id), STATUS_FIELDS))
