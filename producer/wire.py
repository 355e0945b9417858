"""Celery's wire messages for the Redis broker, built without Celery's per-message machinery.

Why: ``Celery.send_task`` spends ~0.5 ms of Python per message (routing, signals, a
result-backend subscription, kombu's channel) and needs its own round trips, which made
the producer's create cost more than the Redis writes it exists for. The messages for
``browserfleet.run_task`` never vary except for the task id, so the producer builds them
here, byte-compatible with what ``send_task`` would publish (Celery task protocol 2 in
kombu's Redis envelope; ``tests/unit/test_wire.py`` compares both field by field), and
``shared.task_queue`` pushes them in the same Lua script that writes the task records: one
request per create (or per chunk of a batch), and no task record without its message or
message without its record.

What a push does, exactly as kombu's Redis transport does it: ``LPUSH`` of the envelopes
onto the queue's list (priority 0; workers ``BRPOP`` it), and, when
``task_send_sent_event`` is on, ``PUBLISH`` of the ``task-sent`` events, which is what
Flower shows for queued tasks: one event on ``/{db}.celeryev/task.sent`` for a single task;
for a chunk of a batch one ``task.multi`` message carrying the list of its events, as
Celery's own dispatcher sends a buffered event group (Flower unpacks it into one event
per task, so it shows the same thing).
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from celery.utils.time import utcoffset

from shared.ids import new_id, new_ids

# The embed part of a protocol-2 body for a task with no callbacks, chain or chord.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
# Placeholders in the JSON templates (characters json.dumps leaves as they are).
_ID, _TAG, _BODY, _CLOCK, _TIME = "@@id@@", "@@tag@@", "@@body@@", "-987654321", "-123456789.5"
# The body is base64 of ``[["<id>"], {}, <embed>]``. For a UUID, ``[["`` plus the 36-character id
# are 39 bytes, a whole number of base64 groups: the body is their base64 and a constant tail.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_TAIL = base64.b64encode(json.dumps([["-" * 36], {}, _EMBED]).encode()[39:]).decode()


def _body(task_id: str) -> str:
    """The base64 body of ``run_task(task_id)``: two concatenated parts for a UUID (~4x cheaper)."""
    if _UUID.fullmatch(task_id):
        return base64.b64encode(b'[["' + task_id.encode()).decode() + _TAIL
    return base64.b64encode(json.dumps([[task_id], {}, _EMBED]).encode()).decode()


@dataclass
class WireFormat:
    """Builds the broker envelope and the ``task-sent`` event of one task.

    Both are JSON templates rendered once; a task only substitutes its id, a delivery tag,
    its base64 body (and, for the event, the Lamport clock and time): ~10 µs instead of
    the ~50 µs of building and encoding the nested dicts per task.
    """

    app: Celery
    task_name: str
    queue: str
    events_db: int
    sent_event: bool = True
    origin: str = field(default_factory=lambda: f"gen{os.getpid()}@{socket.gethostname()}")

    def __post_init__(self) -> None:
        self._message = json.dumps(self._message_fields())
        self._event_fields = json.dumps(self._event_body())
        self._event = json.dumps(self._event_envelope())
        self._multi = json.dumps(self._event_envelope("task.multi"))

    @property
    def event_channel(self) -> str:
        """The PUB/SUB channel of ``task-sent`` events (kombu's fanout topic for Redis)."""
        return f"/{self.events_db}.celeryev/task.sent"

    def message(self, task_id: str, tag: str | None = None) -> str:
        """The JSON envelope ``send_task(task_name, args=[task_id], task_id=task_id)`` pushes.

        ``tag``: its delivery tag (a random UUID, as kombu makes; drawn here when not given).
        """
        return (self._message.replace(_ID, task_id).replace(_BODY, _body(task_id))
                .replace(_TAG, tag or new_id()))

    def messages(self, task_ids: Sequence[str]) -> list[str]:
        """The messages of many tasks (their delivery tags drawn at once)."""
        return [self.message(t, tag) for t, tag in zip(task_ids, new_ids(len(task_ids)), strict=True)]

    def event(self, task_id: str) -> str:
        """The ``task-sent`` event envelope ('' when sent events are off)."""
        if not self.sent_event:
            return ""
        body = base64.b64encode(self._event_body_of(task_id).encode()).decode()
        return self._event.replace(_BODY, body).replace(_TAG, new_id())

    def sent_events(self, task_ids: Sequence[str]) -> tuple[str, str]:
        """The channel and envelope announcing these tasks as sent: one PUBLISH for a whole chunk.

        One task: the ``task.sent`` event above. More: what Celery's own event dispatcher
        publishes when it buffers the ``task`` group, one ``task.multi`` message whose body
        is the list of ``task-sent`` events; Celery's event receiver (Flower's) unpacks the
        list, so Flower shows each task as sent, exactly as with one event per task.
        """
        if not self.sent_event or not task_ids:
            return "", ""
        if len(task_ids) == 1:
            return self.event_channel, self.event(task_ids[0])
        fields = "[" + ", ".join(self._event_body_of(t) for t in task_ids) + "]"
        body = base64.b64encode(fields.encode()).decode()
        return self.multi_channel, self._multi.replace(_BODY, body).replace(_TAG, new_id())

    @property
    def multi_channel(self) -> str:
        """The PUB/SUB channel of batched ``task-sent`` events (``task.multi``)."""
        return f"/{self.events_db}.celeryev/task.multi"

    def _event_body_of(self, task_id: str) -> str:
        return (self._event_fields.replace(_ID, task_id)
                .replace(_CLOCK, str(self.app.clock.forward()), 1)
                .replace(_TIME, repr(time.time()), 1))

    def _message_fields(self) -> dict[str, Any]:
        argsrepr = f"('{_ID}',)"
        return {
            "body": _BODY,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "py",
                "task": self.task_name,
                "id": _ID,
                "shadow": None,
                "eta": None,
                "expires": None,
                "group": None,
                "group_index": None,
                "retries": 0,
                "timelimit": [None, None],
                "root_id": _ID,
                "parent_id": None,
                "argsrepr": argsrepr,
                "kwargsrepr": "{}",
                "origin": self.origin,
                "ignore_result": None,
                "replaced_task_nesting": 0,
                "stamped_headers": None,
                "stamps": {},
            },
            "properties": {
                "correlation_id": _ID,
                "reply_to": self.app.thread_oid,  # the creating thread's; only an RPC backend reads it
                "argsrepr": argsrepr,
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": self.queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": _TAG,
            },
        }

    def _event_body(self) -> dict[str, Any]:
        return {
            "hostname": self.origin,
            "utcoffset": utcoffset(),
            "pid": os.getpid(),
            "clock": int(_CLOCK),
            "uuid": _ID,
            "root_id": _ID,
            "parent_id": None,
            "name": self.task_name,
            "args": f"('{_ID}',)",
            "kwargs": "{}",
            "retries": 0,
            "eta": None,
            "expires": None,
            "queue": self.queue,
            "exchange": "",
            "routing_key": self.queue,
            "timestamp": float(_TIME),
            "type": "task-sent",
        }

    def _event_envelope(self, routing_key: str = "task.sent") -> dict[str, Any]:
        return {
            "body": _BODY,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"hostname": self.origin},
            "properties": {
                "delivery_mode": 1,
                "delivery_info": {"exchange": "celeryev", "routing_key": routing_key},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": _TAG,
            },
        }
