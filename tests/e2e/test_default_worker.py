"""`browserfleet worker` as a new user runs it: judged tasks finish, idle queues are reported.

Each test here gets queues of its own, so no other worker of the test run can serve them:
what consumes them is exactly the command under test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_use_sdk import BrowserUse
from pydantic import SecretStr

from producer import Producer
from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import ROOT, base_env
from tests.e2e.helpers import script_id
from tests.support.api import FULL_KEY
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.procs import alive, children

JUDGE_PROMPT = "You are the judge of a browser agent's run"


def children_of(pid: int) -> list[int]:
    return sorted(children(pid).get(pid, []))


class CliWorker:
    """``browserfleet worker`` (the CLI, default options) as a subprocess."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.log_file = log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "producer.cli", "worker", "--concurrency", "2"],
            cwd=ROOT, env={**os.environ, **env}, stdout=self.log_file, stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, nodes: int, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while self.log().count(" ready.") < nodes:
            assert self.proc.poll() is None, f"worker exited early:\n{self.log()}"
            assert time.monotonic() < deadline, f"not ready:\n{self.log()}"
            time.sleep(0.2)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log_file.close()
        return self.proc.wait()


@pytest.fixture()
def own_queues(settings: Settings, llm_base: str, redis_client) -> tuple[Settings, dict[str, str]]:  # type: ignore[no-untyped-def]
    queue = f"bf-default-{uuid.uuid4().hex[:6]}"
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": queue, "BROWSERFLEET_JUDGE_QUEUE": queue + "-judge"}
    return settings.model_copy(update={"queue": queue, "judge_queue": queue + "-judge"}), env


@pytest.fixture()
def cli_worker(own_queues, tmp_path: Path) -> Iterator[CliWorker]:  # type: ignore[no-untyped-def]
    worker = CliWorker(own_queues[1], tmp_path / "worker.log")
    yield worker
    worker.stop()


def test_sdk_run_with_judge_gets_its_verdict_with_only_the_default_worker(
    own_queues, cli_worker: CliWorker, make_api, fake_llm: FakeLLM, site
) -> None:  # type: ignore[no-untyped-def]
    """The README's worker command and the API, nothing else: ``client.run(judge=True)`` returns."""
    settings, _ = own_queues
    cli_worker.wait_ready(nodes=2)  # the agent worker and the judge worker beside it
    api = make_api(queue=settings.queue, judge_queue=settings.judge_queue)
    sid = script_id("default-judge")

    def reply(call: Call) -> str:
        if call.system.startswith(JUDGE_PROMPT):
            return json.dumps({"reasoning": "the page shows it", "verdict": True, "failure_reason": ""})
        return step({"done": {"text": "The title is Login", "success": True}})

    marker = fake_llm.script(sid, reply)
    with BrowserUse(api_key=FULL_KEY, base_url=api.base) as client:
        result = client.run(f"Read the title {marker}", start_url=site.url + "/login", judge=True)
    assert result.status.value == "finished", cli_worker.log()[-3000:]
    view = Producer(settings).get_task(str(result.id))
    assert view.judge_verdict is True and json.loads(view.judgement or "{}")["verdict"] is True
    assert sum(call.system.startswith(JUDGE_PROMPT) for call in fake_llm.calls[sid]) == 1


def test_the_default_worker_stops_whole_on_sigterm(cli_worker: CliWorker) -> None:
    cli_worker.wait_ready(nodes=2)
    children = children_of(cli_worker.proc.pid)
    assert len(children) == 2, children  # agent worker + judge worker, supervised
    assert cli_worker.stop() == 0
    deadline = time.monotonic() + 30
    while any(alive(pid) for pid in children):
        assert time.monotonic() < deadline, "a worker outlived the command"
        time.sleep(0.2)


