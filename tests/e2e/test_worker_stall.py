"""A hostile task cannot stall its worker: the process's other tasks go on, their leases stay.

Task A asks for ``structuredOutput`` with the pattern ``^(a+)+$`` (accepted: RE2 runs it in
linear time) and its model answers ``done`` with ``"aaaa…a!"``, which Python's ``re`` would
backtrack on for longer than anyone would wait while holding the GIL. Task B runs in the same
worker process meanwhile: its steps must keep coming and its lease must never lapse.
"""

from __future__ import annotations

import json
import threading
import time

import pytest

from shared import keys
from shared.models import TaskStatus
from tests.e2e.helpers import script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.site import Site

pytestmark = pytest.mark.usefixtures("worker")

HOSTILE_DATA = {"code": "a" * 40 + "!"}


def test_a_backtracking_pattern_does_not_stall_the_other_tasks(
    producer, fake_llm: FakeLLM, site: Site, redis_client
) -> None:
    a_sid, b_sid = script_id("stall-a"), script_id("stall-b")
    hostile_sent = threading.Event()

    def task_a(call: Call) -> str:
        if call.index == 0:
            hostile_sent.set()
            return step({"done": {"text": "here", "success": True, "data": HOSTILE_DATA}})
        return step({"done": {"text": "fixed", "success": True, "data": {"code": "aaa"}}})

    def task_b(call: Call) -> str:
        if call.index == 0:
            return step({"wait": {"seconds": 0.1}})
        if call.index == 1:
            hostile_sent.wait(60)
            time.sleep(0.2)  # A's done is being validated now
        if call.index < 6:
            return step({"wait": {"seconds": 0.1}})
        return step({"done": {"text": "B finished", "success": True}})

    b = producer.create_task({
        "task": f"Task B. {fake_llm.script(b_sid, task_b)}", "startUrl": site.url + "/login",
    })
    b_lease = keys.lease(str(b.id))
    deadline = time.monotonic() + 30
    while not redis_client.exists(b_lease) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis_client.exists(b_lease), "task B never started"

    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a+)+$"}},
              "required": ["code"]}
    a = producer.create_task({
        "task": f"Task A. {fake_llm.script(a_sid, task_a)}", "structuredOutput": json.dumps(schema),
    })
    lapses = 0
    while producer.get_task(b.id).status not in (TaskStatus.finished, TaskStatus.failed):
        lapses += 0 if redis_client.exists(b_lease) else 1
        assert time.monotonic() < deadline + 90, "task B stopped making progress"
        time.sleep(0.1)
    view_b, view_a = producer.wait(b.id, timeout=60), producer.wait(a.id, timeout=60)
    assert view_b.status == TaskStatus.finished and view_b.is_success, view_b.error
    assert lapses == 0, f"task B's lease lapsed {lapses} times"
    assert view_a.status == TaskStatus.finished and view_a.is_success, view_a.error
    assert "does not match" in view_a.steps[0].results[0], view_a.steps[0].results
    assert json.loads(view_a.output or "{}") == {"code": "aaa"}
