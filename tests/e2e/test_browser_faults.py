"""Browser faults end in a retry or an explained failure, never a hang (issue 22).

A real worker runs the tasks on real Chromium; the test kills (SIGKILL) or freezes (SIGSTOP)
the browser processes that worker launched, found under the worker's own process tree.
Every task must end: finished after a retry on a fresh browser, or failed with its reason;
none stays ``started``, the worker's slots are freed (it runs a new task afterwards), and
no broker message of a finished task lingers in Kombu's unacked store.
"""

from __future__ import annotations

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
from tests.support.fake_llm import FakeLLM, step
from tests.support.procs import browser_pids

FAULT_QUEUE = QUEUE + "-bfault"
TERMINAL = (TaskStatus.finished, TaskStatus.failed, TaskStatus.stopped)


@pytest.fixture(scope="module")
def fault_worker(llm_base: str, redis_client, tmp_path_factory) -> Iterator[WorkerProcess]:  # type: ignore[no-untyped-def]
    """A worker of four slots on its own queue, with short bounds so a frozen browser is
    noticed in seconds: browser setup 6 s, no progress 8 s."""
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": FAULT_QUEUE,
           "BROWSERFLEET_BROWSER_SETUP_TIMEOUT_S": "6", "BROWSERFLEET_STALL_TIMEOUT_S": "8",
           "BROWSERFLEET_ACTION_TIMEOUT_S": "3", "BROWSERFLEET_SCREENSHOT_TIMEOUT_S": "2"}
    proc = WorkerProcess(env, FAULT_QUEUE, tmp_path_factory.mktemp("bfault") / "worker.log", concurrency=4)
    yield proc
    for pid in browser_pids(proc.proc.pid):  # a browser a test froze must not keep the worker from stopping
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
    proc.stop()


@pytest.fixture
def fault_producer(settings):  # type: ignore[no-untyped-def]
    from producer import Producer

    return Producer(settings.model_copy(update={"queue": FAULT_QUEUE}))


def _kill_browsers(worker: WorkerProcess) -> list[int]:
    killed = []
    for pid in browser_pids(worker.proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass
    return killed


def _statuses(producer, ids: list[str]) -> dict[str, TaskStatus]:  # type: ignore[no-untyped-def]
    return {i: producer.get_task(i).status for i in ids}


def _assert_slots_free(producer, fake_llm: FakeLLM, site) -> None:  # type: ignore[no-untyped-def]
    """Four tasks at once on a four-slot worker: each finishes, so no slot is held by a dead run."""
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
    sids = [script_id(f"opening-{n}") for n in range(8)]
    for sid in sids:
        fake_llm.script(sid, [step({"done": {"text": "done after the crash"}})])
    ids = [str(fault_producer.create_task({"task": f"Open. [[script:{sid}]]", "startUrl": site.url,
                                            "vision": False}).id) for sid in sids]
    # Kill every browser the worker launches, as soon as it appears, for a few seconds: the
    # tasks are opening their contexts (or their start page) meanwhile.
    killed: list[int] = []
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:
        killed += _kill_browsers(fault_worker)
        time.sleep(0.05)
    assert killed, "no browser was killed"

    wait_until(lambda: all(s in TERMINAL for s in _statuses(fault_producer, ids).values()), 150,
               f"every task to end; now {_statuses(fault_producer, ids)}")
    for task_id in ids:
        view = fault_producer.get_task(task_id)
        print("RESULT", view.status, view.error)
        if view.status == TaskStatus.failed:
            assert "browser" in (view.error or ""), view.error
        else:
            assert view.status == TaskStatus.finished and view.output == "done after the crash", view.error
        assert redis_client.get(keys.lease(task_id)) is None
    _assert_slots_free(fault_producer, fake_llm, site)
