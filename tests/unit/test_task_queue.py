"""The chunked enqueue path (shared/task_queue.py) writes what the stores would, and fails whole chunks.

- the record and one-off session hashes, built without pydantic, equal ``TaskStore.fields`` and
  ``SessionRecord.fields`` value for value;
- a batch of several chunks is enqueued in order, indexed, in one request per chunk;
- a chunk sent again (a retry after a lost answer) is not written twice;
- a failure between two chunks leaves the first chunks enqueued and complete, the rest absent,
  and says which were enqueued.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from producer import EnqueueError, PartlyEnqueuedError, Producer
from shared import keys
from shared.ids import new_id
from shared.models import CreateTaskRequest, TaskStatus
from shared.session_store import SessionRecord
from shared.task_queue import CHUNK, NewTask, OneOffSession, TaskQueue, record_hash, session_hash
from shared.task_store import TaskRecord, TaskStore
from tests.support.redis_requests import count_requests


@pytest.fixture
def batch_producer(settings: Any, redis_client: redis.Redis) -> Iterator[Producer]:
    """A producer on a queue no worker consumes; the one-off sessions it makes are stopped after."""
    queue = f"bf-chunks-{uuid.uuid4().hex[:8]}"
    active = keys.sessions_by(status="active")
    before = set(redis_client.zrange(active, 0, -1))
    producer = Producer(settings.model_copy(update={"queue": queue, "max_queued_tasks": 0}))
    yield producer
    redis_client.delete(queue)
    for sid in set(redis_client.zrange(active, 0, -1)) - before:  # else they count against the limit
        producer.sessions.stop(sid)


def _queued(redis_client: redis.Redis, queue: str) -> list[str]:
    return [json.loads(m)["headers"]["id"] for m in redis_client.lrange(queue, 0, -1)]


def test_new_ids_are_version_4_uuids() -> None:
    ids = {new_id() for _ in range(1000)}
    assert len(ids) == 1000
    for raw in list(ids)[:50]:
        parsed = uuid.UUID(raw)
        assert (str(parsed), parsed.version, parsed.variant) == (raw, 4, uuid.RFC_4122)


@pytest.mark.parametrize("owner", [None, "team-ü"])
@pytest.mark.parametrize("secrets", [False, True])
def test_the_hashes_are_what_the_stores_write(owner: str | None, secrets: bool) -> None:
    request = CreateTaskRequest.model_validate({
        "task": "Find \"quotes\", ümlauts and 日本語", "llm": "gpt-4.1", "metadata": {"k": "v ü"},
        "startUrl": "https://example.com/a?b=c", "maxSteps": 7, "allowedDomains": ["example.com"],
        **({"secrets": {"b": "x" * 12, "a": "y" * 12}} if secrets else {}),
    })
    task = NewTask(new_id(), new_id(), request, owner, "token" if secrets else None, "de",
                   OneOffSession(1280, 720, str(uuid.uuid4()), True, "de"))
    now = datetime.now(UTC)
    stored = request.model_dump(mode="json", exclude={"secrets"})
    record = TaskRecord(
        id=task.task_id, session_id=task.session_id, llm=request.llm, task=request.task,
        status=TaskStatus.created, created_at=now, metadata=dict(request.metadata or {}), request=stored,
        secrets_token=task.secrets_token, owner=owner, proxy_country_code="de",
    )
    pairs = record_hash(task, now)
    assert not any("x" * 12 in value or "y" * 12 in value for value in pairs)  # secret values never
    ours, theirs = dict(zip(pairs[::2], pairs[1::2], strict=True)), TaskStore.fields(record)
    assert json.loads(ours.pop("request")) == json.loads(theirs.pop("request"))  # same JSON, compact
    assert ours == theirs
    assert task.one_off is not None
    session = SessionRecord(
        id=task.session_id, owner=owner, started_at=now, last_active_at=now, running_task=task.task_id,
        persist_memory=False, keep_alive=False, one_off=True, screen_width=1280, screen_height=720,
        profile_id=task.one_off.profile_id, enable_recording=True, proxy_country_code="de",
    )
    pairs = session_hash(task, task.one_off, now.timestamp())
    assert dict(zip(pairs[::2], pairs[1::2], strict=True)) == session.fields()


def test_a_batch_of_several_chunks_is_enqueued_in_order_one_request_per_chunk(
    batch_producer: Producer, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_producer.create_task({"task": "warm up"})
    redis_client.delete(batch_producer.settings.queue)
    owner = f"owner-{uuid.uuid4().hex[:6]}"
    count = 2 * CHUNK + 7
    requests = count_requests(monkeypatch)
    created = batch_producer.create_tasks([{"task": f"t{i}"} for i in range(count)], owner=owner)
    monkeypatch.undo()
    assert requests == [3]
    queued = _queued(redis_client, batch_producer.settings.queue)
    assert queued[::-1] == [str(c.id) for c in created]  # workers pop from the right: first created first
    for name in (keys.tasks_by(owner=owner), keys.tasks_by(owner=owner, status="created")):
        assert redis_client.zcard(name) == count
    for name in (keys.sessions_by(owner=owner), keys.sessions_by(owner=owner, status="active")):
        assert redis_client.zcard(name) == count
    page = batch_producer.list_tasks(page_size=5, owner=owner)
    assert page.total_items == count
    assert [i.task for i in page.items] == [f"t{count - 1 - i}" for i in range(5)]
    last = batch_producer.get_task(created[-1].id)
    assert (last.task, last.status) == (f"t{count - 1}", TaskStatus.created)
    assert last.session_id == created[-1].session_id
    session = batch_producer.sessions.get(created[-1].session_id, owner=owner)
    assert [t.id for t in session.tasks] == [created[-1].id] and not session.keep_alive


def test_a_chunk_sent_again_is_not_written_twice(batch_producer: Producer, redis_client: redis.Redis) -> None:
    enqueuer = batch_producer.enqueuer
    request = CreateTaskRequest(task="once")
    tasks = [NewTask(new_id(), new_id(), request, None, one_off=OneOffSession()) for _ in range(3)]
    queue = TaskQueue(batch_producer.store._redis, batch_producer.settings.queue, 3600)
    queue.write(tasks, enqueuer.wire, push=True, limit=0)
    queue.write(tasks, enqueuer.wire, push=True, limit=0)  # what a retry after a lost answer does
    assert redis_client.llen(batch_producer.settings.queue) == 3


def test_a_failure_between_chunks_leaves_whole_chunks_and_says_which(
    batch_producer: Producer, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    wire = batch_producer.enqueuer.wire
    built = [0]
    message = wire.message

    def failing(task_id: str, tag: str | None = None) -> str:
        built[0] += 1
        if built[0] > CHUNK:
            raise RuntimeError("injected: the second chunk cannot be built")
        return message(task_id, tag)

    monkeypatch.setattr(wire, "message", failing)
    before = redis_client.zcard(keys.TASK_INDEX)
    with pytest.raises(PartlyEnqueuedError) as info:
        batch_producer.create_tasks([{"task": f"p{i}"} for i in range(CHUNK + 5)])
    assert info.value.written == CHUNK and len(info.value.created) == CHUNK
    assert f"the first {CHUNK} of {CHUNK + 5} tasks were enqueued" in str(info.value)
    queued = _queued(redis_client, batch_producer.settings.queue)
    assert sorted(queued) == sorted(str(c.id) for c in info.value.created)
    assert redis_client.zcard(keys.TASK_INDEX) == before + CHUNK  # no record without its message
    monkeypatch.undo()
    created = batch_producer.create_task({"task": "after"})  # the connection is clean again
    assert batch_producer.get_task(created.id).status == TaskStatus.created


def test_a_lost_answer_is_retried_without_writing_the_chunk_twice(
    batch_producer: Producer, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after Redis ran a chunk: the retry finds it written and moves on."""
    batch_producer.create_task({"task": "warm up"})
    redis_client.delete(batch_producer.settings.queue)
    original = redis.connection.AbstractConnection.read_response
    lost = [0]

    def losing(conn: Any, *args: Any, **kwargs: Any) -> Any:
        answer = original(conn, *args, **kwargs)
        if lost[0] < 2:  # the answers of the first two chunks never arrive
            lost[0] += 1
            raise redis.ConnectionError("injected: connection lost")
        return answer

    monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", losing)
    created = batch_producer.create_tasks([{"task": f"r{i}"} for i in range(CHUNK + 3)])
    monkeypatch.undo()
    assert lost == [2]
    queued = _queued(redis_client, batch_producer.settings.queue)
    assert queued[::-1] == [str(c.id) for c in created]