def test_a_worker_that_dies_takes_its_sibling_down(cli_worker: CliWorker) -> None:
    """A half-dead group (agents but no judge, or the reverse) must not linger unnoticed."""
    cli_worker.wait_ready(nodes=2)
    agent, judge = children_of(cli_worker.proc.pid)
    os.kill(judge, signal.SIGKILL)
    assert cli_worker.proc.wait(60) != 0
    deadline = time.monotonic() + 30
    while alive(agent):
        assert time.monotonic() < deadline, "the sibling worker kept running"
        time.sleep(0.2)


def test_work_waiting_on_a_queue_nobody_consumes_is_reported(
    own_queues, tmp_path: Path, llm_base: str, fake_llm: FakeLLM, site
) -> None:  # type: ignore[no-untyped-def]
    settings, env = own_queues
    producer = Producer(settings)
    sid = script_id("no-consumer")
    marker = fake_llm.script(sid, lambda call: step({"done": {"text": "ok", "success": True}}))
    created = producer.create_task({"task": f"Anything {marker}", "startUrl": site.url})

    agent_queue = next(q for q in producer.queues() if q.name == settings.queue)
    assert agent_queue.waiting == 1 and agent_queue.consumers == 0
    assert agent_queue.warning and settings.queue in agent_queue.warning

    cli = subprocess.run([sys.executable, "-m", "producer.cli", "status"], cwd=ROOT,
                         env={**os.environ, **env, "COLUMNS": "200"}, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "no consumer" in cli.stdout and settings.queue in cli.stdout
    task_status = subprocess.run([sys.executable, "-m", "producer.cli", "status", str(created.id)], cwd=ROOT,
                                 env={**os.environ, **env, "COLUMNS": "200"}, capture_output=True, text=True)
    assert "no consumer" in task_status.stdout, task_status.stdout + task_status.stderr

    worker = CliWorker(env, tmp_path / "late.log")
    try:
        worker.wait_ready(nodes=2)
        assert producer.wait(created.id, timeout=90).status == TaskStatus.finished
        health = {q.name: q for q in producer.queues()}
        assert health[settings.queue].consumers == 1 and health[settings.judge_queue].consumers == 1
        assert not any(q.warning for q in health.values())
    finally:
        worker.stop()


def test_the_default_worker_delivers_webhooks_without_extra_setup(
    own_queues, fake_llm: FakeLLM, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """A user who sets BROWSERFLEET_WEBHOOK_URL and runs ``browserfleet worker`` gets every event."""
    from tests.e2e.test_api import free_port
    from tests.support.legacy_sdk import legacy_sdk
    from tests.support.webhook_receiver import Receiver

    secret = "whsec-default-" + uuid.uuid4().hex
    receiver = Receiver(free_port(), secret, tmp_path / "hooks.jsonl", legacy_sdk()).start()
    settings, env = own_queues
    hooks = {"BROWSERFLEET_WEBHOOK_URL": receiver.url("/default"), "BROWSERFLEET_WEBHOOK_SECRET": secret,
             "BROWSERFLEET_WEBHOOK_QUEUE": settings.queue + "-webhooks"}
    hooked = settings.model_copy(update={"webhook_url": receiver.url("/default"),
                                         "webhook_secret": SecretStr(secret),
                                         "webhook_queue": hooks["BROWSERFLEET_WEBHOOK_QUEUE"]})
    worker = CliWorker({**env, **hooks}, tmp_path / "worker.log")
    try:
        worker.wait_ready(nodes=3)  # agent, judge and webhook workers
        assert len(children_of(worker.proc.pid)) == 3
        producer = Producer(hooked)
        done = step({"done": {"text": "ok", "success": True}})
        marker = fake_llm.script(script_id("default-hooks"), [done])
        created = producer.create_task({"task": f"Finish. {marker}"})
        deadline = time.monotonic() + 90
        while len(receiver.accepted("/default", str(created.id))) < 3:
            assert time.monotonic() < deadline, receiver.requests()
            time.sleep(0.2)
        events = receiver.accepted("/default", str(created.id))
        statuses = [r["verified"]["payload"]["status"] for r in events]
        assert statuses == ["initializing", "started", "finished"]
    finally:
        worker.stop()
        receiver.stop()
