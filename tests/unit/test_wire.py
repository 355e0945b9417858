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
    theirs = _next_message(pubsub)
    ours = json.loads(wire.event(task_id))
    pubsub.close()
    assert _normalized(ours) == _normalized(theirs)
    fields = json.loads(base64.b64decode(ours["body"]))
    assert (fields["type"], fields["uuid"], fields["queue"]) == ("task-sent", task_id, queue)


def _next_message(pubsub: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        if message and message["type"] == "message":
            return json.loads(message["data"])
    raise AssertionError("no task-sent event was published")
