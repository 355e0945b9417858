"""The official ``browser-use-sdk`` pointed at browserfleet: only ``base_url`` changes.

The current 3.x client runs in this process; the older Fern-generated 2.0.x client
(``create_task(...).complete()``) is installed into its own directory and run in a
subprocess, so the two versions never meet in one interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from browser_use_sdk import BrowserUse, BrowserUseError
from pydantic import BaseModel

from shared import keys
from tests.e2e.helpers import script_id
from tests.support.api import FULL_KEY, ApiServer
from tests.support.fake_llm import Call, FakeLLM, Reply, step
from tests.support.legacy_sdk import LEGACY_SDK_VERSION, legacy_sdk
from tests.support.site import Site


class LoginPage(BaseModel):
    title: str
    fields: int


@pytest.fixture
def client(api: ApiServer) -> Iterator[BrowserUse]:
    with BrowserUse(api_key=FULL_KEY, base_url=api.base) as sdk:
        yield sdk


def login_page_script(call: Call) -> str:
    lines = call.user.splitlines()
    fields = sum("<input" in line for line in lines if line.lstrip().startswith("["))
    title = next(line for line in lines if line.startswith("title: ")).removeprefix("title: ")
    return step({"done": {"success": True, "data": {"title": title, "fields": fields}}})


def test_run_with_output_schema_returns_the_parsed_model(
    client: BrowserUse, fake_llm: FakeLLM, site: Site
) -> None:
    marker = fake_llm.script(script_id("sdk-run"), login_page_script)
    result = client.run(
        f"What is the page title, and how many input fields are there? {marker}",
        output_schema=LoginPage,
        start_url=site.url + "/login",
    )
    assert result.output == LoginPage(title="Login", fields=2)
    assert result.status.value == "finished" and result.is_success is True
    assert result.steps and json.loads(result.steps[0].actions[0])["done"]["data"]["fields"] == 2


def test_create_wait_status_logs(client: BrowserUse, fake_llm: FakeLLM, site: Site) -> None:
    marker = fake_llm.script(script_id("sdk-wait"), [step({"done": {"text": "hello", "success": True}})])
    created = client.tasks.create(f"Say hello. {marker}", start_url=site.url, metadata={"via": "sdk"})
    view = client.tasks.wait(str(created.id), timeout=60, interval=0.2)
    assert view.status.value == "finished" and view.output == "hello"
    assert view.session_id == created.session_id and view.metadata == {"via": "sdk"}
    assert client.tasks.status(str(created.id)).output == "hello"
    log = httpx.get(client.tasks.logs(str(created.id)).download_url)
    assert log.status_code == 200 and "hello" in log.text


def test_stop_a_running_task(client: BrowserUse, fake_llm: FakeLLM, site: Site) -> None:
    waiting = Reply(step({"wait": {"seconds": 1}}), delay_s=0.3)
    slow = fake_llm.script(script_id("sdk-stop"), lambda call: waiting)
    created = client.tasks.create(f"Wait forever. {slow}", start_url=site.url)
    deadline = time.monotonic() + 30
    while client.tasks.status(str(created.id)).status.value != "started":
        assert time.monotonic() < deadline, "task never started"
        time.sleep(0.05)
    client.tasks.stop(str(created.id))
    view = client.tasks.wait(str(created.id), timeout=30, interval=0.1)
    assert view.status.value == "stopped"


def test_list_with_filters(client: BrowserUse, fake_llm: FakeLLM, site: Site) -> None:
    marker = fake_llm.script(script_id("sdk-list"), [step({"done": {"text": "x", "success": True}})])
    session = client.sessions.create()
    ids = []
    for n in range(2):
        created = client.tasks.create(f"Task {n}. {marker}", start_url=site.url, session_id=str(session.id))
        client.tasks.wait(str(created.id), timeout=60, interval=0.1)
        ids.append(str(created.id))
    listing = client.tasks.list(session_id=str(session.id), filter_by="finished", page_size=1, page_number=1)
    assert listing.total_items == 2 and [str(t.id) for t in listing.items] == [ids[1]]
    assert client.tasks.list(session_id=str(session.id), filter_by="failed").items == []
    after = client.tasks.list(session_id=str(session.id), after=listing.items[0].created_at.isoformat())
    assert [str(t.id) for t in after.items] == [ids[1]]


def test_session_flow(client: BrowserUse, fake_llm: FakeLLM, site: Site) -> None:
    marker = fake_llm.script(script_id("sdk-session"), [step({"done": {"text": "in session"}})])
    session = client.sessions.create(persist_memory=True, keep_alive=True)
    assert session.status.value == "active" and session.persist_memory is True
    created = client.tasks.create(f"Work. {marker}", start_url=site.url, session_id=str(session.id))
    assert created.session_id == session.id
    client.tasks.wait(str(created.id), timeout=60, interval=0.1)
    view = client.sessions.get(str(session.id))
    assert [t.id for t in view.tasks] == [created.id] and view.tasks[0].status.value == "finished"
    stopped = client.sessions.stop(str(session.id))
    assert stopped.status.value == "stopped" and stopped.finished_at is not None
    with pytest.raises(BrowserUseError) as refused:
        client.tasks.create(f"More. {marker}", session_id=str(session.id))
    assert refused.value.status_code == 400
    assert refused.value.message == "Browser session is stopped. Please start a new session and try again."
    stopped_ids = [s.id for s in client.sessions.list(filter_by="stopped", page_size=100).items]
    assert session.id in stopped_ids
    client.sessions.delete(str(session.id))
    with pytest.raises(BrowserUseError) as gone:
        client.sessions.get(str(session.id))
    assert gone.value.status_code == 404 and gone.value.message == "Session not found"


def test_errors(client: BrowserUse, api: ApiServer, redis_client: redis.Redis) -> None:
    with pytest.raises(BrowserUseError) as unknown:
        client.tasks.get(str(uuid.uuid4()))
    assert (unknown.value.status_code, unknown.value.message) == (404, "Task not found")
    stranger = BrowserUse(api_key="wrong-key", base_url=api.base)
    with pytest.raises(BrowserUseError) as denied:
        stranger.tasks.list()
    assert denied.value.status_code == 401
    before = (redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX))
    invalid: list[tuple[str, dict[str, Any]]] = [
        ("", {}),
        ("x", {"max_steps": 0}),
        ("x", {"llm": "gpt-99"}),
        ("x", {"structured_output": "{not json"}),
        ("x", {"start_url": "file:///etc/passwd"}),
        ("x", {"metadata": {str(n): "v" for n in range(11)}}),
        ("x", {"session_id": "not-a-uuid"}),
    ]
    for task, options in invalid:
        with pytest.raises(BrowserUseError) as rejected:
            client.tasks.create(task, **options)
        assert rejected.value.status_code == 422, (task, options)
        assert isinstance(rejected.value.detail["detail"], list)
    assert (redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)) == before


def test_account_and_skills_parse(client: BrowserUse) -> None:
    account = client.billing.account()
    assert account.concurrent_session_limit == 0  # no limit in these tests (see api_settings)
    assert account.active_session_count >= 0 and account.rate_limit == 0
    assert account.plan_info.plan_name == "self-hosted"
    skills = client.skills.list(page_size=100)
    assert skills.total_items == len(skills.items)
    assert skills.items, "the worker publishes its built-in skills"
    assert all(skill.slug and skill.status.value == "finished" for skill in skills.items)


# -- the older Fern-generated client --------------------------------------------------

LEGACY_FLOW = """
import json, sys
from browser_use_sdk import BrowserUse
from browser_use_sdk.version import __version__
from pydantic import BaseModel

