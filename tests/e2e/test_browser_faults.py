"""Browser faults end in a retry or an explained failure, never a hang (issue 22).

A real worker runs the tasks on real Chromium; the test kills (SIGKILL) or freezes (SIGSTOP)
the browser processes that worker launched, found under the worker's own process tree.
Every task must end: finished after a retry on a fresh browser, or failed with its reason;
none stays ``started``, the worker's slots are freed (it runs new tasks afterwards), and no
broker message of a finished task lingers in Kombu's unacked store.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator

import pytest
import redis

from shared import keys
from shared.models import TaskStatus
from tests.conftest import QUEUE, WorkerProcess, base_env
from tests.e2e.helpers import script_id, wait_until
from tests.support.fake_llm import Call, FakeLLM, Reply, step
from tests.support.procs import alive, browser_pids, cmdline, descendants

FAULT_QUEUE = QUEUE + "-bfault"
TERMINAL = (TaskStatus.finished, TaskStatus.failed, TaskStatus.stopped)


@pytest.fixture(scope="module")
def fault_worker(llm_base: str, redis_client, tmp_path_factory) -> Iterator[WorkerProcess]:  # type: ignore[no-untyped-def]
    """A worker of four slots on its own queue, with short bounds so a frozen browser is
    noticed in seconds: browser set-up 15 s (a launch included: slow on a loaded machine), no
    progress 16 s."""
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": FAULT_QUEUE,
           "BROWSERFLEET_BROWSER_SETUP_TIMEOUT_S": "15", "BROWSERFLEET_STALL_TIMEOUT_S": "16",
           "BROWSERFLEET_ACTION_TIMEOUT_S": "3", "BROWSERFLEET_SCREENSHOT_TIMEOUT_S": "2"}
    proc = WorkerProcess(env, FAULT_QUEUE, tmp_path_factory.mktemp("bfault") / "worker.log", concurrency=4)
    yield proc
    _signal_browsers(proc, signal.SIGCONT)  # a browser a test froze must not outlive the worker
    proc.stop()


@pytest.fixture
def fault_producer(settings):  # type: ignore[no-untyped-def]
    from producer import Producer

    return Producer(settings.model_copy(update={"queue": FAULT_QUEUE}))


def _signal_browsers(worker: WorkerProcess, sig: signal.Signals) -> list[int]:
    hit = []
    for pid in browser_pids(worker.proc.pid):
        try:
            os.kill(pid, sig)
            hit.append(pid)
        except ProcessLookupError:
            pass
    return hit


def _statuses(producer, ids: list[str]) -> dict[str, TaskStatus]:  # type: ignore[no-untyped-def]
    return {i: producer.get_task(i).status for i in ids}


def _deliveries(redis_client: redis.Redis, task_id: str) -> int:
    return int(redis_client.get(keys.deliveries(task_id)) or 0)


def _assert_slots_free(producer, fake_llm: FakeLLM, site) -> None:  # type: ignore[no-untyped-def]
    """Four tasks at once on the four-slot worker all finish: no slot is held by a dead run."""
    ids = []
    for n in range(4):
        marker = fake_llm.script(script_id(f"after-{n}"), [step({"done": {"text": f"after {n}"}})])
        ids.append(str(producer.create_task({"task": f"After. {marker}", "startUrl": site.url}).id))
    for n, task_id in enumerate(ids):
        view = producer.wait(task_id, timeout=90)
        assert view.status == TaskStatus.finished and view.output == f"after {n}", view.error


def test_browser_killed_while_tasks_open_their_contexts_every_task_ends(
    fault_worker: WorkerProcess, fault_producer, fake_llm: FakeLLM, site, redis_client: redis.Redis
) -> None:
    """The issue's reproduction: before the fix, 1-3 of these 32 tasks stayed ``started`` for good
    (a new page on a browser killed under it never answered)."""
    ids: list[str] = []
    killed: list[int] = []
    for round_, delay in enumerate((0.15, 0.45, 0.9, 1.5)):
        batch = []
        for n in range(8):
            marker = fake_llm.script(script_id(f"opening-{round_}-{n}"),
                                     [step({"wait": {"seconds": 0.2}}), step({"done": {"text": "done"}})])
            batch.append(str(fault_producer.create_task({"task": f"Open. {marker}", "startUrl": site.url,
                                                          "vision": False}).id))
        time.sleep(delay)  # the batch is opening its contexts and start pages
        killed += _signal_browsers(fault_worker, signal.SIGKILL)
        wait_until(lambda b=batch: all(s in TERMINAL for s in _statuses(fault_producer, b).values()), 90,  # type: ignore[misc]
                   f"every task of round {round_} to end; now {_statuses(fault_producer, batch)}")
        ids += batch
    assert killed, "no browser was killed"
    retried = 0
    for task_id in ids:
        view = fault_producer.get_task(task_id)
        assert view.status == TaskStatus.finished and view.output == "done", view.error
        assert redis_client.get(keys.lease(task_id)) is None
        assert redis_client.zscore(keys.RUNNING, task_id) is None
        retried += _deliveries(redis_client, task_id) > 1
    assert retried, "no task was caught by a browser kill"
    _assert_slots_free(fault_producer, fake_llm, site)


def test_browser_killed_mid_step_the_tasks_on_it_are_retried_on_a_fresh_browser(
    fault_worker: WorkerProcess, fault_producer, fake_llm: FakeLLM, site, redis_client: redis.Redis
) -> None:
    victim, bystander = script_id("victim"), script_id("bystander")
    first_pids: list[int] = []

    def victim_script(call: Call) -> str:
        if call.index == 0:
            return step({"wait": {"seconds": 0.1}}, memory="first run")
        if call.index == 1:  # the browser dies while this step's answer travels back
            wait_until(lambda: len(fake_llm.calls[bystander]) >= 1, 30, "the bystander's first step")
            first_pids.extend(_signal_browsers(fault_worker, signal.SIGKILL))
            return step({"click": {"index": 1}}, memory="first run")
        return step({"done": {"text": "bought after the crash"}}, memory="second run")

    def bystander_script(call: Call) -> Reply:
        if not first_pids:  # first run: a slow step, under way when the browser dies
            return Reply(content=step({"wait": {"seconds": 0.1}}, memory="first run"), delay_s=1.0)
        return Reply(content=step({"done": {"text": "unharmed"}}, memory="second run"))

    fake_llm.script(victim, victim_script)
    fake_llm.script(bystander, bystander_script)
    v = fault_producer.create_task({"task": f"Victim. [[script:{victim}]]", "startUrl": site.url,
                                    "vision": False})
    b = fault_producer.create_task({"task": f"Bystander. [[script:{bystander}]]", "startUrl": site.url,
                                    "vision": False})
    view_v, view_b = fault_producer.wait(v.id, timeout=120), fault_producer.wait(b.id, timeout=120)
    assert first_pids, "the browser was never killed"
    assert view_v.status == TaskStatus.finished and view_v.output == "bought after the crash", view_v.error
    assert [s.memory for s in view_v.steps] == ["second run"]  # the new run's steps only
    assert view_b.status == TaskStatus.finished and view_b.output == "unharmed", view_b.error
    assert _deliveries(redis_client, str(v.id)) == 2 and _deliveries(redis_client, str(b.id)) == 2
    log = fault_worker.log()
    assert f"task {v.id}: " in log and "retrying it on a fresh browser (delivery 2 of 3)" in log
    # A fresh browser: the pool launched a new process; the killed one is gone.
    wait_until(lambda: not any(alive(p) for p in first_pids), 15, "the killed browser to be reaped")
    assert set(browser_pids(fault_worker.proc.pid)) - set(first_pids)


def test_a_task_that_crashes_its_browser_every_time_fails_with_the_reason(
    fault_worker: WorkerProcess, fault_producer, fake_llm: FakeLLM, site, redis_client: redis.Redis
) -> None:
    sid = script_id("crasher")

    def script(call: Call) -> str:  # each run's first step takes the browser down with it
        _signal_browsers(fault_worker, signal.SIGKILL)
        return step({"click": {"index": 1}})

    marker = fake_llm.script(sid, script)
    created = fault_producer.create_task({"task": f"Crash. {marker}", "startUrl": site.url, "vision": False})
    view = fault_producer.wait(created.id, timeout=120)
    assert view.status == TaskStatus.failed
    assert "the task's browser crashed twice" in (view.error or "")
    assert "likely cause" in (view.error or "")
    assert len(fake_llm.calls[sid]) == 2 and _deliveries(redis_client, str(created.id)) == 2
    _assert_slots_free(fault_producer, fake_llm, site)


def test_a_frozen_browser_is_noticed_by_the_watchdog_and_the_task_retried(
    fault_worker: WorkerProcess, fault_producer, fake_llm: FakeLLM, site, redis_client: redis.Redis
) -> None:
    """SIGSTOP the browser mid-run: the next page capture never returns (no Playwright timeout
    covers it). The watchdog ends the run after 16 s without progress; the retry runs on a fresh
    browser; the frozen one is retired and killed once it will not close."""
    sid = script_id("frozen")
    frozen: list[int] = []

    def script(call: Call) -> str:
        if call.index == 0:
            frozen.extend(_signal_browsers(fault_worker, signal.SIGSTOP))
            return step({"wait": {"seconds": 0.1}}, memory="first run")
        return step({"done": {"text": "thawed elsewhere"}}, memory="second run")

    marker = fake_llm.script(sid, script)
    created = fault_producer.create_task({"task": f"Freeze. {marker}", "startUrl": site.url, "vision": False})
    try:
        view = fault_producer.wait(created.id, timeout=120)
    finally:
        for pid in frozen:
            if alive(pid):
                os.kill(pid, signal.SIGCONT)
    assert frozen, "no browser was frozen"
    assert view.status == TaskStatus.finished and view.output == "thawed elsewhere", view.error
    assert [s.memory for s in view.steps] == ["second run"]
    assert _deliveries(redis_client, str(created.id)) == 2
    log = fault_worker.log_once("did not answer")
    assert f"task {created.id} made no progress for" in log, log[-3000:]
    assert "retrying it on a fresh browser" in log
    wait_until(lambda: not any(alive(p) for p in frozen), 40, "the frozen browser to be killed")


def _unacked_of(redis_client: redis.Redis, task_id: str) -> list[str]:
    """Kombu's unacked entries (delivery tags) whose message is a run of ``task_id``."""
    found = []
    for tag, raw in redis_client.hgetall("unacked").items():
        message = json.loads(raw)[0]
        if message.get("headers", {}).get("id") == task_id:
            found.append(tag)
    return found


