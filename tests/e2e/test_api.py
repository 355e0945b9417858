"""The HTTP API over the wire: real uvicorn, real worker, real Chromium; only the LLM is scripted.

Responses are checked against the official Browser Use v2 OpenAPI document, so
"wire-compatible" is a test, not a claim.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import redis

from shared import keys
from shared.models import TaskStatus
from shared.task_store import utcnow
from tests.e2e.helpers import script_id
from tests.support.api import (
    FULL_KEY,
    SCOPED_KEY_A,
    SCOPED_KEY_B,
    ApiServer,
    check_against_spec,
    headers,
)
from tests.support.fake_llm import FakeLLM, step
from tests.support.site import Site

BUSY = "Agent session already has a running task. Please wait for it to finish or stop it manually."
STOPPED = "Browser session is stopped. Please start a new session and try again."
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string"}, "fields": {"type": "integer"}},
    "required": ["title", "fields"],
}


def wait_done(client: httpx.Client, task_id: str, timeout: float = 60) -> dict[str, Any]:
    """Poll ``/status`` like the SDKs do, then return the full task."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/tasks/{task_id}/status").json()["status"]
        if status in ("finished", "failed", "stopped"):
            return dict(client.get(f"/tasks/{task_id}").json())
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} not done after {timeout}s")


def done_script(fake_llm: FakeLLM, name: str, data: Any = None, text: str = "ok") -> str:
    done: dict[str, Any] = {"success": True, **({"data": data} if data is not None else {"text": text})}
    return fake_llm.script(script_id(name), [step({"done": done})])


def counts(redis_client: redis.Redis) -> tuple[int, int]:
    return redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)


# -- health and auth ------------------------------------------------------------------


def test_healthz_is_open_and_everything_else_needs_a_valid_key(api: ApiServer) -> None:
    health = httpx.get(api.url + "/healthz").json()
    assert health["status"] == "ok" and health["redis"] is True
    assert [set(q) for q in health["queues"]] == [{"name", "waiting", "consumers", "warning"}] * 2
    assert health["warnings"] == [q["warning"] for q in health["queues"] if q["warning"]]
    missing = httpx.get(api.base + "/tasks")
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Missing X-Browser-Use-API-Key header"}
    wrong = httpx.get(api.base + "/tasks", headers=headers("not-a-key"))
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid API key"}
    for key in (FULL_KEY, SCOPED_KEY_A):
        assert httpx.get(api.base + "/tasks", headers=headers(key)).status_code == 200


def test_keys_can_be_configured_as_sha256_digests(make_api: Callable[..., ApiServer]) -> None:
    import hashlib

    secret = "only-the-digest-is-configured"
    server = make_api(api_keys=["sha256:" + hashlib.sha256(secret.encode()).hexdigest()])
    assert httpx.get(server.base + "/tasks", headers=headers(secret)).status_code == 200
    assert httpx.get(server.base + "/tasks", headers=headers(FULL_KEY)).status_code == 401


# -- the task lifecycle, checked against the official document ------------------------


def test_task_lifecycle_matches_the_official_wire_format(
    api: ApiServer, fake_llm: FakeLLM, site: Site, official_spec: dict[str, Any]
) -> None:
    marker = done_script(fake_llm, "wire", data={"title": "Login", "fields": 2})
    with api.client() as client:
        created = client.post("/tasks", json={
            "task": f"Read the page title and count the fields. {marker}",
            "startUrl": site.url + "/login",
            "structuredOutput": json.dumps(SCHEMA),
            "metadata": {"run": "wire"},
        })
        assert created.status_code == 202, created.text
        body = created.json()
        check_against_spec(official_spec, "TaskCreatedResponse", body)
        assert set(body) == {"id", "sessionId"}
        view = wait_done(client, body["id"])
        status = client.get(f"/tasks/{body['id']}/status").json()
        listing = client.get("/tasks", params={"sessionId": body["sessionId"]}).json()
        session = client.get(f"/sessions/{body['sessionId']}").json()

    check_against_spec(official_spec, "TaskView", view)
    check_against_spec(official_spec, "TaskStatusView", status)
    check_against_spec(official_spec, "TaskListResponse", listing)
    check_against_spec(official_spec, "SessionView", session)
    assert view["status"] == "finished" and view["isSuccess"] is True
    assert json.loads(view["output"]) == {"title": "Login", "fields": 2}
    assert view["metadata"] == {"run": "wire"}
    assert ISO_Z.match(view["createdAt"]) and ISO_Z.match(view["finishedAt"])
    assert isinstance(view["cost"], str) and float(view["cost"]) > 0
    assert view["steps"] and all(isinstance(json.loads(a), dict) for a in view["steps"][0]["actions"])
    assert status["status"] == "finished" and status["output"] == view["output"]
    assert [item["id"] for item in listing["items"]] == [body["id"]]
    # A task without sessionId runs in a one-off session that stops with it.
    assert session["status"] == "stopped" and session["keepAlive"] is False
    assert [t["id"] for t in session["tasks"]] == [body["id"]]


