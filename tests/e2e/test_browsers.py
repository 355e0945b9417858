"""Browser sessions (``/browsers``) end to end: the official SDK creates one, Playwright drives it
through its ``cdpUrl`` (the API relays to the worker, the worker's relay filters), the egress
guard checks every request the driven page makes, refused CDP methods answer CDP errors,
and the session ends at ``timeoutAt``.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
import websockets
from browser_use_sdk import BrowserUse, BrowserUseError
from playwright.async_api import async_playwright

from shared import keys
from tests.conftest import STRICT_QUEUE
from tests.support.api import FULL_KEY, SCOPED_KEY_A, SCOPED_KEY_B, ApiServer, check_against_spec, headers
from tests.support.site import Site

CLICKER = """<!doctype html><html><head><title>Clicker</title></head><body>
<button id="go" onclick="document.getElementById('out').textContent = 'clicked ' + (++window.n)">Go</button>
<p id="out">not yet</p><script>window.n = 0;</script>
<pre id="probe"></pre>
</body></html>"""


@pytest.fixture
def client(api: ApiServer) -> Iterator[BrowserUse]:
    with BrowserUse(api_key=FULL_KEY, base_url=api.base) as sdk:
        yield sdk


def wait_started(api: ApiServer, cdp_url: str, timeout: float = 60) -> dict[str, Any]:
    """``{cdpUrl}/json/version`` once the worker has the browser up (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        answer = httpx.get(cdp_url + "/json/version", timeout=10)
        if answer.status_code == 200:
            return dict(answer.json())
        assert answer.status_code == 503, answer.text
        assert time.monotonic() < deadline, "the browser never started"
        time.sleep(0.2)


async def raw_cdp(ws_url: str, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send commands over a raw CDP WebSocket; the answers in order (events skipped)."""
    answers = []
    async with websockets.connect(ws_url, max_size=None) as ws:
        for command in commands:
            await ws.send(json.dumps(command))
            while True:
                message = json.loads(await ws.recv())
                if message.get("id") == command["id"]:
                    answers.append(message)
                    break
    return answers


def test_playwright_drives_a_fleet_browser_through_its_cdp_url(
    client: BrowserUse, api: ApiServer, site: Site, official_spec: dict[str, Any]
) -> None:
    path = f"/clicker-{uuid.uuid4().hex[:8]}"
    site.pages[path] = CLICKER
    created = client.browsers.create(timeout=5)
    check_against_spec(official_spec, "BrowserSessionItemView", json.loads(created.model_dump_json(by_alias=True)))
    assert created.status.value == "active" and created.cdp_url and created.cdp_url.startswith(api.url + "/cdp/")
    info = wait_started(api, created.cdp_url)
    assert info["webSocketDebuggerUrl"].startswith(api.url.replace("http://", "ws://") + "/cdp/")

    async def drive() -> tuple[str, str]:
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(created.cdp_url)
            context = browser.contexts[0]
            page = await context.new_page()
            await page.goto(site.url + path)
            await page.click("#go")
            await page.click("#go")
            text = await page.inner_text("#out")
            title = await page.title()
            await browser.close()
            return text, title

    text, title = asyncio.run(drive())
    assert (text, title) == ("clicked 2", "Clicker")
    assert ("GET", path, site.url.removeprefix("http://")) in site.log
    view = client.browsers.get(str(created.id))
    assert view.status.value == "active"
    stopped = client.browsers.stop(str(created.id))
    assert stopped.status.value == "stopped" and stopped.finished_at is not None and stopped.cdp_url is None
    assert httpx.get(created.cdp_url + "/json/version").status_code == 404


def test_metadata_is_refused_from_the_driven_page(client: BrowserUse, api: ApiServer, site: Site) -> None:
    """The default worker allows private networks (local testing); metadata stays refused."""
    created = client.browsers.create(timeout=5)
    assert created.cdp_url
    wait_started(api, created.cdp_url)

    async def probe() -> tuple[str, str]:
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(created.cdp_url)
            page = await browser.contexts[0].new_page()
            await page.goto(site.url + "/login")
            fetched = await page.evaluate("""() => fetch('http://169.254.169.254/latest/meta-data/', {mode: 'no-cors'})
                .then(() => 'reached', () => 'failed')""")
            try:
                response = await page.goto("http://169.254.169.254/latest/meta-data/")
                navigated = f"answered {response.status if response else None}: " + (await page.content())[:300]
            except Exception as exc:  # the proxy refuses: a navigation error
                navigated = f"error {exc}"
            await browser.close()
            return fetched, navigated

    fetched, navigated = asyncio.run(probe())
    client.browsers.stop(str(created.id))
    assert fetched == "failed"
    assert "cloud metadata" in navigated or "error" in navigated, navigated


def test_refused_cdp_methods_answer_cdp_errors(client: BrowserUse, api: ApiServer, site: Site) -> None:
    created = client.browsers.create(timeout=5)
    assert created.cdp_url
    ws_url = wait_started(api, created.cdp_url)["webSocketDebuggerUrl"]
    commands = [
        {"id": 1, "method": "SystemInfo.getProcessInfo"},
        {"id": 2, "method": "Browser.getBrowserCommandLine"},
        {"id": 3, "method": "Target.createBrowserContext", "params": {"proxyServer": "http://10.0.0.1:3128"}},
        {"id": 4, "method": "Target.createTarget", "params": {"url": "file:///etc/passwd"}},
        {"id": 5, "method": "Target.exposeDevToolsProtocol", "params": {"targetId": "x"}},
        {"id": 6, "method": "Target.setRemoteLocations", "params": {"locations": [{"host": "10.0.0.1", "port": 9222}]}},
        {"id": 7, "method": "Browser.getVersion"},
        {"id": 8, "method": "Target.createTarget", "params": {"url": "chrome://settings"}},
        {"id": 9, "method": "Target.createTarget", "params": {"url": "about:blank"}},
    ]
    answers = asyncio.run(raw_cdp(ws_url, commands))
    client.browsers.stop(str(created.id))
    for answer in answers[:6] + [answers[7]]:
        assert answer["error"]["code"] == -32000 and answer["error"]["message"].startswith("browserfleet:"), answer
    assert "Chrome/" in answers[6]["result"]["product"]
    assert answers[8]["result"]["targetId"]


def test_file_input_cannot_read_the_workers_disk(client: BrowserUse, api: ApiServer, site: Site) -> None:
    """``DOM.setFileInputFiles`` with a worker path is refused: only uploaded files by name."""
    path = f"/upload-form-{uuid.uuid4().hex[:8]}"
    site.pages[path] = '<form><input type="file" id="f"></form>'
    created = client.browsers.create(timeout=5)
    assert created.cdp_url
    wait_started(api, created.cdp_url)

    async def attempt() -> str:
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(created.cdp_url)
            page = await browser.contexts[0].new_page()
            await page.goto(site.url + path)
            try:
                await page.set_input_files("#f", "/etc/passwd")
                outcome = "set: " + str(await page.evaluate("document.getElementById('f').files.length"))
            except Exception as exc:
                outcome = f"refused: {exc}"
            await browser.close()
            return outcome

    outcome = asyncio.run(attempt())
    client.browsers.stop(str(created.id))
    assert outcome.startswith("refused") and "no file named 'passwd' was uploaded" in outcome, outcome


def test_session_stops_at_its_timeout(api: ApiServer, redis_client: redis.Redis) -> None:
    with api.client() as http:
        created = http.post("/browsers", json={"timeout": 1}).json()
        bid = created["id"]
        wait_started(api, created["cdpUrl"])
        ws_url = httpx.get(created["cdpUrl"] + "/json/version").json()["webSocketDebuggerUrl"]
        # Bring the deadline forward (a one-minute test would be slow): the worker reads timeout_at
        # from the record at start, so stop-at-timeout is proven by the reader's settle and the worker.
        redis_client.hset(keys.browser(bid), "timeout_at", repr(time.time() + 1.5))

        async def hold() -> str:
            async with websockets.connect(ws_url) as ws:
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
                except websockets.ConnectionClosed as exc:
                    return f"closed {exc.rcvd.code if exc.rcvd else None}"
                except TimeoutError:
                    return "still open"

        deadline = time.monotonic() + 30
        while http.get(f"/browsers/{bid}").json()["status"] != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.2)
        view = http.get(f"/browsers/{bid}").json()
        assert view["error"] == "the session reached its timeout" and view["cdpUrl"] is None
        assert abs(
            __import__("datetime").datetime.fromisoformat(view["finishedAt"]).timestamp()
            - float(redis_client.hget(keys.browser(bid), "timeout_at") or 0)
        ) < 0.01
        del hold


def test_limits_and_isolation(make_api: Any, api: ApiServer) -> None:
    with api.client() as http:
        over = http.post("/browsers", json={"timeout": 241})
        assert over.status_code == 403 and over.json() == {"detail": "Maximum session timeout is 4 hours (240 minutes)."}
        assert http.post("/browsers", json={"timeout": 0}).status_code == 422
        assert http.post("/browsers", json={"solveCaptchas": True}).status_code == 422
    with api.client(SCOPED_KEY_A) as mine, api.client(SCOPED_KEY_B) as theirs:
        created = mine.post("/browsers", json={"timeout": 2}).json()
        assert theirs.get(f"/browsers/{created['id']}").status_code == 404
        assert theirs.patch(f"/browsers/{created['id']}", json={"action": "stop"}).status_code == 404
        assert created["id"] not in [b["id"] for b in theirs.get("/browsers").json()["items"]]
        assert created["id"] in [b["id"] for b in mine.get("/browsers").json()["items"]]
        assert mine.patch(f"/browsers/{created['id']}", json={"action": "stop"}).json()["status"] == "stopped"
    limited = make_api(max_active_browsers=1)
    with limited.client(SCOPED_KEY_B) as http:
        first = http.post("/browsers", json={})
        assert first.status_code == 201
        second = http.post("/browsers", json={})
        assert second.status_code == 429
        http.patch(f"/browsers/{first.json()['id']}", json={"action": "stop"})
    del headers, BrowserUseError, STRICT_QUEUE
