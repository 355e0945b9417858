"""A slow screenshot is not a dead browser: the step goes on without the image, and says so.

The stall is real: the worker's Chromium GPU process (its compositor) is SIGSTOPped, so the
page still answers scripts (the element list is read) but renders no frame, and every
screenshot times out, as on a machine whose cores another browser workload took.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import QUEUE, WorkerProcess, base_env
from tests.e2e.helpers import script_id, wait_until
from tests.support.fake_llm import Call, FakeLLM, Reply, step
from tests.support.procs import cmdline, descendants

SHOTS_QUEUE = QUEUE + "-shots"


@pytest.fixture(scope="module")
def shots_worker(  # type: ignore[no-untyped-def]
    llm_base: str, redis_client, tmp_path_factory
) -> Iterator[WorkerProcess]:
    """A worker of its own (the test freezes its browser's compositor); 3 s per screenshot try,
    so a loaded machine still takes the first step's."""
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": SHOTS_QUEUE, "BROWSERFLEET_SCREENSHOT_TIMEOUT_S": "3"}
    proc = WorkerProcess(env, SHOTS_QUEUE, tmp_path_factory.mktemp("shots") / "worker.log", concurrency=1)
    yield proc
    proc.stop()


def _gpu_processes(worker: WorkerProcess) -> list[int]:
    return [p for p in descendants(worker.proc.pid) if "--type=gpu-process" in cmdline(p)]


def test_a_step_whose_screenshot_stalls_goes_on_without_it(
    shots_worker: WorkerProcess, fake_llm: FakeLLM, site, settings: Settings
) -> None:
    from producer import Producer

    producer = Producer(settings.model_copy(update={"queue": SHOTS_QUEUE}))
    sid = script_id("slow-shot")

    def script(call: Call) -> Reply:
        if call.index == 0:  # answered once the test froze the compositor
            return Reply(content=step({"wait": {"seconds": 0}}), delay_s=1.0)
        return Reply(content=step({"done": {"text": "read without a picture", "success": True}}))

    marker = fake_llm.script(sid, script)
    created = producer.create_task({"task": f"Read the page. {marker}", "startUrl": site.url, "vision": True})
    wait_until(lambda: len(fake_llm.calls[sid]) >= 1, 60, "the first model call")
    frozen = _gpu_processes(shots_worker)
    assert frozen, "the worker's Chromium has no GPU process to freeze"
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        view = producer.wait(created.id, timeout=60)
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)
    assert view.status == TaskStatus.finished and view.is_success, view.error
    first, second = fake_llm.calls[sid][:2]
    assert first.has_image
    assert not second.has_image and "no screenshot this step" in second.user
    log = shots_worker.log_once("screenshot try 2 of 2 failed")
    assert "screenshot try 1 of 2 failed" in log and "screenshot try 3" not in log
    # The browser was never "unusable": the next task on it gets its screenshot again.
    sid2 = script_id("shot-again")
    marker2 = fake_llm.script(sid2, [step({"done": {"text": "seen", "success": True}})])
    again = producer.create_task({"task": f"Look. {marker2}", "startUrl": site.url})
    after = producer.wait(again.id, timeout=60)
    assert after.status == TaskStatus.finished and fake_llm.calls[sid2][0].has_image, after.error