def test_a_killed_workers_leftover_message_is_removed_when_the_rerun_ends(
    fault_worker: WorkerProcess, fault_producer, fake_llm: FakeLLM, site, settings, llm_base, tmp_path,
    redis_client: redis.Redis,
) -> None:
    from producer import Producer

    doomed_queue = QUEUE + "-leftover"
    doomed = WorkerProcess({**base_env(llm_base), "BROWSERFLEET_QUEUE": doomed_queue},
                           doomed_queue, tmp_path / "doomed.log", concurrency=1)
    sid = script_id("leftover")

    def script(call: Call) -> str:
        if call.index == 0:
            return step({"wait": {"seconds": 30}}, memory="first run")
        return step({"done": {"text": "re-run"}}, memory="second run")

    marker = fake_llm.script(sid, script)
    created = Producer(settings.model_copy(update={"queue": doomed_queue})).create_task(
        {"task": f"Leftover. {marker}", "startUrl": site.url, "vision": False})
    task_id = str(created.id)
    try:
        wait_until(lambda: len(fake_llm.calls[sid]) >= 1, 60, "the doomed worker's first model call")
        spawned = descendants(doomed.proc.pid)
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(10)
    finally:
        doomed.stop()
    # The killed worker never acked: its message waits in Kombu's unacked store (the bug's leftover).
    leftover = _unacked_of(redis_client, task_id)
    assert leftover, "the killed worker's message is not in the unacked store"
    assert all(redis_client.zscore("unacked_index", t) is not None for t in leftover)
    view = fault_producer.wait(task_id, timeout=90)  # a live worker's reaper re-enqueues it
    assert view.status == TaskStatus.finished and view.output == "re-run", view.error
    wait_until(lambda: not _unacked_of(redis_client, task_id), 15, "the leftover message to be removed")
    assert not [t for t in leftover if redis_client.zscore("unacked_index", t) is not None]
    wait_until(lambda: not [p for p in spawned if alive(p) and "chrom" in cmdline(p)], 15,
               "the killed worker's browser to exit")
