"""The live view, in a real browser: frames and steps of a running task, sealed secrets, shares.

A real worker runs the task in its Chromium; the test's own Chromium (Playwright) opens
the task's ``liveUrl`` served by the real API, exactly as a person would. Frames go
worker -> Redis pub/sub -> API -> the page (Server-Sent Events).

The secret check needs no OCR: the page under test paints whatever is typed into its
field in huge text on a pure red box (red only while it holds text). A frame taken
while the secret is on screen would be mostly red; the test counts red pixels in every
frame the viewer received (decoded by the viewer's own canvas), after proving on a
positive control that the detector sees the box.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page

from shared import keys
from shared.live_links import LiveLinks
from shared.models import TaskStatus
from tests.e2e.helpers import script_id
from tests.support.api import ApiServer, check_against_spec, headers
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.site import Site

SECRET = "Q7-ZEBRA-4411"

TYPING_PAGE = """<!doctype html><html><head><title>Live typing</title><style>
body { margin:0; font-family: sans-serif; background:#fff; }
#counter { font-size:64px; padding:20px; }
#big { font-size:140px; font-weight:900; color:#fff; min-height:10px; padding:10px; }
#big:not(:empty) { background:#ff0000; }
</style></head><body>
<div id="counter">clicked 0 times</div>
<button id="more" onclick="n++; document.getElementById('counter').textContent = 'clicked ' + n + ' times';
  document.body.style.background = n % 2 ? '#cde' : '#fff';">More</button>
<input id="pin" placeholder="PIN" oninput="document.getElementById('big').textContent = this.value">
<div id="big"></div>
<script>let n = 0;</script>
</body></html>"""

# Counts strongly red pixels of an image (a data URL), drawn on a canvas in the viewer page.
RED_PIXELS_JS = """async (src) => {
  const img = new Image();
  img.src = src;
  await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let red = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] > 200 && data[i + 1] < 70 && data[i + 2] < 70) red++;
  }
  return red / (canvas.width * canvas.height);
}"""

COLLECT_FRAMES_JS = """
window.__frames = [];
document.addEventListener('bf-frame', (e) => window.__frames.push(e.detail));
"""


@pytest.fixture
def typing_site(site: Site) -> Iterator[str]:
    site.pages["/live-typing"] = TYPING_PAGE
    yield site.url + "/live-typing"


class Gate:
    """Holds the fake LLM at a given call until the test opens it."""

    def __init__(self) -> None:
        self.events: dict[int, threading.Event] = {}

    def at(self, index: int) -> threading.Event:
        return self.events.setdefault(index, threading.Event())

    def wait(self, index: int) -> None:
        if index in self.events:
            assert self.events[index].wait(90), f"the test never opened LLM call {index}"

    def open_all(self) -> None:
        for event in self.events.values():
            event.set()


def _until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


async def _open_viewer(browser: Browser, url: str, bypass_csp: bool = True) -> Page:
    """The viewer in a fresh context; ``bypass_csp`` lets Playwright's string predicates run (eval)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=bypass_csp)
    await context.add_init_script(COLLECT_FRAMES_JS)
    page = await context.new_page()
    await page.goto(url)
    return page


def _frames(loop: asyncio.AbstractEventLoop, page: Page) -> list[str]:
    return list(loop.run_until_complete(page.evaluate("window.__frames")))


def _red(loop: asyncio.AbstractEventLoop, page: Page, data_b64: str) -> float:
    return float(loop.run_until_complete(page.evaluate(RED_PIXELS_JS, "data:image/jpeg;base64," + data_b64)))


