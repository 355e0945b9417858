"""Redis behind Sentinel: the master SIGKILLed under load, a replica promoted, nothing run twice.

The test starts its own group on loopback (a master, a replica, three sentinels:
tests/support/sentinel.py), a real worker process and the HTTP API, all configured with the
sentinels' ``sentinel://`` URLs and the service name only: none of them knows which server is
the master. Multi-step tasks run (scripted model), the master is SIGKILLed mid-run, the
sentinels promote the replica, and then:

- every task ends once, finished, with its own output; no run is fenced out, re-enqueued by
  a reaper or delivered twice (the lease TTL outlasts the failover: docs/deploy.md);
- each task's steps are all there, once each, in order, one per model call: behind Sentinel a
  step record waits (``WAIT 1``) until the replica has it, so the replication window (writes
  the old master acknowledged and had not yet streamed) holds none of them, and a step call
  retried on the new master after it had landed is not recorded twice;
- the worker and the API were not restarted: a task created while the master was down (its
  request rides out the failover) and one created after it both run; the old master, back,
  rejoins as a replica; the image's health check pings the worker through the new master.

Run once with the Redis behind Sentinel as the Celery broker too (kombu's Sentinel transport:
no copy of a task is left in its ``unacked`` hash) and once with RabbitMQ as the broker (the
production topology, docs/deploy.md).

Pub/sub subscribers are proven apart: the worker's control-signal subscriber and the API's
live-hub connection each receive a message published on the new master.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import redis
from kombu import Connection

from shared import keys
from shared.control import ControlSignals
from shared.live_feed import LiveFeed
from shared.redis_client import connect
from shared.settings import Settings
from shared.stores import Stores
from tests.conftest import base_env
from tests.e2e.helpers import script_id
from tests.support.api import ApiServer, api_settings
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.sentinel import SERVICE, SentinelGroup, wait_for
from tests.support.workers import WorkerProcess

TASKS = 8
STEPS = 5  # wait steps before the final ``done``
ROOT = Path(__file__).resolve().parents[2]
AMQP_URL = os.environ.get("BROWSERFLEET_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
LEASE_TTL_S = 15  # above the failover time (~3 s here) plus the clients' retry backoff


@pytest.fixture
def group(tmp_path: Path) -> Iterator[SentinelGroup]:
    if not shutil.which("redis-server"):
        pytest.skip("redis-server binary not installed")
    found = SentinelGroup(tmp_path / "redis")
    try:
        found.start()
        yield found
    finally:
        found.stop()


def _settings(settings: Settings, group: SentinelGroup, queue: str, broker: str | None = None) -> Settings:
    return settings.model_copy(update={
        "redis_url": group.url, "redis_sentinel_master": SERVICE, "broker_url": broker,
        "result_backend": None, "queue": queue, "judge_queue": queue + "-judge", "lease_ttl_s": LEASE_TTL_S,
    })


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """The Celery broker: the same Redis behind Sentinel (kombu's Sentinel transport), or
    RabbitMQ (the production topology, docs/deploy.md); its test queues removed afterwards."""
    if request.param == "redis":
        yield None
        return
    try:
        with Connection(AMQP_URL, connect_timeout=5) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        pytest.skip(f"RabbitMQ is not reachable at {AMQP_URL} ({exc}): `make services` starts one")
    yield AMQP_URL


def _delete_amqp_queues(*names: str) -> None:
    with Connection(AMQP_URL) as conn, conn.channel() as channel:
        for name in names:
            with contextlib.suppress(*conn.channel_errors):
                channel.queue_delete(name)


def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bf_healthcheck", ROOT / "deploy" / "healthcheck.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _script(name: str) -> Any:
    def answer(call: Call) -> str:
        if call.index < STEPS:
            return step({"wait": {"seconds": 1}}, memory=f"{name} step {call.index + 1}")
        return step({"done": {"text": f"{name} done"}})
    return answer


def _done(client: httpx.Client, task_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/tasks/{task_id}/status").json()["status"]
        if status in ("finished", "failed", "stopped"):
            return dict(client.get(f"/tasks/{task_id}").json())
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} not done after {timeout}s")


def test_a_master_killed_under_load_fails_over_and_every_task_ends_once(
    group: SentinelGroup, broker: str | None, settings: Settings,
    fake_llm: FakeLLM, site: Any, llm_base: str, tmp_path: Path
) -> None:
    queue = f"bf-sentinel-{uuid.uuid4().hex[:6]}"
    env = {**base_env(llm_base), "REDIS_URL": group.url, "BROWSERFLEET_REDIS_SENTINEL_MASTER": SERVICE,
           "BROWSERFLEET_QUEUE": queue, "BROWSERFLEET_JUDGE_QUEUE": queue + "-judge",
           "BROWSERFLEET_LEASE_TTL_S": str(LEASE_TTL_S)}
    if broker:
        env["BROWSERFLEET_BROKER_URL"] = broker
    worker = WorkerProcess(env, queue, tmp_path / "worker.log", concurrency=4)
    api = ApiServer(api_settings(_settings(settings, group, queue, broker))).start()
    client = api.client()
    names = {script_id(f"ha{n}"): f"task{n}" for n in range(TASKS)}
    created: dict[str, str] = {}
    try:
        for sid, name in names.items():
            marker = fake_llm.script(sid, _script(name))
            body = {"task": f"Wait, then report. {marker}", "startUrl": site.url, "vision": False}
            created[sid] = client.post("/tasks", json=body).json()["id"]
        # mid-run: four tasks running, two steps into their work
        wait_for(lambda: sum(len(fake_llm.calls[s]) >= 2 for s in names) >= 4, 90, "tasks to get going")
        calls_at_kill = {s: len(fake_llm.calls[s]) for s in names}
        group.kill_master()
        killed_at = time.monotonic()

        during_sid = script_id("ha-during")
        during_marker = fake_llm.script(during_sid, _script("during"))
        during: dict[str, Any] = {}

        def create_during_failover() -> None:  # the request waits out the failover, then succeeds
            body = {"task": f"Created during the failover. {during_marker}", "startUrl": site.url,
                    "vision": False}
            during["response"] = api.client().post("/tasks", json=body)
            during["after_s"] = time.monotonic() - killed_at

        creator = threading.Thread(target=create_during_failover)
        creator.start()
        failover_s = group.wait_failover()
        creator.join(60)
        assert during["response"].status_code == 202, during["response"].text
        print(f"\nfailover: sentinels named the replica {failover_s:.2f} s after the kill; "
              f"a create sent at the kill answered after {during['after_s']:.2f} s")

        # the old master comes back (as a restarted pod would) and is made a replica of the new one
        group.master.start()
        wait_for(lambda: redis.Redis(port=group.master.port).info("replication")["role"] == "slave",
                 30, "the old master to rejoin as a replica")

        after_sid = script_id("ha-after")
        after_marker = fake_llm.script(after_sid, _script("after"))
        after_id = client.post("/tasks", json={"task": f"Created after the failover. {after_marker}",
                                               "startUrl": site.url, "vision": False}).json()["id"]

        views = {sid: _done(client, task_id, 180) for sid, task_id in created.items()}
        during_view = _done(client, during["response"].json()["id"], 120)
        after_view = _done(client, after_id, 120)
        store = connect(_settings(settings, group, queue, broker).redis_target)
        for sid, view in views.items():
            name = names[sid]
            assert view["status"] == "finished", (name, view.get("output"), worker.log()[-4000:])
            assert view["output"] == f"{name} done"
            # one model call per step and one run per task (a second run would call the model
            # again); every step there once, in order: each step record waited for the replica
            assert len(fake_llm.calls[sid]) == STEPS + 1, (name, len(fake_llm.calls[sid]))
            assert [s["number"] for s in view["steps"]] == list(range(1, STEPS + 2)), name
            assert store.get(keys.deliveries(view["id"])) == "1", name
        for extra, view in (("during", during_view), ("after", after_view)):
            assert view["status"] == "finished" and view["output"] == f"{extra} done", view
            assert [s["number"] for s in view["steps"]] == list(range(1, STEPS + 2))
        # the image's health check reaches the worker through the new master (the sentinel broker)
        (node,) = re.findall(r"(\S+@\S+) ready\.", worker.log())
        assert healthcheck().check_worker(node, 10, _settings(settings, group, queue, broker))
        log = worker.log()
        assert "fenced out" not in log and "may overlap" not in log and "lost its worker" not in log
        assert worker.proc.poll() is None, "the worker was restarted"
        # nothing left behind in kombu's bookkeeping on the new master (no copy to redeliver later)
        if broker is None:
            wait_for(lambda: store.llen(queue) == 0 and store.hlen("unacked") == 0, 15, "kombu's leftovers")
        running_at_kill = sum(0 < n <= STEPS for n in calls_at_kill.values())
        print(f"{TASKS} tasks ({running_at_kill} mid-run at the kill) + 2: every step kept, none twice")
    finally:
        client.close()
        api.stop()
        worker.stop()
        if broker:
            _delete_amqp_queues(queue, queue + "-judge")


def test_pub_sub_subscribers_reconnect_to_the_new_master(
    group: SentinelGroup, settings: Settings
) -> None:
    configured = _settings(settings, group, "unused")
    target = configured.redis_target
    publisher = connect(target)
    signals = ControlSignals(connect(target), poll_s=0.05)
    received: list[str] = []
    signals.follow("t-1", received.append)
    wait_for(lambda: publisher.pubsub_numsub(keys.control("t-1"))[0][1] == 1, 10, "the subscription")

    async def live_message_after_failover() -> tuple[str, str] | None:
        channels = Stores(configured).for_event_loop().live_feed()
        await channels.subscribe(channels.task_channel("t-1"))
        group.kill_master()
        group.wait_failover()
        deadline = time.monotonic() + 30  # the subscriber reconnects (and subscribes again) on its own
        while time.monotonic() < deadline:
            publisher.publish(channels.task_channel("t-1"), "frame")
            publisher.publish(keys.control("t-1"), "stop")
            found = await channels.next_message(0.5)
            if found:
                return found
        return None

    found = asyncio.run(live_message_after_failover())
    assert found == (LiveFeed.task_channel("t-1"), "frame")

    def stop_heard() -> bool:
        publisher.publish(keys.control("t-1"), "stop")
        time.sleep(0.2)
        return "stop" in received

    wait_for(stop_heard, 30, "the control signal after the failover")
    signals.drop("t-1")


def test_a_probe_finds_the_master_through_the_sentinels(group: SentinelGroup, settings: Settings) -> None:
    """What ``browserfleet up`` asks before it would start an embedded Redis."""
    from shared.redis_client import answers

    configured = _settings(settings, group, "unused")
    target = configured.redis_target
    assert answers(target)
    assert not answers(target.__class__(url=target.url, sentinels=target.sentinels, master="no-such-service"))
