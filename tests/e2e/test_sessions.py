"""Sessions carry browser state between their tasks, across worker processes, encrypted at rest."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from shared import crypto, keys
from shared.settings import Settings
from tests.conftest import WorkerProcess
from tests.e2e.helpers import script_id
from tests.e2e.test_api import STOPPED, wait_done
from tests.support.api import ApiServer
from tests.support.fake_llm import Call, FakeLLM, Reply, step
from tests.support.site import PASSWORD, Site

MEMORY_TAG = "<earlier_tasks_in_session>"


def login_script(call: Call) -> str:
    """Log in as ada on the local site, then report."""
    if "title: Login" in call.user:
        return step(
            {"input": {"index": call.index_of("placeholder=Username"), "text": "ada"}},
            {"input": {"index": call.index_of("placeholder=Password"), "text": "<secret>password</secret>"}},
            {"click": {"index": call.index_of("Log in")}},
        )
    return step({"done": {"text": "logged in", "success": True}})


def report_script(call: Call) -> str:
    """Say whether the page shows a logged-in user, without touching anything."""
    logged_in = "title: Order" in call.user and "Welcome, ada" in call.user
    return step({"done": {"text": "logged-in" if logged_in else "not-logged-in", "success": True}})


@pytest.fixture(scope="module")
def second_worker(
    settings: Settings, worker: WorkerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[WorkerProcess, str]]:
    """Another worker process, on a queue of its own (same Redis, same keys)."""
    queue = settings.queue + "-b"
    proc = WorkerProcess({"BROWSERFLEET_QUEUE": queue}, queue, tmp_path_factory.mktemp("w2") / "worker.log")
    yield proc, queue
    proc.stop()


def test_login_follows_the_session_to_another_worker_process(
    api: ApiServer,
    make_api: Callable[..., ApiServer],
    second_worker: tuple[WorkerProcess, str],
    worker: WorkerProcess,
    fake_llm: FakeLLM,
    site: Site,
    settings: Settings,
    redis_client: redis.Redis,
) -> None:
    other_worker, queue_b = second_worker
    api_b = make_api(queue=queue_b)  # same Redis; its tasks go to the second worker
    login = fake_llm.script(script_id("login"), login_script)
    report_id = script_id("report")
    report = fake_llm.script(report_id, report_script)
    with api.client() as client, api_b.client() as client_b:
        session_id = client.post("/sessions", json={"persistMemory": True}).json()["id"]
        first = client.post("/tasks", json={
            "task": f"Log in as ada. {login}", "startUrl": site.url + "/login",
            "sessionId": session_id, "secrets": {"password": PASSWORD},
        }).json()
        assert wait_done(client, first["id"])["output"] == "logged in"

        second = client_b.post("/tasks", json={"task": f"Am I logged in? {report}", "sessionId": session_id})
        assert second.status_code == 202, second.text
        resumed = wait_done(client_b, second.json()["id"])

        other_session = client.post("/sessions").json()["id"]
        stranger = client.post("/tasks", json={
            "task": f"Am I logged in? {report}", "startUrl": site.url + "/order", "sessionId": other_session,
        }).json()
        fresh = wait_done(client, stranger["id"])
        session = client.get(f"/sessions/{session_id}").json()

    assert resumed["output"] == "logged-in", resumed
    assert fresh["output"] == "not-logged-in"
    # Task 2 ran in the other process, resumed at task 1's last URL, and was told about task 1.
    assert second.json()["id"] in other_worker.log() and second.json()["id"] not in worker.log()
    first_prompt = fake_llm.calls[report_id][0].user
    assert f"url: {site.url}/order" in first_prompt
    assert MEMORY_TAG in first_prompt and "Log in as ada" in first_prompt and "logged in" in first_prompt
    assert MEMORY_TAG not in fake_llm.calls[report_id][1].user  # the other session has no history
    assert session["status"] == "active"
    assert [t["id"] for t in session["tasks"]] == [first["id"], second.json()["id"]]

    # At rest the state is ciphertext, readable only with the key, and expires with the idle timeout.
    token = redis_client.get(keys.session_state(session_id))
    assert token and "ada" not in token and "cookies" not in token
    state: Any = crypto.decrypt_json(token, settings.secrets_key, purpose=crypto.SESSION_STATE,
                                     owner=session_id)
    assert {"name": "user", "value": "ada"}.items() <= state["storage_state"]["cookies"][0].items()
    assert state["url"] == site.url + "/order"
    assert 0 < redis_client.ttl(keys.session_state(session_id)) <= settings.session_idle_timeout_s


def test_without_persist_memory_the_agent_gets_no_history(
    api: ApiServer, fake_llm: FakeLLM, site: Site
) -> None:
    sid = script_id("nomemory")
    marker = fake_llm.script(sid, [step({"done": {"text": "done", "success": True}})])
    with api.client() as client:
        session_id = client.post("/sessions", json={"persistMemory": False}).json()["id"]
        for n in range(2):
            task = client.post("/tasks", json={
                "task": f"Task {n}. {marker}", "startUrl": site.url, "sessionId": session_id,
            }).json()
            wait_done(client, task["id"])
    assert all(MEMORY_TAG not in call.user for call in fake_llm.calls[sid])


def test_stopping_a_session_stops_its_running_task_and_drops_its_state(
    api: ApiServer, fake_llm: FakeLLM, site: Site, redis_client: redis.Redis
) -> None:
    slow = fake_llm.script(script_id("slow"), lambda call: Reply(step({"wait": {"seconds": 1}}), delay_s=0.3))
    with api.client() as client:
        session_id = client.post("/sessions").json()["id"]
        redis_client.set(keys.session_state(session_id), "stale", ex=60)
        task_id = client.post("/tasks", json={
            "task": f"Wait forever. {slow}", "startUrl": site.url, "sessionId": session_id,
        }).json()["id"]
        deadline = time.monotonic() + 30
        while client.get(f"/tasks/{task_id}/status").json()["status"] != "started":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        stopped = client.patch(f"/sessions/{session_id}", json={"action": "stop"}).json()
        assert stopped["status"] == "stopped" and stopped["finishedAt"]
        view = wait_done(client, task_id, timeout=30)
        refused = client.post("/tasks", json={"task": "more", "sessionId": session_id})
    assert view["status"] == "stopped"
    assert (refused.status_code, refused.json()) == (400, {"detail": STOPPED})
    assert redis_client.get(keys.session_state(session_id)) is None


def test_idle_sessions_expire(make_api: Callable[..., ApiServer], redis_client: redis.Redis) -> None:
    server = make_api(session_idle_timeout_s=1)
    with server.client() as client:
        idle = client.post("/sessions").json()["id"]
        redis_client.set(keys.session_state(idle), "state", ex=60)
        time.sleep(1.3)
        view = client.get(f"/sessions/{idle}").json()
        refused = client.post("/tasks", json={"task": "late", "sessionId": idle})
        active = [s["id"] for s in client.get("/sessions", params={"filterBy": "active"}).json()["items"]]
    assert view["status"] == "stopped" and view["finishedAt"]
    assert (refused.status_code, refused.json()) == (400, {"detail": STOPPED})
    assert idle not in active
    assert redis_client.get(keys.session_state(idle)) is None


def test_a_busy_session_is_never_idle(make_api: Callable[..., ApiServer]) -> None:
    server = make_api(session_idle_timeout_s=1)
    with server.client() as client:
        session_id = client.post("/sessions").json()["id"]
        task_id = client.post("/tasks", json={"task": "queued", "sessionId": session_id}).json()["id"]
        time.sleep(1.3)
        assert client.get(f"/sessions/{session_id}").json()["status"] == "active"
        busy = client.post("/tasks", json={"task": "second", "sessionId": session_id})
        assert busy.status_code == 400 and "already has a running task" in busy.json()["detail"]
        client.patch(f"/tasks/{task_id}", json={"action": "stop"})
        # The task's end restarts the idle clock.
        assert client.get(f"/sessions/{session_id}").json()["status"] == "active"