class LoginPage(BaseModel):
    title: str
    fields: int

base, key, start, structured, text, failing = sys.argv[1:7]
client = BrowserUse(api_key=key, base_url=base)
parsed = client.tasks.create_task(task="Read the page. " + structured, start_url=start, schema=LoginPage)
parsed = parsed.complete(0.2)
plain = client.tasks.create_task(task="Say hi. " + text, start_url=start).complete(0.2)
failed = client.tasks.create_task(task="Fail. " + failing, start_url=start).complete(0.2)
print(json.dumps({
    "version": __version__,
    "parsed": parsed.parsed_output.model_dump(),
    "plain": [plain.status, plain.output],
    "failed": [failed.status, failed.is_success, (failed.model_extra or {}).get("error")],
}))
"""


def test_legacy_fern_client_complete_returns_even_for_a_failed_task(
    api: ApiServer, fake_llm: FakeLLM, site: Site
) -> None:
    path = legacy_sdk()
    structured = fake_llm.script(script_id("legacy-schema"), login_page_script)
    text = fake_llm.script(script_id("legacy-text"), [step({"done": {"text": "hi", "success": True}})])
    failing = fake_llm.script(script_id("legacy-fail"), lambda call: "not JSON at all")
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(LEGACY_FLOW), api.base, FULL_KEY, site.url + "/login",
         structured, text, failing],
        env={**os.environ, "PYTHONPATH": str(path)},
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["version"] == LEGACY_SDK_VERSION
    assert out["parsed"] == {"title": "Login", "fields": 2}
    assert out["plain"] == ["finished", "hi"]
    # 2.0.x knows no "failed": it sees "stopped" (terminal), unsuccessful, with the reason.
    status, success, error = out["failed"]
    assert (status, success) == ("stopped", None) and "consecutive failed steps" in error
