"""Signed webhooks, end to end: real workers deliver every status change to real receivers that
verify each request with the official SDK (``browser_use_sdk.lib.webhooks`` 2.0.15).

The API, the agent worker, a webhook worker (which also judges) and receivers on loopback all
run for real; tasks go through the HTTP API with keys that each have their own webhook:

- ``ok``: every status change of every path (finished, judged, failed, stopped while
  running, stopped while queued, its session deleted), in order, verified, with metadata;
- ``flaky``: the receiver answers a redirect (never followed) and 500s first: every event
  still arrives, in order, each delivery id the same across its attempts;
- ``down``: nothing listens for a while; once it does, everything arrives in order;
- ``blocked``/``metadata``: URLs the network policy refuses (loopback outside the allowed
  list, a cloud metadata address) are never connected to; the log says why.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from shared.settings import Settings
from tests.conftest import QUEUE, base_env
from tests.e2e.helpers import script_id
from tests.e2e.test_api import free_port
from tests.support.api import ApiServer, api_settings
from tests.support.fake_llm import FakeLLM, Reply, step
from tests.support.legacy_sdk import legacy_sdk
from tests.support.site import Site
from tests.support.webhook_receiver import Receiver
from tests.support.workers import WorkerProcess

pytestmark = pytest.mark.usefixtures("worker")

KEY_OK = "bf-test-hooks-ok"
KEY_FLAKY = "bf-test-hooks-flaky"
KEY_DOWN = "bf-test-hooks-down"
KEY_BLOCKED = "bf-test-hooks-blocked"
KEY_METADATA = "bf-test-hooks-metadata"
KEY_NONE = "bf-test-hooks-none"
KEYS = [KEY_OK, KEY_FLAKY, KEY_DOWN, KEY_BLOCKED, KEY_METADATA, KEY_NONE]
WEBHOOK_QUEUE = QUEUE + "-webhooks"
JUDGE_QUEUE = QUEUE + "-judge"
DONE = step({"done": {"text": "done", "success": True}})


@dataclass
class Hooks:
    """Everything the tests need: receivers, the API, the settings both sides share."""

    secret: str
    flaky_secret: str
    receiver: Receiver  # serves /ok, /flaky (redirect then 500s first), /fleet
    down: Receiver  # not started until a test starts it
    outsider: Receiver  # listening, but outside BROWSERFLEET_ALLOWED_NETWORKS
    api: ApiServer
    idle_api: ApiServer  # same settings, on a queue no worker consumes (tasks stay queued)
    settings: Settings
    env: dict[str, str]
    worker: WorkerProcess
    metrics_url: str

    def client(self, key: str, idle: bool = False) -> httpx.Client:
        return (self.idle_api if idle else self.api).client(key)


@pytest.fixture(scope="module")
def hooks(
    settings: Settings, llm_base: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Hooks]:
    sdk = legacy_sdk()
    folder = tmp_path_factory.mktemp("webhooks")
    secret, flaky_secret = "whsec-" + uuid.uuid4().hex, "whsec-flaky-" + uuid.uuid4().hex
    plans = {"/flaky": {"redirect_first": 1, "fail_first": 3, "secret": flaky_secret}}
    receiver = Receiver(free_port(), secret, folder / "ok.jsonl", sdk, plans).start()
    down = Receiver(free_port(), secret, folder / "down.jsonl", sdk)
    outsider = Receiver(free_port(), secret, folder / "outsider.jsonl", sdk).start()
    per_key = {
        KEY_OK: {"url": receiver.url("/ok")},
        KEY_FLAKY: {"url": receiver.url("/flaky"), "secret": flaky_secret},
        KEY_DOWN: {"url": down.url("/down")},
        KEY_BLOCKED: {"url": f"http://localhost:{outsider.port}/blocked"},
        KEY_METADATA: {"url": "http://169.254.169.254/latest/meta-data/"},
        KEY_NONE: {"url": None},
    }
    shared_env = {
        "BROWSERFLEET_WEBHOOK_URL": receiver.url("/fleet"),
        "BROWSERFLEET_WEBHOOK_SECRET": secret,
        "BROWSERFLEET_API_KEY_WEBHOOKS": json.dumps(per_key),
        "BROWSERFLEET_WEBHOOK_QUEUE": WEBHOOK_QUEUE,
        "BROWSERFLEET_WEBHOOK_BACKOFF_S": "0.3",
        "BROWSERFLEET_WEBHOOK_MAX_BACKOFF_S": "1",
        "BROWSERFLEET_WEBHOOK_TIMEOUT_S": "3",
    }
    metrics_port = free_port()
    env = {
        **base_env(llm_base), **shared_env, "BROWSERFLEET_METRICS_PORT": str(metrics_port),
        # the webhook worker under the strict network policy, opened for the two receivers only
        "BROWSERFLEET_ALLOW_PRIVATE_NETWORKS": "false",
        "BROWSERFLEET_ALLOWED_NETWORKS": f"127.0.0.1:{receiver.port},127.0.0.1:{down.port}",
    }
    worker = WorkerProcess(env, f"{WEBHOOK_QUEUE},{JUDGE_QUEUE}", folder / "webhook-worker.log",
                           concurrency=4)
    hooked = settings.model_copy(update={
        "webhook_url": receiver.url("/fleet"), "webhook_secret": SecretStr(secret),
        "api_key_webhooks": SecretStr(json.dumps(per_key)), "webhook_queue": WEBHOOK_QUEUE,
    })
    scoped = [*api_settings(settings).scoped_api_keys, *KEYS]
    api = ApiServer(api_settings(hooked, scoped_api_keys=scoped)).start()
    idle = ApiServer(api_settings(hooked, scoped_api_keys=scoped,
                                  queue=f"bf-idle-{uuid.uuid4().hex[:8]}")).start()
    yield Hooks(secret, flaky_secret, receiver, down, outsider, api, idle, hooked,
                {**shared_env, "REDIS_URL": env["REDIS_URL"]}, worker, f"http://127.0.0.1:{metrics_port}/metrics")
    for server in (api, idle):
        server.stop()
    worker.stop()
    for proc in (receiver, down, outsider):
        proc.stop()


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)
    return found


def payload(request: dict[str, Any]) -> dict[str, Any]:
    """The payload as sent and signed, our extra fields (``task_status``, ...) included."""
    return dict(json.loads(request["body"])["payload"])


def statuses(receiver: Receiver, path: str, task_id: str) -> list[tuple[str, str]]:
    """(status as the SDK parsed it, the task's own status) of each verified event, in arrival order."""
    return [(r["verified"]["payload"]["status"], payload(r)["task_status"])
            for r in receiver.accepted(path, task_id)]


def events_of(receiver: Receiver, path: str, task_id: str, count: int) -> list[dict[str, Any]]:
    """The task's first ``count`` verified events, once they have all arrived."""
    def arrived() -> list[dict[str, Any]]:
        found = receiver.accepted(path, task_id)
        return found if len(found) >= count else []

    return list(wait_for(arrived, f"{count} events of task {task_id} at {path}"))[:count]


def create(client: httpx.Client, body: dict[str, Any]) -> str:
    answer = client.post("/tasks", json=body)
    assert answer.status_code == 202, answer.text
    return str(answer.json()["id"])


def finished(client: httpx.Client, task_id: str) -> dict[str, Any]:
    return wait_for(lambda: (v := client.get(f"/tasks/{task_id}").json())["status"] in
                    ("finished", "failed", "stopped") and v, f"task {task_id} to end")


def test_every_status_change_reaches_a_receiver_that_verifies_with_the_official_sdk(
    hooks: Hooks, fake_llm: FakeLLM, site: Site
) -> None:
    ok = hooks.client(KEY_OK)
    done = fake_llm.script(script_id("hook-done"), [DONE])
    judged = fake_llm.script(script_id("hook-judged"), lambda call: (
        json.dumps({"reasoning": "fine", "verdict": True, "failure_reason": ""})
        if call.system.startswith("You are the judge") else DONE))
    failing = fake_llm.script(script_id("hook-fail"), lambda call: "not JSON at all")
    waiting = fake_llm.script(script_id("hook-stop"), lambda call: Reply(step({"wait": {"seconds": 0.2}}),
                                                                           delay_s=0.2))
    ids = {
        "finished": create(ok, {"task": f"Done. {done}", "metadata": {"order": "42", "ünï": "cödé"}}),
        "judged": create(ok, {"task": f"Judged. {judged}", "judge": True}),
        "failed": create(ok, {"task": f"Fail. {failing}"}),
        "stopped": create(ok, {"task": f"Wait. {waiting}", "startUrl": site.url}),
    }
    wait_for(lambda: ok.get(f"/tasks/{ids['stopped']}").json()["steps"], "a step of the task to stop")
    assert ok.patch(f"/tasks/{ids['stopped']}", json={"action": "stop"}).status_code == 200
    # stopped before it ever started, and its session deleted while it was queued
    idle = hooks.client(KEY_OK, idle=True)
    ids["queued-stop"] = create(idle, {"task": f"Never runs. {done}"})
    assert idle.patch(f"/tasks/{ids['queued-stop']}", json={"action": "stop"}).status_code == 200
    session = idle.post("/sessions", json={}).json()["id"]
    ids["session-deleted"] = create(idle, {"task": f"Never runs either. {done}", "sessionId": session})
    assert idle.delete(f"/sessions/{session}").status_code == 204

    for key in ("finished", "judged", "failed", "stopped"):
        finished(ok, ids[key])
    expected = {
        "finished": [("initializing", "created"), ("started", "started"), ("finished", "finished")],
        "judged": [("initializing", "created"), ("started", "started"), ("finished", "finished")],
        "failed": [("initializing", "created"), ("started", "started"), ("stopped", "failed")],
        "stopped": [("initializing", "created"), ("started", "started"), ("stopped", "stopped")],
        "queued-stop": [("initializing", "created"), ("stopped", "stopped")],
        "session-deleted": [("initializing", "created"), ("stopped", "stopped")],
    }
    for name, want in expected.items():
        events_of(hooks.receiver, "/ok", ids[name], len(want))
    time.sleep(1)  # nothing more arrives: one event per change, no duplicates on a healthy receiver
    seen_ids: set[str] = set()
    for name, want in expected.items():
        assert statuses(hooks.receiver, "/ok", ids[name]) == want, name
        for request in hooks.receiver.accepted("/ok", ids[name]):
            event = request["verified"]
            assert event["type"] == "agent.task.status_update"
            assert event["payload"]["session_id"] and request["headers"]["X-Browser-Use-Timestamp"].isdigit()
            delivery = request["headers"]["X-Browserfleet-Delivery-Id"]
            assert delivery not in seen_ids
            seen_ids.add(delivery)
    assert not [r for r in hooks.receiver.requests("/ok") if r["answered"] != 200]  # every one verified
    first = hooks.receiver.accepted("/ok", ids["finished"])
    assert first[0]["verified"]["payload"]["metadata"] == {"order": "42", "ünï": "cödé"}
    terminal = payload(first[-1])
    assert terminal["is_success"] is True and terminal["cost"] is not None
    assert "consecutive failed steps" in payload(hooks.receiver.accepted("/ok", ids["failed"])[-1])["error"]
    view = ok.get(f"/tasks/{ids['judged']}").json()
    assert view["judgeVerdict"] is True  # its one "finished" came with the verdict, not before


def test_a_receiver_that_fails_first_gets_every_event_in_order(hooks: Hooks, fake_llm: FakeLLM) -> None:
    flaky = hooks.client(KEY_FLAKY)
    done = fake_llm.script(script_id("hook-flaky"), [DONE])
    ids = [create(flaky, {"task": f"Done {n}. {done}"}) for n in range(2)]
    for task_id in ids:
        events_of(hooks.receiver, "/flaky", task_id, 3)
        assert statuses(hooks.receiver, "/flaky", task_id) == [
            ("initializing", "created"), ("started", "started"), ("finished", "finished")]
    answered = [r["answered"] for r in hooks.receiver.requests("/flaky")]
    assert answered[:4] == [302, 500, 500, 500] and set(answered[4:]) == {200}
    assert not hooks.receiver.requests("/redirected-here")  # the redirect was never followed
    log = flaky.get("/webhooks/deliveries", params={"limit": 100}).json()["items"]
    failed = [e for e in log if e["result"] == "failed"]
    assert any(e["statusCode"] == 302 and "not followed" in e["error"] for e in failed)
    assert sum(e["statusCode"] == 500 for e in failed) == 3
    for entry in failed:  # every failed attempt was delivered later under the same delivery id
        assert any(e["deliveryId"] == entry["deliveryId"] and e["result"] == "delivered" for e in log)
    retried = [r for r in hooks.receiver.requests("/flaky")
               if int(r["headers"]["X-Browserfleet-Attempt"]) > 1]
    assert retried and all(r["answered"] in (200, 500) for r in retried)
    assert hooks.flaky_secret not in json.dumps(log)


def test_a_receiver_down_for_a_while_gets_everything_once_it_is_back(hooks: Hooks, fake_llm: FakeLLM) -> None:
    down = hooks.client(KEY_DOWN)
    done = fake_llm.script(script_id("hook-down"), [DONE])
    ids = [create(down, {"task": f"Done {n}. {done}"}) for n in range(2)]
    for task_id in ids:
        finished(down, task_id)
    wait_for(lambda: sum(e["result"] == "failed" for e in
                         down.get("/webhooks/deliveries").json()["items"]) >= 3, "failed attempts while down")
    hooks.down.start()
    for task_id in ids:
        events_of(hooks.down, "/down", task_id, 3)
        assert statuses(hooks.down, "/down", task_id) == [
            ("initializing", "created"), ("started", "started"), ("finished", "finished")]
    log = down.get("/webhooks/deliveries").json()["items"]
    assert any(e["result"] == "failed" and e["statusCode"] is None and e["error"] for e in log)
    assert any(e["result"] == "delivered" and e["attempt"] > 1 for e in log)


def test_webhook_urls_go_through_the_network_policy(hooks: Hooks) -> None:
    # a loopback address, or a name of the local machine (``localhost``), and a metadata address
    for key, reason in ((KEY_BLOCKED, r"loopback|local machine"), (KEY_METADATA, "metadata")):
        client = hooks.client(key)
        answer = client.post("/webhooks/test")
        assert answer.status_code == 202, answer.text
        delivery = answer.json()["deliveryId"]
        entry = wait_for(lambda c=client, d=delivery: next(
            (e for e in c.get("/webhooks/deliveries").json()["items"] if e["deliveryId"] == d), None),
            f"the blocked attempt of {key}")
        assert entry["result"] == "blocked" and re.search(reason, entry["error"]), entry
    assert hooks.outsider.requests() == []  # never connected to


def test_a_test_delivery_on_demand_and_a_config_that_never_shows_the_secret(
    hooks: Hooks, tmp_path: Path
) -> None:
    ok = hooks.client(KEY_OK)
    config = ok.get("/webhooks").json()
    assert config["url"] == hooks.receiver.url("/ok") and config["source"] == "key"
    assert hooks.secret not in json.dumps(config) and hooks.secret[-4:] in config["secretHint"]
    delivery = ok.post("/webhooks/test").json()["deliveryId"]
    request = wait_for(lambda: next((r for r in hooks.receiver.accepted("/ok")
                                     if r["headers"]["X-Browserfleet-Delivery-Id"] == delivery), None),
                       "the test event")
    assert request["verified"] == {"type": "test", "payload": {"test": "ok"}}
    health = {q["name"]: q for q in httpx.get(hooks.api.url + "/healthz").json()["queues"]}
    assert health[WEBHOOK_QUEUE]["consumers"] >= 1  # /healthz lists the webhook workers too
    assert hooks.client(KEY_NONE).post("/webhooks/test").status_code == 404
    assert hooks.client(KEY_NONE).get("/webhooks").json()["url"] is None
    # the CLI shows the same log, and never the secret
    env = {**os.environ, **hooks.env, "COLUMNS": "250"}
    for args in (["webhooks", "log", "--key", KEY_OK], ["webhooks", "show", "--key", KEY_OK]):
        proc = subprocess.run([sys.executable, "-m", "producer.cli", *args], env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert hooks.secret not in proc.stdout + proc.stderr
    assert "delivered" in subprocess.run(
        [sys.executable, "-m", "producer.cli", "webhooks", "log", "--key", KEY_OK], env=env,
        capture_output=True, text=True, timeout=60).stdout
    assert hooks.secret not in hooks.worker.log()


def test_tasks_without_a_key_use_the_fleet_default(hooks: Hooks, fake_llm: FakeLLM) -> None:
    from producer import Producer

    producer = Producer(hooks.settings)
    done = fake_llm.script(script_id("hook-fleet"), [DONE])
    created = producer.create_task({"task": f"Done. {done}"})
    events_of(hooks.receiver, "/fleet", str(created.id), 3)
    assert statuses(hooks.receiver, "/fleet", str(created.id))[-1] == ("finished", "finished")
    log = producer.webhooks.deliveries(None)
    assert any(e["task_id"] == str(created.id) and e["result"] == "delivered" for e in log)


def test_deliveries_are_counted_in_the_webhook_workers_metrics(hooks: Hooks) -> None:
    from tests.e2e.test_metrics import scrape, value

    ok, blocked = hooks.client(KEY_OK), hooks.client(KEY_BLOCKED)
    delivered_id = ok.post("/webhooks/test").json()["deliveryId"]
    blocked_id = blocked.post("/webhooks/test").json()["deliveryId"]
    for client, delivery in ((ok, delivered_id), (blocked, blocked_id)):
        wait_for(lambda c=client, d=delivery: any(
            e["deliveryId"] == d for e in c.get("/webhooks/deliveries").json()["items"]), "the attempt")
    samples = scrape(hooks.metrics_url)
    assert value(samples, "browserfleet_webhook_deliveries_total", result="delivered") >= 1
    assert value(samples, "browserfleet_webhook_deliveries_total", result="blocked") >= 1
    assert value(samples, "browserfleet_webhook_delivery_seconds_count") >= 2
    assert value(samples, "browserfleet_webhook_event_age_seconds_count") >= 1
    api_samples = scrape(hooks.api.url + "/metrics")
    assert ("browserfleet_webhook_pending_streams", ()) in api_samples
