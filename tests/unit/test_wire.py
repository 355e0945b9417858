"""The producer's hand-built Celery messages are what ``send_task`` itself would publish.

The producer pushes ``browserfleet.run_task`` messages from a Lua script instead of through
kombu (see producer/wire.py); if a Celery or kombu upgrade changes the envelope, this test
says which field.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import redis

from producer.wire import WireFormat
from shared.celery_config import RUN_TASK

# Per-message values: ids, delivery tags, the event's clock and time.
_VARYING = {
    "id", "root_id", "correlation_id", "delivery_tag", "argsrepr", "args", "uuid", "clock", "timestamp",
}


def _normalized(envelope: dict[str, Any]) -> dict[str, Any]:
    """The envelope with its base64 body decoded and per-message values blanked."""
    out = dict(envelope)
    out["body"] = json.loads(base64.b64decode(envelope["body"]))

    def blank(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ("*" if k in _VARYING else blank(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [blank(v) for v in value]
        return value

    return blank(out)


def _wire(producer: Any, queue: str) -> WireFormat:
    return WireFormat(producer.celery, RUN_TASK, queue, events_db=_db(producer), sent_event=True)


def _db(producer: Any) -> int:
    return int(producer.store._redis.connection_pool.connection_kwargs.get("db", 0))


def test_task_message_matches_send_task(producer, redis_client: redis.Redis) -> None:
    queue = f"bf-wire-{uuid.uuid4().hex[:8]}"
    task_id = str(uuid.uuid4())
    producer.celery.send_task(RUN_TASK, args=[task_id], task_id=task_id, queue=queue,
                              argsrepr=f"('{task_id}',)")
    theirs = json.loads(redis_client.rpop(queue))
    ours = json.loads(_wire(producer, queue).message(task_id))
    assert _normalized(ours) == _normalized(theirs)
    assert ours["headers"]["id"] == ours["properties"]["correlation_id"] == task_id
    assert json.loads(base64.b64decode(ours["body"]))[0] == [task_id]
    assert ours["properties"]["delivery_info"] == {"exchange": "", "routing_key": queue}


def test_sent_event_matches_celerys(producer, redis_client: redis.Redis) -> None:
    queue = f"bf-wire-{uuid.uuid4().hex[:8]}"
    wire = _wire(producer, queue)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(wire.event_channel)
    pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    task_id = str(uuid.uuid4())
    producer.celery.send_task(RUN_TASK, args=[task_id], task_id=task_id, queue=queue,
                              argsrepr=f"('{task_id}',)")
    redis_client.delete(queue)
    theirs = _next_message(pubsub, task_id)
    ours = json.loads(wire.event(task_id))
    pubsub.close()
    assert _normalized(ours) == _normalized(theirs)
    fields = json.loads(base64.b64decode(ours["body"]))
    assert (fields["type"], fields["uuid"], fields["queue"]) == ("task-sent", task_id, queue)


def _next_message(pubsub: Any, task_id: str) -> dict[str, Any]:
    """The next event about ``task_id`` (other processes of the run publish on the same channel)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            envelope = json.loads(message["data"])
            if task_id in base64.b64decode(envelope["body"]).decode():
                return dict(envelope)
    raise AssertionError("no task-sent event was published")


def test_batched_sent_events_match_celerys_buffered_ones(producer, redis_client: redis.Redis) -> None:
    """A chunk's events are one ``task.multi`` message, as Celery's dispatcher sends a buffered group."""
    queue = f"bf-wire-{uuid.uuid4().hex[:8]}"
    wire = _wire(producer, queue)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(wire.multi_channel)
    pubsub.get_message(timeout=1.0)
    ids = [str(uuid.uuid4()) for _ in range(2)]
    with producer.celery.connection_for_write() as conn:
        dispatcher = producer.celery.events.Dispatcher(conn, hostname=wire.origin, buffer_group=["task"],
                                                       buffer_limit=10)
        for task_id in ids:
            dispatcher.send("task-sent", uuid=task_id, root_id=task_id, parent_id=None, name=RUN_TASK,
                            args=f"('{task_id}',)", kwargs="{}", retries=0, eta=None, expires=None,
                            queue=queue, exchange="", routing_key=queue)
        dispatcher.flush()
        dispatcher.close()
    theirs = _next_message(pubsub, ids[0])
    channel, envelope = wire.sent_events(ids)
    pubsub.close()
    ours = json.loads(envelope)
    assert channel == wire.multi_channel
    assert _normalized(ours) == _normalized(theirs)
    events = json.loads(base64.b64decode(ours["body"]))
    assert [(e["type"], e["uuid"], e["queue"]) for e in events] == [("task-sent", i, queue) for i in ids]


def test_celerys_event_receiver_reads_a_batch_as_one_event_per_task(producer) -> None:
    """What Flower runs: Celery's receiver turns a ``task.multi`` body into one ``task-sent`` each.

    (The transport part, PSUBSCRIBE on ``/{db}.celeryev/*``, is kombu's and the same for both
    channels; the test above shows the message is the one Celery's dispatcher publishes.)
    """
    wire = _wire(producer, f"bf-wire-{uuid.uuid4().hex[:8]}")
    ids = [str(uuid.uuid4()) for _ in range(3)]
    _, envelope = wire.sent_events(ids)
    body = json.loads(base64.b64decode(json.loads(envelope)["body"]))
    seen: list[str] = []
    with producer.celery.connection_for_read() as conn:
        handlers = {"task-sent": lambda event: seen.append(event["uuid"])}
        producer.celery.events.Receiver(conn, handlers=handlers)._receive(body, None)
    assert seen == ids