def test_a_failed_publish_to_another_broker_takes_every_record_back(
    settings: Any, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Broker elsewhere: records go first; a failed publish removes them, their sessions and indexes."""
    queue = f"bf-chunks-{uuid.uuid4().hex[:8]}"
    broker_url = settings.redis_url.replace("127.0.0.1", "localhost")
    producer = Producer(settings.model_copy(update={"queue": queue, "max_queued_tasks": 0,
                                                    "broker_url": broker_url}))
    owner = f"owner-{uuid.uuid4().hex[:6]}"

    def down(*args: Any, **kwargs: Any) -> None:
        raise redis.ConnectionError("injected: the broker is gone")

    monkeypatch.setattr("shared.task_queue.ListPublisher.push", down)
    before = redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)
    with pytest.raises(EnqueueError) as info:
        producer.create_tasks([{"task": f"f{i}"} for i in range(CHUNK + 2)], owner=owner)
    assert not isinstance(info.value, PartlyEnqueuedError)
    assert redis_client.llen(queue) == 0
    for name in (keys.tasks_by(owner=owner), keys.tasks_by(owner=owner, status="created"),
                 keys.sessions_by(owner=owner), keys.sessions_by(owner=owner, status="active")):
        assert redis_client.zcard(name) == 0
    assert (redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)) == before
