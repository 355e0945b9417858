"""``Producer.create_tasks``: a batch is validated payload by payload and written all or none.

Also that one create is one Redis round trip writing exactly what workers read: the record,
the indexes, the one-off session, and the Celery message (whose compatibility with
``send_task`` tests/unit/test_wire.py checks).
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
import redis

from producer import Producer, QueueFullError, SessionBusyError, TaskValidationError
from producer.enqueue import RedisListPublisher
from shared import keys
from shared.models import TaskStatus
from tests.support.redis_requests import count_requests


@pytest.fixture
def bench_producer(settings: Any, redis_client: redis.Redis) -> Any:
    """A producer on a queue of its own, which no worker consumes."""
    queue = f"bf-batch-{uuid.uuid4().hex[:8]}"
    yield Producer(settings.model_copy(update={"queue": queue, "max_queued_tasks": 5}))
    redis_client.delete(queue)


def _queued_ids(redis_client: redis.Redis, queue: str) -> list[str]:
    return [json.loads(m)["headers"]["id"] for m in redis_client.lrange(queue, 0, -1)]


def test_a_valid_batch_records_and_enqueues_every_task(
    bench_producer: Any, redis_client: redis.Redis
) -> None:
    payloads = [{"task": f"task {i}", "metadata": {"n": str(i)}} for i in range(3)]
    created = bench_producer.create_tasks(payloads)
    assert len(created) == 3 and len({c.id for c in created}) == 3
    queued = _queued_ids(redis_client, bench_producer.settings.queue)
    assert sorted(queued) == sorted(str(c.id) for c in created)
    for i, item in enumerate(created):
        view = bench_producer.get_task(item.id)
        assert (view.task, view.status, view.metadata, view.session_id) == (
            f"task {i}", TaskStatus.created, {"n": str(i)}, item.session_id)
        session = bench_producer.sessions.get(item.session_id)
        assert [t.id for t in session.tasks] == [item.id]
        assert not session.keep_alive
        assert redis_client.ttl(keys.task(str(item.id))) > 0
        assert redis_client.zscore(keys.TASK_INDEX, str(item.id)) is not None


def test_a_mixed_batch_lists_each_bad_index_and_field_and_enqueues_nothing(
    bench_producer: Any, redis_client: redis.Redis
) -> None:
    before = redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)
    payloads = [
        {"task": "fine"},
        {"task": "", "maxSteps": 0},
        {"task": "fine too"},
        {"task": "x", "llm": "gpt-99"},
    ]
    with pytest.raises(TaskValidationError) as info:
        bench_producer.create_tasks(payloads)
    paths = {tuple(e["loc"]) for e in info.value.errors}
    assert {(1, "task"), (1, "maxSteps"), (3, "llm")} <= paths
    assert not any(p[0] in (0, 2) for p in paths)
    assert "1.task" in str(info.value) and "3.llm" in str(info.value)
    assert redis_client.llen(bench_producer.settings.queue) == 0
    assert (redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)) == before


def test_a_batch_over_the_queue_limit_is_refused_whole(
    bench_producer: Any, redis_client: redis.Redis
) -> None:
    bench_producer.create_tasks([{"task": "a"}, {"task": "b"}, {"task": "c"}])
    before = redis_client.zcard(keys.TASK_INDEX)
    with pytest.raises(QueueFullError):
        bench_producer.create_tasks([{"task": "d"}, {"task": "e"}, {"task": "f"}])  # 3 + 3 > 5
    assert redis_client.llen(bench_producer.settings.queue) == 3
    assert redis_client.zcard(keys.TASK_INDEX) == before
    bench_producer.create_tasks([{"task": "d"}, {"task": "e"}])  # 3 + 2 fits
    with pytest.raises(QueueFullError):
        bench_producer.create_task({"task": "g"})
    assert redis_client.llen(bench_producer.settings.queue) == 5


def test_a_session_error_in_a_batch_releases_the_sessions_it_claimed(bench_producer: Any) -> None:
    session = bench_producer.sessions.create()
    with pytest.raises(SessionBusyError):  # one session runs one task at a time
        bench_producer.create_tasks([{"task": "a", "sessionId": str(session.id)},
                                     {"task": "b", "sessionId": str(session.id)}])
    assert bench_producer.stores.sessions.load(str(session.id)).running_task is None
    created = bench_producer.create_task({"task": "c", "sessionId": str(session.id)})
    assert created.session_id == session.id
    assert bench_producer.sessions.get(session.id).tasks[0].id == created.id


def test_an_empty_batch_creates_nothing(bench_producer: Any, redis_client: redis.Redis) -> None:
    assert bench_producer.create_tasks([]) == []
    assert redis_client.llen(bench_producer.settings.queue) == 0


def test_one_create_is_one_round_trip(
    bench_producer: Any, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    bench_producer.create_task({"task": "warm up"})  # loads the script, opens the connection
    requests = count_requests(monkeypatch)
    bench_producer.create_task({"task": "counted"})
    assert requests == [1]
    bench_producer.create_tasks([{"task": "n"}] * 3)
    assert requests == [2]
    message = json.loads(redis_client.lindex(bench_producer.settings.queue, 0))
    assert json.loads(base64.b64decode(message["body"]))[0] == [message["headers"]["id"]]


def test_a_broker_on_another_redis_gets_the_messages_after_the_records(
    settings: Any, redis_client: redis.Redis
) -> None:
    """Broker URL != records URL (here the same server under another name): 3 requests, same result."""
    queue = f"bf-batch-{uuid.uuid4().hex[:8]}"
    broker_url = settings.redis_url.replace("127.0.0.1", "localhost")
    assert broker_url != settings.redis_url
    producer = Producer(settings.model_copy(update={"queue": queue, "max_queued_tasks": 3,
                                                    "broker_url": broker_url}))
    try:
        assert isinstance(producer.enqueuer.publisher, RedisListPublisher)
        created = producer.create_tasks([{"task": "a"}, {"task": "b"}])
        assert sorted(_queued_ids(redis_client, queue)) == sorted(str(c.id) for c in created)
        assert producer.get_task(created[0].id).status == TaskStatus.created
        before = redis_client.zcard(keys.TASK_INDEX)
        with pytest.raises(QueueFullError):
            producer.create_tasks([{"task": "c"}, {"task": "d"}])
        assert redis_client.zcard(keys.TASK_INDEX) == before and redis_client.llen(queue) == 2
        producer.create_task({"task": "c"})
        assert redis_client.llen(queue) == 3
    finally:
        redis_client.delete(queue)
