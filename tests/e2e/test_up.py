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

from shared import keys
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


def test_run_prints_a_live_link_to_the_api_that_up_started(
    up_env: dict[str, str], tmp_path: Path, fake_llm: FakeLLM, site
) -> None:  # type: ignore[no-untyped-def]
    """As a new user: ``up --api-port N``, then ``run``. The printed live link names port N (it
    used to name the default 8000, where nothing answered) and opens the viewer page."""
    api_port = free_port()
    fleet = Up(["--api-port", str(api_port), "--data-dir", str(tmp_path / "fleet"), "--workers", "1",
                "--concurrency", "1", "--flower-port", "0", "--no-judge"], up_env, tmp_path / "up.log")
    fleet.wait_up()
    try:
        done = step({"done": {"text": "seen live", "success": True}})
        marker = fake_llm.script(script_id("up-live"), [done])
        run = subprocess.run([sys.executable, "-m", "producer.cli", "run", f"Say it {marker}", "--start-url",
                              site.url], cwd=ROOT, env={**up_env, "COLUMNS": "200"}, capture_output=True,
                             text=True, timeout=180)
        assert run.returncode == 0 and "seen live" in run.stdout, run.stdout + run.stderr + fleet.output()
        link = re.search(r"watch live: (\S+)", run.stdout)
        assert link is not None, run.stdout
        assert link.group(1).startswith(f"http://127.0.0.1:{api_port}/live/"), run.stdout
        page = httpx.get(link.group(1), timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:300]
    finally:
        assert fleet.interrupt() == 0, fleet.output()


def test_the_api_announces_its_address_while_it_serves_and_withdraws_only_its_own(
    llm_base: str, redis_client: redis.Redis
) -> None:
    """``browserfleet api`` is what announces the address (``up`` runs it); another API announced
    since is not erased when the first stops."""
    env = {**os.environ, **base_env(llm_base), "BROWSERFLEET_API_KEYS": "bf-test-key"}

    def serve(port: int) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([sys.executable, "-m", "producer.cli", "api", "--port", str(port)], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while redis_client.get(keys.API_ADDRESS) != f"http://127.0.0.1:{port}":
            assert proc.poll() is None and time.monotonic() < deadline, "the API did not announce itself"
            time.sleep(0.2)
        return proc

    first = serve(free_port())
    first.send_signal(signal.SIGINT)
    assert first.wait(30) == 0 and redis_client.get(keys.API_ADDRESS) is None

    second = serve(free_port())
    redis_client.set(keys.API_ADDRESS, "http://other-api.example:9000")  # a later API, elsewhere
    second.send_signal(signal.SIGINT)
    assert second.wait(30) == 0
    assert redis_client.get(keys.API_ADDRESS) == "http://other-api.example:9000"