def test_live_view_streams_frames_and_steps_and_never_a_secret(
    api: ApiServer, fake_llm: FakeLLM, typing_site: str, loop: asyncio.AbstractEventLoop,
    browser: Browser, redis_client: Any,
) -> None:
    gate = Gate()
    for index in (0, 1, 2, 3):
        gate.at(index)

    def script(call: Call) -> str:
        gate.wait(call.index)
        if call.index in (0, 1):
            return step({"click": {"index": call.index_of(r"<button")}}, goal=f"click More ({call.index})")
        if call.index == 2:
            return step({"input": {"index": call.index_of(r"<input"), "text": "<secret>pin</secret>"}},
                        goal="type the PIN")
        return step({"done": {"success": True, "text": "typed it"}}, goal="finish")

    marker = fake_llm.script(script_id("live"), script)
    with api.client() as client:
        created = client.post("/tasks", json={
            "task": f"Click twice then type the PIN {marker}", "startUrl": typing_site,
            "secrets": {"pin": SECRET}, "vision": True, "maxSteps": 6,
        }).json()
        task_id = created["id"]
        view = client.get(f"/tasks/{task_id}").json()
    live_url = view["liveUrl"]
    assert live_url and live_url.startswith(api.url + "/live/")
    try:
        page = loop.run_until_complete(_open_viewer(browser, live_url))
        # Frames arrive while the task waits for its first LLM answer.
        loop.run_until_complete(page.wait_for_function("window.__frames.length >= 1", timeout=30_000))
        first = _frames(loop, page)[-1]
        gate.at(0).set()
        loop.run_until_complete(page.wait_for_function(
            "document.querySelectorAll('.step').length >= 1", timeout=30_000))
        gate.at(1).set()
        loop.run_until_complete(page.wait_for_function(
            "document.querySelectorAll('.step').length >= 2", timeout=30_000))
        # The page changed (counter, background): so did the frames.
        loop.run_until_complete(page.wait_for_function(
            f"window.__frames.length > 0 && window.__frames[window.__frames.length - 1] !== {first!r}",
            timeout=30_000))
        steps_text = loop.run_until_complete(page.inner_text("#steps"))
        assert "click More (0)" in steps_text and "click More (1)" in steps_text

        gate.at(2).set()  # the agent types the secret; the page paints it huge and red
        loop.run_until_complete(page.wait_for_function(
            "document.querySelectorAll('.step').length >= 3", timeout=30_000))
        loop.run_until_complete(asyncio.sleep(2))  # time for frames of the typed page to arrive (if any)
        gate.at(3).set()
        loop.run_until_complete(page.wait_for_function("window.viewer.state === 'ended'", timeout=60_000))

        frames = _frames(loop, page)
        assert len(frames) >= 2
        assert len({*frames}) >= 2, "frames never changed"
        reds = [_red(loop, page, frame) for frame in frames]
        assert max(reds) < 0.01, f"a frame shows the red secret box: {max(reds):.3f} of its pixels"
        # Positive control: the detector does see the box when it holds text.
        control = loop.run_until_complete(_control_frame(browser, typing_site))
        assert _red(loop, page, control) > 0.05
        # Steps show the placeholder, never the value.
        html = loop.run_until_complete(page.content())
        assert "&lt;secret&gt;pin&lt;/secret&gt;" in html and SECRET not in html
        assert "typed it" in loop.run_until_complete(page.inner_text("#output"))
        assert loop.run_until_complete(page.evaluate("window.viewer.sealed || 0")) >= 1
    finally:
        gate.open_all()
    stats = LiveLinks(redis_client, 60).stats(task_id)
    assert stats["sent"] >= 2 and stats["withheld"] >= 1, stats
    assert stats["bytes"] > 0
    # The replay: a step screenshot is served by the viewer's token, and it is not the secret.
    token = live_url.rsplit("/", 1)[1]
    shot = httpx.get(f"{api.url}/live/{token}/screenshots/{task_id}/1")
    assert shot.status_code == 200 and shot.content[:2] == b"\xff\xd8"
    # Step 4 looked at a page showing the secret: no screenshot was taken, so none is served.
    assert httpx.get(f"{api.url}/live/{token}/screenshots/{task_id}/4").status_code == 404


async def _control_frame(browser: Browser, url: str) -> str:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    await page.goto(url)
    await page.fill("#pin", "1234")
    image = await page.screenshot(type="jpeg", quality=60)
    await context.close()
    return base64.b64encode(image).decode()


def test_finished_task_viewer_replays_steps_output_and_cost(
    api: ApiServer, fake_llm: FakeLLM, typing_site: str, loop: asyncio.AbstractEventLoop, browser: Browser,
    producer: Any,
) -> None:
    marker = fake_llm.script(script_id("replay"), [
        step({"click": {"index": 1}}, goal="press More"),
        step({"done": {"success": True, "text": "all done"}}, goal="report"),
    ])
    with api.client() as client:
        task_id = client.post("/tasks", json={
            "task": f"Press more {marker}", "startUrl": typing_site, "vision": True,
        }).json()["id"]
        producer.wait(task_id, timeout=60)
        view = client.get(f"/tasks/{task_id}").json()
    assert view["status"] == "finished"
    assert "default-src 'none'" in httpx.get(view["liveUrl"]).headers["content-security-policy"]
    # Under the page's own Content-Security-Policy (waits by selector: no eval needed).
    page = loop.run_until_complete(_open_viewer(browser, view["liveUrl"], bypass_csp=False))
    loop.run_until_complete(page.wait_for_selector("#replay:not([hidden])", timeout=30_000))
    text = loop.run_until_complete(page.inner_text("aside"))
    assert "all done" in text and "press More" in text and "report" in text
    assert "$" + view["cost"] in text and "finished · success" in text
    src = loop.run_until_complete(page.get_attribute("#screen", "src"))
    assert src and f"/screenshots/{task_id}/" in src
    assert loop.run_until_complete(page.evaluate(
        "document.getElementById('screen').complete && document.getElementById('screen').naturalWidth"
    )) > 0
    assert loop.run_until_complete(page.is_visible("#replay"))


