"""`browserfleet up`: a whole fleet from one command, with no Redis running beforehand.

Run as a user would: the command starts its own Redis (persisting to the data folder), a
worker, a judge worker, the API and Flower; the official SDK runs a task with the key it
printed; Ctrl-C stops everything (Chromium included) and a task queued while no worker ran
is still there at the next start.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from browser_use_sdk import BrowserUse

from tests.conftest import ROOT, base_env
from tests.e2e.helpers import script_id
from tests.e2e.test_api import free_port
from tests.support.fake_llm import FakeLLM, step
from tests.support.procs import alive, cmdline, descendants


class Up:
    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log_file = log_path.open("w")
        self.proc = subprocess.Popen([sys.executable, "-m", "producer.cli", "up", *args], cwd=ROOT,
                                     env=env, stdout=self.log_file, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_up(self, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while "browserfleet is up" not in self.output():
            assert self.proc.poll() is None, f"up exited early:\n{self.output()}"
            assert time.monotonic() < deadline, f"up did not start:\n{self.output()}"
            time.sleep(0.2)
        key = re.search(r"API key\s+(\S+)", self.output())
        assert key, self.output()
        return key.group(1)

    def interrupt(self) -> int:
        """Ctrl-C, as a terminal sends it."""
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(90)
        finally:
            self.log_file.close()


def redis_alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except (redis.RedisError, OSError):
        return False


@pytest.fixture()
def up_env(llm_base: str, tmp_path: Path) -> dict[str, str]:
    url = f"redis://127.0.0.1:{free_port()}/0"
    assert not redis_alive(url)
    env = {**os.environ, **base_env(llm_base), "REDIS_URL": url, "BROWSERFLEET_REDIS_URL": url}
    env.pop("BROWSERFLEET_API_KEYS", None)
    return env


def test_up_runs_a_whole_fleet_keeps_queued_tasks_and_leaves_nothing_behind(
    up_env: dict[str, str], tmp_path: Path, fake_llm: FakeLLM, site
) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "fleet"
    api_port, flower_port = free_port(), free_port()
    common = ["--api-port", str(api_port), "--data-dir", str(data)]

    # 1. API only, no worker: the task waits in the embedded Redis.
    first = Up([*common, "--workers", "0", "--flower-port", "0", "--no-judge"], up_env, tmp_path / "up1.log")
    key = first.wait_up()
    assert "embedded" in first.output() and "BrowserUse(api_key=" in first.output()
    marker = fake_llm.script(script_id("up"), [step({"done": {"text": "up and running", "success": True}})])
    with BrowserUse(api_key=key, base_url=f"http://127.0.0.1:{api_port}/api/v2") as client:
        created = client.tasks.create(f"Say it {marker}", start_url=site.url)
    assert first.interrupt() == 0, first.output()
    assert not redis_alive(up_env["REDIS_URL"]), "the embedded Redis outlived `up`"

    # 2. The whole fleet: the queued task runs; the key is the one printed before.
    second = Up([*common, "--workers", "1", "--concurrency", "2", "--flower-port", str(flower_port)],
                up_env, tmp_path / "up2.log")
    assert second.wait_up() == key
    with BrowserUse(api_key=key, base_url=f"http://127.0.0.1:{api_port}/api/v2") as client:
        view = client.tasks.wait(str(created.id), timeout=90, interval=0.3)
    assert view.status.value == "finished" and view.output == "up and running", second.output()
    deadline = time.monotonic() + 30
    while httpx.get(f"http://127.0.0.1:{flower_port}/healthcheck").status_code != 200:
        assert time.monotonic() < deadline, "Flower did not answer"
        time.sleep(0.5)

    tree = descendants(second.proc.pid)
    names = " ".join(cmdline(p) for p in tree)
    assert "redis-server" in names and "chrom" in names and "flower" in names and "judge@" in names
    assert second.interrupt() == 0, second.output()
    deadline = time.monotonic() + 30
    while [p for p in tree if alive(p)]:
        assert time.monotonic() < deadline, [cmdline(p) for p in tree if alive(p)]
        time.sleep(0.3)
