"""A running task hears of a stop and of its deletion before its next action, by pub/sub.

The worker no longer polls Redis before every action: the producer's stop request and a
deletion are signalled on the task's control channel (``shared.control``) and the run checks
its memory. These tests make the model answer with a purchase *after* the signal, and the
loopback page records purchases server-side: none may happen.
"""

from __future__ import annotations

import pytest

from shared.models import TaskStatus
from tests.e2e.helpers import SHOP, script_id, wait_until
from tests.support.fake_llm import Call, FakeLLM, Reply, step

pytestmark = pytest.mark.usefixtures("worker")

def _shop(site, fake_llm: FakeLLM, name: str) -> tuple[str, str, str]:  # type: ignore[no-untyped-def]
    """A shop page, and a model that answers "buy" 2 s after it is asked (the signal comes first)."""
    sid = script_id(name)
    buy = f"/buy-{sid}"
    site.pages[f"/shop-{sid}"] = SHOP.format(buy=buy)

    def script(call: Call) -> Reply:
        return Reply(content=step({"click": {"index": call.index_of(r"<button.*Buy")}}), delay_s=2.0)

    return sid, buy, f"Buy the item. {fake_llm.script(sid, script)}"


def test_a_stop_requested_while_the_model_thinks_prevents_the_next_action(
    producer, fake_llm: FakeLLM, site, worker
) -> None:
    sid, buy, task = _shop(site, fake_llm, "stop-signal")
    created = producer.create_task({"task": task, "startUrl": f"{site.url}/shop-{sid}", "vision": False})
    wait_until(lambda: len(fake_llm.calls[sid]) >= 1, 60, "the model call")
    producer.stop(created.id)
    view = producer.wait(created.id, timeout=30)
    assert view.status == TaskStatus.stopped, view.error
    assert [path for path, _ in site.forms if path == buy] == []


def test_deleting_the_session_of_a_running_task_stops_it_before_its_next_action(
    producer, fake_llm: FakeLLM, site, worker
) -> None:
    sid, buy, task = _shop(site, fake_llm, "gone-signal")
    session = producer.sessions.create()
    created = producer.create_task({"task": task, "startUrl": f"{site.url}/shop-{sid}", "vision": False,
                                    "sessionId": str(session.id)})
    wait_until(lambda: len(fake_llm.calls[sid]) >= 1, 60, "the model call")
    producer.sessions.delete(session.id)
    log = worker.log_once(f"{created.id}] succeeded", timeout=30)  # Celery's line: the run is over
    assert f"{created.id}] succeeded" in log
    assert [path for path, _ in site.forms if path == buy] == []
    assert f"task {created.id} stopped: its record was deleted" in log
    assert producer.store.load(str(created.id)) is None  # and the run wrote nothing back
    assert producer.store.steps(str(created.id), 0) == []