def test_no_viewer_no_frames(producer: Any, fake_llm: FakeLLM, typing_site: str, redis_client: Any,
                             api: ApiServer) -> None:
    """A task nobody watches sends no frame, across several viewer polls."""
    marker = fake_llm.script(script_id("unwatched"), [
        step({"click": {"index": 1}}, goal="press More"),
        step({"wait": {"seconds": 3}}, goal="wait"),
        step({"done": {"success": True, "text": "ok"}}),
    ])
    created = producer.create_task({"task": f"Unwatched {marker}", "startUrl": typing_site})
    view = producer.wait(created.id, timeout=60)
    assert view.status == TaskStatus.finished
    stats = LiveLinks(redis_client, 60).stats(str(created.id))
    assert stats == {"sent": 0, "withheld": 0, "dropped": 0, "bytes": 0}
    assert not redis_client.exists(keys.live_last_frame(str(created.id)))


def test_public_share_grants_one_session_only_and_revoking_ends_viewers(
    api: ApiServer, fake_llm: FakeLLM, typing_site: str, loop: asyncio.AbstractEventLoop, browser: Browser,
    official_spec: dict[str, Any], producer: Any, redis_client: Any,
) -> None:
    hold = threading.Event()

    def held(call: Call) -> str:  # keeps the task running (short LLM calls) until the test is done
        if hold.is_set():
            return step({"done": {"success": True, "text": "ok"}})
        return step({"wait": {"seconds": 1}}, goal="wait for the test")

    quick = fake_llm.script(script_id("share-b"), [step({"done": {"success": True, "text": "b"}})])
    slow = fake_llm.script(script_id("share-a"), held)
    try:
        with api.client() as client:
            session_a = client.post("/sessions", json={}).json()["id"]
            session_b = client.post("/sessions", json={}).json()["id"]
            task_b = client.post("/tasks", json={"task": f"B {quick}", "sessionId": session_b}).json()["id"]
            producer.wait(task_b, timeout=60)
            task_a = client.post("/tasks", json={
                "task": f"A {slow}", "sessionId": session_a, "startUrl": typing_site,
            }).json()["id"]

            assert client.get(f"/sessions/{session_a}/public-share").status_code == 404
            share = client.post(f"/sessions/{session_a}/public-share")
            assert share.status_code == 201, share.text
            check_against_spec(official_spec, "ShareView", share.json())
            again = client.post(f"/sessions/{session_a}/public-share").json()
            assert again["shareToken"] == share.json()["shareToken"]  # create or return the existing one
            session_view = client.get(f"/sessions/{session_a}").json()
            assert session_view["publicShareUrl"] == share.json()["shareUrl"]
            assert session_view["liveUrl"] and session_view["liveUrl"] != session_view["publicShareUrl"]
            assert client.get(f"/sessions/{session_b}").json()["publicShareUrl"] is None
            # Another owner cannot share (nor see) the session.
            other = httpx.post(f"{api.base}/sessions/{session_a}/public-share",
                               headers=headers("bf-test-scoped-key-a"))
            assert other.status_code == 404

        url = share.json()["shareUrl"]
        token = share.json()["shareToken"]
        # The share is for session A only: session B's task is refused, with every route.
        assert httpx.get(f"{api.url}/live/{token}/events", params={"task": task_b}).status_code == 403
        assert httpx.get(f"{api.url}/live/{token}/screenshots/{task_b}/1").status_code == 403
        assert httpx.get(f"{api.url}/live/not-a-token/events").status_code == 404
        assert httpx.get(f"{api.url}/live/not-a-token").status_code == 404

        page = loop.run_until_complete(_open_viewer(browser, url))
        loop.run_until_complete(page.wait_for_function("window.viewer.state === 'live'", timeout=30_000))
        loop.run_until_complete(page.wait_for_function("window.__frames.length >= 1", timeout=30_000))
        assert task_a in loop.run_until_complete(page.inner_text("#summary"))
        # A second viewer (the session's own liveUrl) counts, and leaves when its page closes.
        links = LiveLinks(redis_client, 60)
        second = loop.run_until_complete(_open_viewer(browser, session_view["liveUrl"]))
        loop.run_until_complete(second.wait_for_function("window.viewer.state === 'live'", timeout=30_000))
        _until(lambda: links.viewers(task_a) == 2)
        loop.run_until_complete(second.context.close())
        _until(lambda: links.viewers(task_a) == 1)
        with api.client() as client:
            viewed = client.get(f"/sessions/{session_a}/public-share").json()
            assert viewed["viewCount"] >= 1 and viewed["lastViewedAt"]
            assert client.delete(f"/sessions/{session_a}/public-share").status_code == 204
            assert client.get(f"/sessions/{session_a}/public-share").status_code == 404
        loop.run_until_complete(page.wait_for_function("window.viewer.state === 'revoked'", timeout=30_000))
        assert httpx.get(url).status_code == 404
        _until(lambda: links.viewers(task_a) == 0)  # the revoked viewer's heartbeat is gone too
    finally:
        hold.set()
    producer.wait(task_a, timeout=60)


