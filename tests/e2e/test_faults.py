"""Faults end in a retry or a clean, explained failure — never a hang."""

from __future__ import annotations

import os
import signal
import time

import pytest

from shared import keys
from shared.celery_config import RUN_TASK
from shared.models import TaskStatus
from tests.conftest import QUEUE, WorkerProcess, base_env
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.procs import alive, browser_pids, cmdline, descendants
from tests.support.workers import RUNNING_WORKERS

pytestmark = pytest.mark.usefixtures("worker")


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_killed_worker_task_is_re_enqueued_and_finishes(
    producer, fake_llm: FakeLLM, site, settings, llm_base, tmp_path, worker
) -> None:
    from producer import Producer

    doomed_queue = QUEUE + "-doomed"
    doomed = WorkerProcess({**base_env(llm_base), "BROWSERFLEET_QUEUE": doomed_queue},
                           doomed_queue, tmp_path / "doomed.log", concurrency=1)
    sid = script_id("killed")

    def script(call: Call) -> str:
        if call.index == 0:
            return step({"wait": {"seconds": 20}}, memory="first attempt")
        return step({"done": {"text": "survived"}})

    marker = fake_llm.script(sid, script)
    parked = Producer(settings.model_copy(update={"queue": doomed_queue}))
    created = parked.create_task({"task": f"Survive. {marker}", "startUrl": site.url})
    try:
        _wait(lambda: len(fake_llm.calls[sid]) >= 1, 60, "the first LLM call on the doomed worker")
        spawned = descendants(doomed.proc.pid)
        assert any("chrom" in cmdline(p) for p in spawned), "the doomed worker had no browser"
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(10)
    finally:
        doomed.stop()
    view = producer.wait(created.id, timeout=60)
    assert view.status == TaskStatus.finished and view.output == "survived", view.error
    assert int(producer.store._redis.get(keys.deliveries(str(created.id)))) == 2
    # Any live worker's reaper may have re-enqueued it (they all watch the same leases).
    assert any(f"task {created.id} lost its worker" in w.log() for w in RUNNING_WORKERS if w is not doomed)
    # No Chromium (nor Playwright driver) of the killed worker outlives it.
    _wait(lambda: not [p for p in spawned if alive(p)], 15, "the killed worker's browser to exit")


def test_a_task_past_the_redelivery_cap_fails_with_a_reason(producer, fake_llm, settings) -> None:
    sid = script_id("cap")
    marker = fake_llm.script(sid, [step({"done": {"text": "should not run"}})])
    parked = producer.__class__(settings.model_copy(update={"queue": settings.queue + "-parked"}))
    created = parked.create_task({"task": f"Cap. {marker}"})
    producer.store._redis.set(keys.deliveries(str(created.id)), settings.max_deliveries)
    producer.celery.send_task(RUN_TASK, args=[str(created.id)], task_id=str(created.id), queue=settings.queue)
    view = producer.wait(created.id, timeout=30)
    assert view.status == TaskStatus.failed
    assert "worker lost 3 times" in (view.error or "")
    assert fake_llm.calls[sid] == []


def test_crashed_browser_restarts_the_task_on_a_fresh_browser_and_the_next_task_works(
    producer, fake_llm: FakeLLM, site, worker
) -> None:
    """A browser crash is an infrastructure fault: the task is retried, not failed (more cases,
    frozen browsers and the leftovers of killed workers: tests/e2e/test_browser_faults.py)."""
    sid = script_id("crash")
    killed: list[int] = []
    marker = fake_llm.script(sid, lambda call: step({"done": {"text": "retried"}}) if killed
                             else step({"wait": {"seconds": 1}}))
    created = producer.create_task({"task": f"Crash. {marker}", "startUrl": site.url, "vision": False})
    _wait(lambda: len(fake_llm.calls[sid]) >= 1, 60, "the first LLM call")
    for pid in browser_pids(worker.proc.pid):
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)
    assert killed, "the worker had no browser"
    view = producer.wait(created.id, timeout=90)
    assert view.status == TaskStatus.finished and view.output == "retried", view.error
    assert int(producer.store._redis.get(keys.deliveries(str(created.id)))) == 2
    # The pool replaces the dead browser: the next task runs normally.
    sid2 = script_id("after-crash")
    marker2 = fake_llm.script(sid2, [step({"done": {"text": "fine again"}})])
    after = run(producer, {"task": f"After. {marker2}", "startUrl": site.url})
    assert after.status == TaskStatus.finished and after.output == "fine again", after.error


@pytest.fixture(scope="module")
def tight_worker(llm_base: str, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A worker with small budgets: a 2 s step timeout inside a 6 s task budget."""
    queue = QUEUE + "-tight"
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": queue,
           "BROWSERFLEET_STEP_TIMEOUT_S": "2", "BROWSERFLEET_TASK_BUDGET_S": "6",
           "BROWSERFLEET_LLM_TIMEOUT_S": "1.5", "BROWSERFLEET_LLM_MAX_RETRIES": "0"}
    proc = WorkerProcess(env, queue, tmp_path_factory.mktemp("tight") / "worker.log", concurrency=2)
    yield queue
    proc.stop()


def test_a_task_that_outlives_its_budget_ends_with_the_reason(
    producer, fake_llm: FakeLLM, site, settings, tight_worker: str
) -> None:
    tight = producer.__class__(settings.model_copy(update={"queue": tight_worker}))
    sid = script_id("budget")
    marker = fake_llm.script(sid, lambda call: step({"wait": {"seconds": 1}}))
    started = time.monotonic()
    view = tight.wait(tight.create_task({"task": f"Forever. {marker}", "startUrl": site.url})
                      .id, timeout=60)
    assert view.status == TaskStatus.finished and view.is_success is False
    assert "task budget of 6s exhausted" in (view.error or "")
    assert time.monotonic() - started < 30


def test_a_model_slower_than_the_step_timeout_fails_the_task_cleanly(
    producer, fake_llm: FakeLLM, settings, tight_worker: str
) -> None:
    from tests.support.fake_llm import Reply

    tight = producer.__class__(settings.model_copy(update={"queue": tight_worker}))
    sid = script_id("slow")
    marker = fake_llm.script(sid, lambda call: Reply(content=step({"done": {"text": "late"}}), delay_s=2.5))
    view = tight.wait(tight.create_task({"task": f"Slow. {marker}", "vision": False}).id, timeout=60)
    assert view.status == TaskStatus.failed
    assert "LLM openai/gpt-4.1-mini failed 1 times" in (view.error or ""), view.error
