"""A Redis restart mid-task: the worker rides it out and the task still finishes.

Uses its own ``redis-server`` (append-only, as deployed) on a free port, so the
restart touches nothing else.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import WorkerProcess, base_env
from tests.e2e.helpers import script_id
from tests.support.fake_llm import Call, FakeLLM, step


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.port, self.dir = _free_port(), directory
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis flushes the append-only file and exits
            self.proc.wait(10)


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
