"""Fencing: a run frozen past its lease never acts again once a newer run took the task.

A real worker is SIGSTOPped while its run waits for the model; its lease expires, another
worker's reaper re-enqueues the task and a second run starts; then the first process is
SIGCONTed with the model's answer (a purchase) waiting in its socket. The loopback page
records every purchase server-side: exactly one, the second run's; the record holds the
second run's steps only; the first worker says once that it was fenced out.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from shared import keys
from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import QUEUE, WorkerProcess, base_env
from tests.e2e.helpers import SHOP, script_id, wait_until
from tests.support.fake_llm import Call, FakeLLM, Reply, step


@pytest.fixture
def two_workers(  # type: ignore[no-untyped-def]
    llm_base: str, redis_client, tmp_path
) -> Iterator[tuple[WorkerProcess, WorkerProcess]]:
    """Two workers on their own queues (each one's reaper re-enqueues to its own queue)."""
    first = WorkerProcess({**base_env(llm_base), "BROWSERFLEET_QUEUE": QUEUE + "-fence-1"},
                          QUEUE + "-fence-1", tmp_path / "first.log", concurrency=1)
    try:
        second = WorkerProcess({**base_env(llm_base), "BROWSERFLEET_QUEUE": QUEUE + "-fence-2"},
                               QUEUE + "-fence-2", tmp_path / "second.log", concurrency=1)
    except BaseException:
        first.stop()
        raise
    yield first, second
    for worker in (first, second):
        if worker.proc.poll() is None:
            os.kill(worker.proc.pid, signal.SIGCONT)
        worker.stop()


def test_a_run_frozen_past_its_lease_is_fenced_out_and_the_newer_run_wins(
    two_workers: tuple[WorkerProcess, WorkerProcess], fake_llm: FakeLLM, site, settings: Settings,
    redis_client,
) -> None:
    from producer import Producer

    first, second = two_workers
    sid = script_id("fence")
    buy = f"/buy-{sid}"
    site.pages[f"/shop-{sid}"] = SHOP.format(buy=buy)

    def script(call: Call) -> Reply:
        if call.index >= 2:
            return Reply(content=step({"done": {"text": "bought once"}}, memory="second run"))
        click = {"click": {"index": call.index_of(r"<button.*Buy")}}
        if call.index == 0:  # the first run's answer: it reaches the frozen process after the freeze
            return Reply(content=step(click, memory="first run"), delay_s=1.5)
        return Reply(content=step(click, memory="second run"))

    marker = fake_llm.script(sid, script)
    producer = Producer(settings.model_copy(update={"queue": QUEUE + "-fence-1"}))
    created = producer.create_task({"task": f"Buy the item. {marker}", "startUrl": f"{site.url}/shop-{sid}",
                                    "vision": False})
    task_id = str(created.id)
    wait_until(lambda: len(fake_llm.calls[sid]) >= 1, 60, "the first run's model call")
    os.kill(first.proc.pid, signal.SIGSTOP)  # frozen while the model answers: past its 2 s lease
    try:
        try:
            wait_until(lambda: len(fake_llm.calls[sid]) >= 2, 120, "a second run (the reaper re-enqueued it)")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- second worker ---\n{second.log()[-3000:]}") from None
        assert redis_client.hget(keys.task(task_id), "lease_epoch") == "2"
    finally:
        os.kill(first.proc.pid, signal.SIGCONT)  # the purchase answer waits in its socket
    view = producer.wait(task_id, timeout=60)
    log = first.log_once("fenced out", timeout=30)

    purchases = [path for path, _ in site.forms if path == buy]
    assert purchases == [buy], f"expected exactly the second run's purchase, got {len(purchases)}"
    assert view.status == TaskStatus.finished and view.output == "bought once", view.error
    assert [s.memory for s in view.steps] == ["second run", "second run"]
    fenced = [line for line in log.splitlines() if "fenced out" in line]
    assert len(fenced) == 1 and task_id in fenced[0] and "epoch 1" in fenced[0], fenced
    assert "two runs may overlap" not in log
    # The winner's lease ends with it and stays released (no renewal re-creates it).
    wait_until(lambda: redis_client.get(keys.lease(task_id)) is None, 10, "the winner's lease released")
    deadline = time.monotonic() + 1.5  # three renewal periods of the 2 s lease
    while time.monotonic() < deadline:
        assert redis_client.get(keys.lease(task_id)) is None
        assert redis_client.zscore(keys.RUNNING, task_id) is None
        time.sleep(0.1)
