"""The core pipeline end to end: producer → Redis → Celery worker → Chromium → results."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from typing import Any

import pytest
from celery import Celery

from shared.celery_config import RUN_TASK, celery_config
from shared.models import TaskStatus
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, Reply, step
from tests.support.site import PASSWORD, Site

pytestmark = pytest.mark.usefixtures("worker")

ORDER_SCHEMA = {
    "type": "object",
    "properties": {"order_number": {"type": "integer"}, "summary": {"type": "string"}},
    "required": ["order_number", "summary"],
    "additionalProperties": False,
}


def order_script(call: Call) -> str:
    """Log in, fill the order form, read the confirmation: decided from the page state."""
    if "title: Login" in call.user:
        return step(
            {"input": {"index": call.index_of("placeholder=Username"), "text": "ada"}},
            {"input": {"index": call.index_of("placeholder=Password"), "text": "<secret>password</secret>"}},
            {"click": {"index": call.index_of("Log in")}},
            memory="on the login page",
            goal="log in",
        )
    if "title: Order" in call.user:
        return step(
            {"input": {"index": call.index_of("placeholder=Item"), "text": "widget"}},
            {"input": {"index": call.index_of("placeholder=Quantity"), "text": "3"}},
            {"select_dropdown": {"index": call.index_of("<select"), "text": "Green"}},
            {"click": {"index": call.index_of("Place order")}},
            memory="logged in",
            goal="place the order",
        )
    if "title: Confirmed" in call.user:
        summary = next(line for line in call.user.splitlines() if line.startswith("Order #"))
        return step({"done": {"success": True, "data": {"order_number": 1042, "summary": summary}}})
    raise AssertionError(f"unexpected state: {call.user[-2000:]}")


def test_multi_step_form_task_with_structured_output(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("order")
    marker = fake_llm.script(sid, order_script)
    view = run(producer, {
        "task": f"Log in as ada and order 3 green widgets. {marker}",
        "startUrl": site.url + "/login",
        "structuredOutput": json.dumps(ORDER_SCHEMA),
        "secrets": {"password": PASSWORD},
        "metadata": {"customer": "acme", "run": "7"},
    })
    assert view.status == TaskStatus.finished, view.error
    assert view.is_success is True
    assert json.loads(view.output or "") == {
        "order_number": 1042,
        "summary": "Order #1042: 3 x widget in Green.",
    }
    assert [s.number for s in view.steps] == [1, 2, 3]
    assert view.steps[0].url.endswith("/login") and view.steps[1].url.endswith("/order")
    first_actions = [json.loads(a) for a in view.steps[0].actions]
    assert [next(iter(a)) for a in first_actions] == ["input", "input", "click"]
    assert first_actions[1]["input"]["text"] == "<secret>password</secret>"
    assert ("POST", "/login", site.url.split("//")[1]) in site.log
    assert any(entry[:2] == ("POST", "/order") for entry in site.log)
    assert view.metadata == {"customer": "acme", "run": "7"}
    assert view.cost is not None and view.cost > 0
    assert view.steps[0].input_tokens and view.steps[0].input_tokens > 0
    # The model only ever saw the placeholder.
    for call in fake_llm.calls[sid]:
        assert PASSWORD not in json.dumps(call.body)
    assert "<secret>password</secret>" in fake_llm.calls[sid][0].user


def test_start_url_is_open_before_the_first_llm_call(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("start")
    marker = fake_llm.script(sid, [step({"done": {"text": "seen", "success": True}})])
    view = run(producer, {"task": f"Look. {marker}", "startUrl": site.url + "/login"})
    assert view.status == TaskStatus.finished and view.output == "seen"
    first = fake_llm.calls[sid][0].user
    assert f"url: {site.url}/login" in first and "title: Login" in first
    assert "placeholder=Password" in first


def test_max_steps_exhaustion_ends_finished_unsuccessful(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("maxsteps")
    marker = fake_llm.script(sid, lambda call: step({"scroll": {"down": True, "pages": 1}}))
    view = run(producer, {"task": f"Scroll forever. {marker}", "startUrl": site.url, "maxSteps": 2})
    assert view.status == TaskStatus.finished
    assert view.is_success is False
    assert "maxSteps=2" in (view.error or "")
    calls = fake_llm.calls[sid]
    # Step 1 may scroll; on step 2 (the last) only `done` is offered and scroll is refused.
    assert "- scroll{" in calls[0].system
    last_step_calls = [c for c in calls if "step 2 of 2" in c.user]
    assert last_step_calls
    assert all("- scroll{" not in c.system and "- done{" in c.system for c in last_step_calls)
    assert "LAST STEP" in last_step_calls[0].user
    assert "not allowed action 'scroll'" in view.steps[-1].results[0]


def test_garbage_output_is_fed_back_then_fails_the_task(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("garbage")
    marker = fake_llm.script(sid, lambda call: "I am not JSON at all")
    view = run(producer, {"task": f"Anything. {marker}", "startUrl": site.url})
    assert view.status == TaskStatus.failed
    assert "consecutive failed steps" in (view.error or "")
    assert "invalid model output" in (view.error or "")
    calls = fake_llm.calls[sid]
    assert len(calls) == 6  # 3 steps (the default failure cap) x (ask + one correction)
    assert "Invalid reply" in json.dumps(calls[1].messages[-1])
    assert len(view.steps) == 3 and all(s.actions == [] for s in view.steps)


def test_llm_server_errors_are_retried_then_recovered(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("flaky")
    marker = fake_llm.script(sid, [Reply(status=500), Reply(status=429), step({"done": {"text": "ok"}})])
    view = run(producer, {"task": f"Flaky. {marker}"})
    assert view.status == TaskStatus.finished and view.output == "ok", view.error
    assert len(fake_llm.calls[sid]) == 3


def test_llm_down_fails_with_a_reason(producer, fake_llm: FakeLLM) -> None:
    sid = script_id("down")
    marker = fake_llm.script(sid, lambda call: Reply(status=503))
    view = run(producer, {"task": f"Down. {marker}"})
    assert view.status == TaskStatus.failed
    assert "failed 3 times" in (view.error or "")  # 1 try + 2 retries (test setting)


def test_stop_is_honoured_before_the_next_llm_call(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("stop")
    marker = fake_llm.script(sid, lambda call: Reply(content=step({"wait": {"seconds": 0.2}}), delay_s=0.3))
    created = producer.create_task({"task": f"Wait. {marker}", "startUrl": site.url})
    deadline = time.monotonic() + 60
    while not producer.get_task(created.id).steps:
        assert time.monotonic() < deadline, "no step recorded"
        time.sleep(0.1)
    producer.stop(created.id)
    view = producer.wait(created.id, timeout=30)
    assert view.status == TaskStatus.stopped
    calls_at_stop = len(fake_llm.calls[sid])
    time.sleep(1)
    assert len(fake_llm.calls[sid]) == calls_at_stop


def _wait_for_log(worker, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in worker.log():
        assert time.monotonic() < deadline, f"{text!r} not in worker log"
        time.sleep(0.1)


def test_stopped_or_finished_tasks_never_run_again(producer, fake_llm: FakeLLM, settings, worker) -> None:
    """A stop before start wins, and a redelivered terminal task is not run twice."""
    from producer import Producer

    sid = script_id("prestop")
    marker = fake_llm.script(sid, [step({"done": {"text": "ran"}})])
    parked = Producer(settings.model_copy(update={"queue": settings.queue + "-parked"}))
    created = parked.create_task({"task": f"Never. {marker}"})
    assert parked.stop(created.id).status == TaskStatus.stopped
    # Deliver it to the real worker anyway: it must see the record and not run.
    producer.celery.send_task(RUN_TASK, args=[str(created.id)], task_id=str(created.id), queue=settings.queue)
    result = producer.celery.AsyncResult(str(created.id)).get(timeout=30)
    assert result["status"] == "stopped"
    _wait_for_log(worker, f"task {created.id} already stopped; not run again")
    assert fake_llm.calls[sid] == []

    sid2 = script_id("once")
    marker2 = fake_llm.script(sid2, [step({"done": {"text": "ran once"}})])
    view = run(producer, {"task": f"Once. {marker2}"})
    assert view.status == TaskStatus.finished and len(fake_llm.calls[sid2]) == 1
    redelivered = producer.celery.send_task(
        RUN_TASK, args=[str(view.id)], task_id=str(view.id), queue=settings.queue
    )
    assert redelivered.get(timeout=30)["output"] == "ran once"
    _wait_for_log(worker, f"task {view.id} already finished; not run again")
    assert len(fake_llm.calls[sid2]) == 1
    assert producer.get_task(view.id).finished_at == view.finished_at


def test_progress_events_reach_the_event_stream(producer, fake_llm: FakeLLM, site: Site, settings) -> None:
    app = Celery("events-test")
    app.conf.update(celery_config(settings))
    events: list[dict[str, Any]] = []
    ready = threading.Event()

    def listen() -> None:
        with app.connection() as conn:
            receiver = app.events.Receiver(conn, handlers={"task-progress": events.append})
            ready.set()
            with contextlib.suppress(Exception):  # the capture ends by timing out
                receiver.capture(limit=None, timeout=20, wakeup=False)

    thread = threading.Thread(target=listen, daemon=True)
    thread.start()
    ready.wait(5)
    time.sleep(0.5)
    sid = script_id("events")
    marker = fake_llm.script(sid, [
        step({"scroll": {"down": True}}, goal="look around"),
        step({"done": {"text": "done"}}),
    ])
    view = run(producer, {"task": f"Events. {marker}", "startUrl": site.url})
    assert view.status == TaskStatus.finished
    deadline = time.monotonic() + 10
    while len([e for e in events if e.get("uuid") == str(view.id)]) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    mine = [e for e in events if e.get("uuid") == str(view.id)]
    assert [e["step"] for e in mine] == [1, 2]
    assert mine[0]["next_goal"] == "look around"


def test_one_worker_process_runs_tasks_concurrently_on_one_browser(
    producer, fake_llm: FakeLLM, site: Site, worker
) -> None:
    """The thread pool feeds one event loop: tasks overlap in time and share one Chromium."""
    from tests.support.procs import browser_pids

    def slow(call: Call) -> Reply:
        action = {"done": {"text": "ok"}} if call.index >= 2 else {"scroll": {"down": True}}
        return Reply(content=step(action), delay_s=0.7)

    created = []
    for i in range(4):
        marker = fake_llm.script(script_id(f"conc{i}"), slow)
        created.append(producer.create_task({"task": f"Overlap {i}. {marker}", "startUrl": site.url}))
    views = [producer.wait(c.id, timeout=90) for c in created]
    assert all(v.status == TaskStatus.finished and v.output == "ok" for v in views), [v.error for v in views]
    latest_start = max(v.started_at for v in views if v.started_at)
    earliest_end = min(v.finished_at for v in views if v.finished_at)
    assert latest_start < earliest_end  # all four were running at the same moment
    # ... sharing a browser (a context each): one, or two while the session's worker recycles
    # one after its quota (the old browser lives until its spare contexts are used).
    assert len(browser_pids(worker.proc.pid)) <= 2
