"""A Redis restart mid-task: the worker rides it out and the task still finishes.

Uses its own ``redis-server`` (append-only, as deployed) on a free port, so the
restart touches nothing else.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import WorkerProcess, base_env
from tests.e2e.helpers import script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.redis_server import RedisServer


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server binary not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_task_survives_a_redis_restart(
    private_redis: RedisServer, fake_llm: FakeLLM, site, llm_base: str, tmp_path: Path
) -> None:
    from producer import Producer

    url = f"redis://127.0.0.1:{private_redis.port}/0"
    env = {**base_env(llm_base), "REDIS_URL": url, "BROWSERFLEET_QUEUE": "restart-test"}
    producer = Producer(Settings(redis_url=url, queue="restart-test"))
    worker = WorkerProcess(env, "restart-test", tmp_path / "worker.log", concurrency=1)
    sid = script_id("restart")

    def script(call: Call) -> str:
        if call.index == 0:
            return step({"wait": {"seconds": 4}}, memory="waiting through the restart")
        return step({"done": {"text": "still here"}})

    marker = fake_llm.script(sid, script)
    try:
        created = producer.create_task({"task": f"Restart. {marker}", "startUrl": site.url, "vision": False})
        deadline = time.monotonic() + 60
        while not fake_llm.calls[sid]:
            assert time.monotonic() < deadline, worker.log()
            time.sleep(0.05)
        private_redis.stop()
        time.sleep(1.5)
        private_redis.start()
        view = producer.wait(created.id, timeout=90)
        assert view.status == TaskStatus.finished, (view.error, worker.log()[-3000:])
        assert view.output == "still here"
        assert [s.number for s in view.steps] == [1, 2]
    finally:
        worker.stop()