def test_logs_are_a_download_url_served_here(api: ApiServer, fake_llm: FakeLLM, site: Site) -> None:
    marker = done_script(fake_llm, "logs", text="seen it")
    with api.client() as client:
        task_id = client.post("/tasks", json={"task": f"Look. {marker}", "startUrl": site.url}).json()["id"]
        wait_done(client, task_id)
        url = client.get(f"/tasks/{task_id}/logs").json()["downloadUrl"]
    assert url.startswith(api.base + "/downloads/")
    log = httpx.get(url)  # a presigned URL: no API key needed
    assert log.status_code == 200 and log.headers["content-type"].startswith("text/plain")
    assert f"task {task_id}" in log.text and "status: finished" in log.text
    assert '"done"' in log.text and "seen it" in log.text
    assert httpx.get(url[:-4] + "xxxx").status_code == 404


# -- validation: 422, FastAPI's shape, nothing written or enqueued ---------------------

BAD_BODIES: list[tuple[Any, str]] = [
    ({}, "task"),
    ({"task": ""}, "task"),
    ({"task": "x", "maxSteps": 0}, "maxSteps"),
    ({"task": "x", "llm": "gpt-99"}, "llm"),
    ({"task": "x", "structuredOutput": "{not json"}, "structuredOutput"),
    ({"task": "x", "sessionId": "not-a-uuid"}, "sessionId"),
    ({"task": "x", "startUrl": "file:///etc/passwd"}, "startUrl"),
    ({"task": "x", "allowedDomains": ["*"]}, "allowedDomains"),
    ({"task": "x", "secrets": {"bad name!": "hunter2"}}, "secrets"),
    ({"task": "x", "unknownField": 1}, "unknownField"),
    ([1, 2, 3], ""),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_invalid_payload_is_422_and_nothing_is_enqueued(
    make_api: Callable[..., ApiServer], redis_client: redis.Redis, body: Any, field: str
) -> None:
    server = make_api()
    before = counts(redis_client)
    with server.client() as client:
        response = client.post("/tasks", json=body)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert all(set(e) == {"loc", "msg", "type"} and e["loc"][0] == "body" for e in errors)
    if field:
        assert any(field in e["loc"] for e in errors), errors
    assert "hunter2" not in response.text  # the input is never echoed back
    assert counts(redis_client) == before
    assert redis_client.llen(server.settings.queue) == 0


def test_malformed_json_is_422(api: ApiServer) -> None:
    with api.client() as client:
        response = client.post("/tasks", content=b"{nope", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_unknown_ids_are_404_and_bad_ids_422(api: ApiServer) -> None:
    unknown = str(uuid.uuid4())
    with api.client() as client:
        for path in (f"/tasks/{unknown}", f"/tasks/{unknown}/status", f"/tasks/{unknown}/logs"):
            response = client.get(path)
            assert (response.status_code, response.json()) == (404, {"detail": "Task not found"})
        assert client.patch(f"/tasks/{unknown}", json={"action": "stop"}).status_code == 404
        assert client.get(f"/sessions/{unknown}").json() == {"detail": "Session not found"}
        assert client.delete(f"/sessions/{unknown}").status_code == 404
        created = client.post("/tasks", json={"task": "x", "sessionId": unknown})
        assert (created.status_code, created.json()) == (404, {"detail": "Session not found"})
        assert client.get("/tasks/not-a-uuid").status_code == 422
        assert client.patch(f"/tasks/{unknown}", json={"action": "pause"}).status_code == 422


# -- admission control --------------------------------------------------------------


def test_a_full_queue_answers_429_with_an_integer_retry_after(
    make_api: Callable[..., ApiServer], redis_client: redis.Redis
) -> None:
    server = make_api(max_queued_tasks=2, retry_after_s=7)
    with server.client() as client:
        assert [client.post("/tasks", json={"task": "x"}).status_code for _ in range(2)] == [202, 202]
        before = counts(redis_client)
        refused = client.post("/tasks", json={"task": "x"})
        account = client.get("/billing/account").json()
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "7"
    assert "2 tasks waiting" in refused.json()["detail"]
    assert counts(redis_client) == before and redis_client.llen(server.settings.queue) == 2
    assert (account["queuedTasks"], account["maxQueuedTasks"]) == (2, 2)


# -- sessions: the rules hold under concurrency -----------------------------------------


def test_racing_creates_on_one_session_have_exactly_one_winner(make_api: Callable[..., ApiServer]) -> None:
    server = make_api()
    with server.client() as client:
        session_id = client.post("/sessions", json={}).json()["id"]
    results: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def create() -> None:
        with server.client() as client:
            barrier.wait()
            results.append(client.post("/tasks", json={"task": "race", "sessionId": session_id}))

    threads = [threading.Thread(target=create) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    codes = sorted(r.status_code for r in results)
    assert codes == [202] + [400] * 7
    assert all(r.json() == {"detail": BUSY} for r in results if r.status_code == 400)
    with server.client() as client:
        tasks = client.get(f"/sessions/{session_id}").json()["tasks"]
        assert len(tasks) == 1
        # Stopping the queued task frees the session; stopping the session closes it.
        client.patch(f"/tasks/{tasks[0]['id']}", json={"action": "stop"})
        assert client.post("/tasks", json={"task": "next", "sessionId": session_id}).status_code == 202
        stopped = client.patch(f"/sessions/{session_id}", json={"action": "stop"}).json()
        assert stopped["status"] == "stopped" and {t["status"] for t in stopped["tasks"]} == {"stopped"}
        refused = client.post("/tasks", json={"task": "late", "sessionId": session_id})
        assert (refused.status_code, refused.json()) == (400, {"detail": STOPPED})


def test_stop_task_and_session(make_api: Callable[..., ApiServer]) -> None:
    server = make_api()
    with server.client() as client:
        session_id = client.post("/sessions", json={"keepAlive": True}).json()["id"]
        task_id = client.post("/tasks", json={"task": "x", "sessionId": session_id}).json()["id"]
        view = client.patch(f"/tasks/{task_id}", json={"action": "stop_task_and_session"}).json()
        assert view["status"] == "stopped"
        assert client.get(f"/sessions/{session_id}").json()["status"] == "stopped"


@pytest.mark.parametrize("suffix", ["/status", ""])
def test_polls_carry_an_etag_and_answer_304_until_the_task_changes(
    make_api: Callable[..., ApiServer], official_spec: dict[str, Any], suffix: str
) -> None:
    server = make_api()
    with server.client() as client:
        task_id = client.post("/tasks", json={"task": "x"}).json()["id"]
        path = f"/tasks/{task_id}{suffix}"
        first = client.get(path)
        tag = first.headers["etag"]
        assert first.status_code == 200 and re.fullmatch(r'"[0-9a-f]{24}"', tag)
        check_against_spec(official_spec, "TaskStatusView" if suffix else "TaskView", first.json())
        assert client.get(path).headers["etag"] == tag  # same body, same tag
        for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
            again = client.get(path, headers={"If-None-Match": header})
            assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
        assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200
        client.patch(f"/tasks/{task_id}", json={"action": "stop"})
        changed = client.get(path, headers={"If-None-Match": tag})
        assert changed.status_code == 200 and changed.json()["status"] == "stopped"
        assert changed.headers["etag"] != tag
        other = client.get(f"/tasks/{uuid.uuid4()}{suffix}", headers={"If-None-Match": "*"})
        assert other.status_code == 404


def test_a_status_poll_finishes_a_task_whose_judge_is_overdue(make_api: Callable[..., ApiServer]) -> None:
    server = make_api()
    producer = server.app.state.producer
    with server.client() as client:
        task_id = client.post("/tasks", json={"task": "x"}).json()["id"]
        producer.store.transition(task_id, TaskStatus.started, [TaskStatus.created], started_at=utcnow())
        producer.store.update(task_id, output="hi", judge_deadline=utcnow() + timedelta(seconds=30))
        assert client.get(f"/tasks/{task_id}/status").json()["status"] == "started"
        producer.store.update(task_id, judge_deadline=utcnow() - timedelta(seconds=1))
        polled = client.get(f"/tasks/{task_id}/status").json()
        assert (polled["status"], polled["output"]) == ("finished", "hi")
        assert polled["finishedAt"] is not None


def test_list_filters_and_pagination(make_api: Callable[..., ApiServer]) -> None:
    server = make_api()
    with server.client() as client:
        session_id = client.post("/sessions").json()["id"]
        ids = []
        for n in range(3):
            ids.append(client.post("/tasks", json={"task": f"t{n}", "sessionId": session_id}).json()["id"])
            if n < 2:
                client.patch(f"/tasks/{ids[-1]}", json={"action": "stop"})
            time.sleep(0.01)
        middle = client.get(f"/tasks/{ids[1]}").json()["createdAt"]

        def page(**params: Any) -> list[str]:
            listing = client.get("/tasks", params={"sessionId": session_id, **params}).json()
            return [t["id"] for t in listing["items"]]

        assert page() == ids[::-1]
        assert page(filterBy="stopped") == [ids[1], ids[0]]
        assert page(filterBy="created") == [ids[2]]
        assert page(pageSize=2, pageNumber=2) == [ids[0]]
        assert page(after=middle) == [ids[2], ids[1]]
        assert page(before=middle) == [ids[1], ids[0]]
        assert client.get("/tasks", params={"pageSize": 101}).status_code == 422
        assert client.get("/tasks", params={"filterBy": "paused"}).status_code == 422
        listing = client.get("/tasks", params={"sessionId": session_id, "pageSize": 2}).json()
        assert (listing["totalItems"], listing["pageSize"], listing["pageNumber"]) == (3, 2, 1)
        active = client.get("/sessions", params={"filterBy": "active"}).json()["items"]
        assert session_id in [s["id"] for s in active]


def test_scoped_keys_see_only_their_own_tasks_and_sessions(make_api: Callable[..., ApiServer]) -> None:
    server = make_api()
    with server.client(SCOPED_KEY_A) as a, server.client(SCOPED_KEY_B) as b, server.client() as admin:
        task_id = a.post("/tasks", json={"task": "mine"}).json()["id"]
        session_id = a.post("/sessions").json()["id"]
        assert a.get(f"/tasks/{task_id}").status_code == 200
        assert admin.get(f"/tasks/{task_id}").status_code == 200
        for response in (
            b.get(f"/tasks/{task_id}"),
            b.get(f"/tasks/{task_id}/status"),
            b.patch(f"/tasks/{task_id}", json={"action": "stop"}),
            b.get(f"/sessions/{session_id}"),
            b.delete(f"/sessions/{session_id}"),
            b.post("/tasks", json={"task": "hijack", "sessionId": session_id}),
        ):
            assert response.status_code == 404, response.text
        def ids(client: httpx.Client, path: str) -> list[str]:
            return [item["id"] for item in client.get(path, params={"pageSize": 100}).json()["items"]]

        assert task_id not in ids(b, "/tasks") and session_id not in ids(b, "/sessions")
        assert task_id in ids(a, "/tasks") and session_id in ids(a, "/sessions")
        assert a.get(f"/tasks/{task_id}").json()["status"] == "created"


def test_create_session_options_and_refusals(
    make_api: Callable[..., ApiServer], official_spec: dict[str, Any]
) -> None:
    own_key = f"bf-test-{uuid.uuid4().hex}"  # a scoped key of its own: the limit counts its sessions
    server = make_api(max_active_sessions=1, scoped_api_keys=[own_key])
    with server.client(own_key) as client:
        created = client.post("/sessions", json={"persistMemory": False, "keepAlive": True})
        assert created.status_code == 201
        check_against_spec(official_spec, "SessionItemView", created.json())
        assert created.json()["persistMemory"] is False and created.json()["status"] == "active"
        full = client.post("/sessions")
        assert full.status_code == 429 and "Too many concurrent active sessions" in full.json()["detail"]
        account = client.get("/billing/account").json()
        check_against_spec(official_spec, "AccountView", account)
        assert (account["concurrentSessionLimit"], account["activeSessionCount"]) == (1, 1)
        client.delete(f"/sessions/{created.json()['id']}")
        assert client.post("/sessions", json={"profileId": str(uuid.uuid4())}).json() == {
            "detail": "Profile not found"
        }
        proxy = client.post("/sessions", json={"customProxy": {"host": "p", "port": 1}})
        assert proxy.status_code == 422 and proxy.json()["detail"][0]["loc"] == ["body", "customProxy"]


def test_delete_session_removes_its_tasks(make_api: Callable[..., ApiServer]) -> None:
    server = make_api()
    with server.client() as client:
        session_id = client.post("/sessions").json()["id"]
        task_id = client.post("/tasks", json={"task": "x", "sessionId": session_id}).json()["id"]
        deleted = client.delete(f"/sessions/{session_id}")
        assert deleted.status_code == 204 and deleted.content == b""
        assert client.get(f"/sessions/{session_id}").status_code == 404
        assert client.get(f"/tasks/{task_id}").status_code == 404


# -- the served document ---------------------------------------------------------------


def test_served_openapi_covers_the_official_routes_it_claims(
    api: ApiServer, official_spec: dict[str, Any]
) -> None:
    ours = httpx.get(api.base + "/openapi.json").json()
    official = {(m, p) for p, ops in official_spec["paths"].items() for m in ops}
    served = {(m, p.removeprefix("/api/v2")) for p, ops in ours["paths"].items() for m in ops}
    ours_only = ("/downloads/", "/live-url")  # presigned downloads; revoking a liveUrl (our own field)
    extra = {(m, p) for m, p in served - official if not any(o in p for o in ours_only)}
    assert not extra, f"routes the official API does not have: {extra}"
    assert ours["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-Browser-Use-API-Key"
    ours_create = ours["components"]["schemas"]["CreateTaskRequest"]["properties"]
    official_create = official_spec["components"]["schemas"]["CreateTaskRequest"]["properties"]
    assert set(official_create) <= set(ours_create)  # every official field (the SDK adds thinkingLevel)
    assert "gpt-4.1-mini" in json.dumps(ours_create["llm"])


def test_browserfleet_api_command_serves_healthz(settings: Any, redis_client: redis.Redis) -> None:
    port = free_port()
    env = {**os.environ, "BROWSERFLEET_API_KEYS": FULL_KEY}
    proc = subprocess.Popen(
        [sys.executable, "-m", "producer.cli", "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz")
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, "browserfleet api did not start"
                time.sleep(0.1)
        assert health.json()["status"] == "ok" and health.json()["redis"] is True
        probe = subprocess.run(
            [sys.executable, "deploy/healthcheck.py", "api", "--port", str(port)],
            capture_output=True, text=True,
        )
        assert probe.returncode == 0, probe.stdout
        tasks = httpx.get(f"http://127.0.0.1:{port}/api/v2/tasks", headers=headers())
        assert tasks.status_code == 200
    finally:
        proc.terminate()
        proc.wait(10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_output_files_are_served_through_a_download_url(make_api: Callable[..., ApiServer]) -> None:
    server = make_api()
    producer = server.app.state.producer
    with server.client() as client, server.client(SCOPED_KEY_B) as stranger:
        task_id = client.post("/tasks", json={"task": "make a file"}).json()["id"]
        kept = producer.store.add_output_file(task_id, "report.csv", b"a,b\n1,2\n", "text/csv", 1_000_000)
        assert client.get(f"/tasks/{task_id}").json()["outputFiles"] == [
            {"id": str(kept.id), "fileName": "report.csv"}
        ]
        found = client.get(f"/files/tasks/{task_id}/output-files/{kept.id}")
        missing = client.get(f"/files/tasks/{task_id}/output-files/{uuid.uuid4()}")
        hidden = stranger.get(f"/files/tasks/{task_id}/output-files/{kept.id}")
    assert found.status_code == 200 and found.json()["fileName"] == "report.csv"
    download = httpx.get(found.json()["downloadUrl"])
    assert download.content == b"a,b\n1,2\n" and download.headers["content-type"].startswith("text/csv")
    assert 'filename="report.csv"' in download.headers["content-disposition"]
    assert (missing.status_code, missing.json()) == (404, {"detail": "Output file not found"})
    assert (hidden.status_code, hidden.json()) == (404, {"detail": "Task not found"})