def test_session_viewer_follows_the_next_task(
    api: ApiServer, fake_llm: FakeLLM, typing_site: str, loop: asyncio.AbstractEventLoop, browser: Browser,
    producer: Any,
) -> None:
    first = fake_llm.script(script_id("follow-1"), [step({"done": {"success": True, "text": "one"}})])
    second = fake_llm.script(script_id("follow-2"), [
        step({"wait": {"seconds": 1}}, goal="second task waits"),
        step({"done": {"success": True, "text": "two"}}),
    ])
    with api.client() as client:
        created = client.post("/sessions", json={}).json()
        session_id = created["id"]
        live_url = client.get(f"/sessions/{session_id}").json()["liveUrl"]
        assert live_url and created["liveUrl"] == live_url  # one stable link per session
        listed = client.get("/sessions", params={"pageSize": 100}).json()["items"]
        assert next(s for s in listed if s["id"] == session_id)["liveUrl"] == live_url
        task_1 = client.post("/tasks", json={"task": f"one {first}", "sessionId": session_id}).json()["id"]
        producer.wait(task_1, timeout=60)
        page = loop.run_until_complete(_open_viewer(browser, live_url))
        loop.run_until_complete(page.wait_for_function("window.viewer.state === 'ended'", timeout=30_000))
        assert task_1 in loop.run_until_complete(page.inner_text("#summary"))
        task_2 = client.post("/tasks", json={
            "task": f"two {second}", "sessionId": session_id, "startUrl": typing_site,
        }).json()["id"]
        loop.run_until_complete(page.wait_for_function(
            f"window.viewer.task && window.viewer.task.id === {task_2!r}", timeout=30_000))
        producer.wait(task_2, timeout=60)
        loop.run_until_complete(page.wait_for_function("window.viewer.state === 'ended'", timeout=30_000))
        text = loop.run_until_complete(page.inner_text("aside"))
        assert "second task waits" in text and "two" in text and task_1 not in text
        # A stopped session has no next task: the stream says so and the page stops reconnecting.
        assert client.patch(f"/sessions/{session_id}", json={"action": "stop"}).status_code == 200
        loop.run_until_complete(page.wait_for_function(
            "window.viewer.source.readyState === EventSource.CLOSED", timeout=30_000))


def test_recording_keeps_step_screenshots_without_vision(
    api: ApiServer, fake_llm: FakeLLM, typing_site: str
) -> None:
    """``sessionSettings.enableRecording`` records screenshots for the viewer; the model still gets none."""
    shots = {}
    for recording in (True, False):
        sid = script_id("recording")
        marker = fake_llm.script(sid, [step({"done": {"success": True, "text": "seen"}})])
        with api.client() as client:
            task_id = client.post("/tasks", json={
                "task": f"Look {marker}", "startUrl": typing_site, "vision": False,
                "sessionSettings": {"enableRecording": recording},
            }).json()["id"]
            deadline = time.monotonic() + 60
            while client.get(f"/tasks/{task_id}/status").json()["status"] != "finished":
                assert time.monotonic() < deadline
                time.sleep(0.2)
            token = client.get(f"/tasks/{task_id}").json()["liveUrl"].rsplit("/", 1)[1]
        assert not fake_llm.calls[sid][0].has_image
        shots[recording] = httpx.get(f"{api.url}/live/{token}/screenshots/{task_id}/1")
    assert shots[True].status_code == 200 and shots[True].content[:2] == b"\xff\xd8"
    assert shots[False].status_code == 404
