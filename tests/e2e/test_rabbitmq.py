"""The end-to-end paths once more with RabbitMQ as the Celery broker (Redis keeps the records).

This machine runs RabbitMQ on 127.0.0.1:5672 (guest/guest); `make services` starts Debian's
rabbitmq-server where none answers. Each test gets queues of its own, deleted afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu import Connection

from producer import Producer
from shared import keys
from shared.models import TaskStatus
from shared.settings import Settings
from tests.conftest import base_env
from tests.e2e.helpers import run, script_id, wait_until
from tests.e2e.test_default_worker import JUDGE_PROMPT, CliWorker
from tests.support.api import FULL_KEY, ApiServer
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.procs import alive, cmdline, descendants
from tests.support.workers import WorkerProcess

AMQP_URL = os.environ.get("BROWSERFLEET_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")


@pytest.fixture(scope="module", autouse=True)
def rabbitmq() -> None:
    try:
        with Connection(AMQP_URL, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.fail(f"RabbitMQ is not reachable at {AMQP_URL} ({exc}): `make services` starts one")


@pytest.fixture()
def amqp(settings: Settings, llm_base: str) -> Iterator[tuple[Settings, dict[str, str]]]:
    queue = f"bf-amqp-{uuid.uuid4().hex[:6]}"
    update = {"broker_url": AMQP_URL, "queue": queue, "judge_queue": queue + "-judge"}
    env = {**base_env(llm_base), "BROWSERFLEET_BROKER_URL": AMQP_URL, "BROWSERFLEET_QUEUE": queue,
           "BROWSERFLEET_JUDGE_QUEUE": queue + "-judge"}
    yield settings.model_copy(update=update), env
    with Connection(AMQP_URL) as conn, conn.channel() as channel:
        for name in (queue, queue + "-judge"):
            with contextlib.suppress(*conn.channel_errors):
                channel.queue_delete(name)


def queue_messages(name: str) -> int:
    """Messages in the queue, ready and unacknowledged."""
    out = subprocess.run(["rabbitmqctl", "list_queues", "name", "messages", "--formatter", "json"],
                         capture_output=True, text=True, timeout=60).stdout
    return int(next(q for q in json.loads(out) if q["name"] == name)["messages"])


def queue_info(name: str) -> dict[str, Any]:
    out = subprocess.run(["rabbitmqctl", "list_queues", "name", "type", "arguments", "--formatter", "json"],
                         capture_output=True, text=True, timeout=60).stdout
    return next(q for q in json.loads(out) if q["name"] == name)


def test_a_task_runs_through_a_quorum_queue_with_a_delivery_limit(
    amqp: tuple[Settings, dict[str, str]], fake_llm: FakeLLM, site, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings, env = amqp
    worker = WorkerProcess(env, settings.queue, tmp_path / "worker.log", concurrency=2)
    try:
        marker = fake_llm.script(script_id("amqp"), [step({"done": {"text": "via rabbit", "success": True}})])
        view = run(Producer(settings), {"task": f"Say it {marker}", "startUrl": site.url})
        assert view.status == TaskStatus.finished and view.output == "via rabbit", worker.log()[-2000:]
        assert "amqp://" in worker.log()
    finally:
        worker.stop()
    info = queue_info(settings.queue)
    assert info["type"] == "quorum"
    arguments = {argument[0]: argument[-1] for argument in info["arguments"]}  # [name, type, value]
    assert arguments["x-delivery-limit"] == settings.max_deliveries + 1


def test_judged_tasks_finish_with_the_default_worker_on_rabbitmq(
    amqp: tuple[Settings, dict[str, str]], fake_llm: FakeLLM, site, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings, env = amqp
    worker = CliWorker(env, tmp_path / "cli.log")
    try:
        worker.wait_ready(nodes=2)

        def reply(call: Call) -> str:
            if call.system.startswith(JUDGE_PROMPT):
                return json.dumps({"reasoning": "fine", "verdict": True, "failure_reason": ""})
            return step({"done": {"text": "judged", "success": True}})

        marker = fake_llm.script(script_id("amqp-judge"), reply)
        view = run(Producer(settings), {"task": f"Finish {marker}", "startUrl": site.url, "judge": True})
        assert view.status == TaskStatus.finished and view.judge_verdict is True, worker.log()[-3000:]
    finally:
        worker.stop()


def test_admission_health_and_metrics_read_the_rabbitmq_queue(
    amqp: tuple[Settings, dict[str, str]], make_api: Callable[..., ApiServer]
) -> None:
    settings, _ = amqp
    server = make_api(broker_url=AMQP_URL, queue=settings.queue, judge_queue=settings.judge_queue,
                      max_queued_tasks=2)
    with server.client(FULL_KEY) as client:
        assert [client.post("/tasks", json={"task": "wait"}).status_code for _ in range(3)] == [202, 202, 429]
    health = httpx.get(server.url + "/healthz").json()
    (agent,) = [q for q in health["queues"] if q["name"] == settings.queue]
    assert agent["waiting"] == 2 and agent["consumers"] == 0 and "no consumer" in agent["warning"]
    metrics = httpx.get(server.url + "/metrics").text
    assert f'browserfleet_queue_depth{{queue="{settings.queue}"}} 2.0' in metrics


def test_a_killed_workers_task_is_redelivered_by_rabbitmq_and_finishes(
    amqp: tuple[Settings, dict[str, str]], fake_llm: FakeLLM, site, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    settings, env = amqp
    sid = script_id("amqp-killed")

    def script(call: Call) -> str:
        if call.index == 0:
            return step({"wait": {"seconds": 20}}, memory="first attempt")
        return step({"done": {"text": "survived"}})

    marker = fake_llm.script(sid, script)
    doomed = WorkerProcess(env, settings.queue, tmp_path / "doomed.log", concurrency=1)
    producer = Producer(settings)
    created = producer.create_task({"task": f"Survive. {marker}", "startUrl": site.url})
    try:
        deadline = time.monotonic() + 60
        while not fake_llm.calls[sid]:
            assert time.monotonic() < deadline, doomed.log()[-2000:]
            time.sleep(0.1)
        spawned = descendants(doomed.proc.pid)
        os.kill(doomed.proc.pid, signal.SIGKILL)
        doomed.proc.wait(10)
    finally:
        doomed.stop()
    rescuer = WorkerProcess(env, settings.queue, tmp_path / "rescuer.log", concurrency=1)
    try:
        view = producer.wait(created.id, timeout=90)
        assert view.status == TaskStatus.finished and view.output == "survived", rescuer.log()[-2000:]
        assert int(producer.store._redis.get(keys.deliveries(str(created.id)))) >= 2
        # Nothing lingers (issue 22's leftovers): RabbitMQ requeued the dead consumer's message at
        # once; that copy ran or was dropped (a duplicate or finished), like the reaper's.
        wait_until(lambda: queue_messages(settings.queue) == 0, 60, "the queue to hold no message")
    finally:
        rescuer.stop()
    assert not [cmdline(p) for p in spawned if alive(p) and "chrom" in cmdline(p)]
