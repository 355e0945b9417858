"""Deleting a session stops its running agent at once and kills every link it and its tasks had.

Through the front doors (``DELETE /api/v2/sessions/{id}`` over HTTP, ``Producer.sessions.delete``),
with a real worker running a real task in Chromium: the model is held in the middle of a
step, the session is deleted, and then

- the model is never called again (the worker stops when the task's record is gone, not only
  when it finds a stop flag: the delete removes that too);
- every link of the session and its task answers 404 at once: the task's ``liveUrl``, the
  session's ``liveUrl``, the public share, their event streams and step screenshots, the
  presigned log download;
- a viewer that had the share open is told and its stream ends;
- nothing of the task or session is written back by the worker afterwards.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest
import redis

from shared import keys
from tests.e2e.helpers import script_id
from tests.support.api import ApiServer
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.site import Site
from tests.support.workers import WorkerProcess

PAGE = """<!doctype html><html><head><title>Counter</title></head><body>
<p id="count">0</p><button onclick="document.getElementById('count').textContent++">More</button>
</body></html>"""


class _Viewer(threading.Thread):
    """An open SSE viewer: collects the events it is sent until its stream ends."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.opened = threading.Event()
        self.ended = threading.Event()

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, timeout=httpx.Timeout(60, read=60)) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[6:]))
                        if self.events[-1]["type"] == "task":
                            self.opened.set()
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()


def _status(url: str) -> int:
    """The status of a GET (an event stream is closed as soon as its head arrives)."""
    with httpx.stream("GET", url, timeout=30) as response:
        return response.status_code


@pytest.mark.parametrize("via", ["http", "producer"])
def test_deleting_a_session_stops_its_agent_and_revokes_every_link(
    via: str, api: ApiServer, worker: WorkerProcess, fake_llm: FakeLLM, site: Site, producer: Any,
    redis_client: redis.Redis,
) -> None:
    site.pages["/counter"] = PAGE
    held, release = threading.Event(), threading.Event()

    def script(call: Call) -> str:
        if call.index == 1:  # the agent's second step waits here for the test
            held.set()
            assert release.wait(120), "the test never released the model"
        if call.index >= 2:
            return step({"done": {"success": True, "text": "should never get here"}})
        return step({"click": {"index": call.index_of(r"<button")}}, goal=f"press More ({call.index})")

    sid = script_id("deleted-session")
    marker = fake_llm.script(sid, script)
    try:
        with api.client() as client:
            session_id = client.post("/sessions", json={}).json()["id"]
            share = client.post(f"/sessions/{session_id}/public-share").json()
            task_id = client.post("/tasks", json={
                "task": f"Keep pressing More {marker}", "sessionId": session_id,
                "startUrl": site.url + "/counter", "vision": True, "maxSteps": 10,
            }).json()["id"]
            assert held.wait(90), "the agent never reached its second step"
            task_url = client.get(f"/tasks/{task_id}").json()["liveUrl"]
            session_url = client.get(f"/sessions/{session_id}").json()["liveUrl"]
            log_url = client.get(f"/tasks/{task_id}/logs").json()["downloadUrl"]
        tokens = [url.rsplit("/", 1)[1] for url in (task_url, session_url, share["shareUrl"])]
        links = [log_url]
        for token in tokens:
            links += [
                f"{api.url}/live/{token}",
                f"{api.url}/live/{token}/events",
                f"{api.url}/live/{token}/events?task={task_id}",
                f"{api.url}/live/{token}/screenshots/{task_id}/1",
            ]
        # Positive control: every link works while the session exists.
        assert {url: _status(url) for url in links} == {url: 200 for url in links}
        viewer = _Viewer(f"{api.url}/live/{tokens[2]}/events")
        viewer.start()
        assert viewer.opened.wait(30), viewer.events

        if via == "http":
            with api.client() as client:
                assert client.delete(f"/sessions/{session_id}").status_code == 204
        else:
            producer.sessions.delete(session_id)

        # At once: every link is dead, and so are the records behind them.
        assert {url: _status(url) for url in links} == {url: 404 for url in links}
        with api.client() as client:
            assert client.get(f"/tasks/{task_id}").status_code == 404
            assert client.get(f"/sessions/{session_id}").status_code == 404
            assert client.get(f"/sessions/{session_id}/public-share").status_code == 404
        assert viewer.ended.wait(15), "the open viewer's stream was not closed"
        assert viewer.events[-1]["type"] in ("revoked", "deleted"), viewer.events[-3:]
    finally:
        release.set()

    # The model's answer to the held call arrives after the delete: the agent must not act on
    # it nor ask again. The worker's last word on the task says so.
    log = worker.log_once(f"task {task_id} stopped", timeout=60)
    assert f"task {task_id} stopped" in log, log[-3000:]
    assert len(fake_llm.calls[sid]) == 2, f"the model was called {len(fake_llm.calls[sid])} times"
    for key in (keys.task(task_id), keys.steps(task_id), keys.step_screenshots(task_id),
                keys.session(session_id), keys.session_state(session_id), keys.session_tasks(session_id)):
        assert not redis_client.exists(key), f"{key} was written again after the delete"
