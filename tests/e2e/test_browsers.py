"""Browser sessions (``/browsers``) end to end: the official SDK creates one, Playwright drives it
through its ``cdpUrl`` (the API relays to the worker, the worker's relay filters), the egress
guard checks every request the driven page makes, refused CDP methods answer CDP errors,
and the session ends at ``timeoutAt``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets
from browser_use_sdk import BrowserUse
from playwright.async_api import async_playwright

from shared import keys
from shared.browser_store import BrowserStore
from tests.support.api import FULL_KEY, SCOPED_KEY_A, SCOPED_KEY_B, ApiServer, check_against_spec
from tests.support.side_packages import side_package
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


@pytest.fixture(autouse=True)
def no_browser_left(redis_client: redis.Redis) -> Iterator[None]:
    """Whatever a test asserts, the browser sessions it started stop with it: each holds a slot of the
    shared test worker, and four left running would starve every later test."""
    before = set(redis_client.zrange(keys.browsers_by(status="active"), 0, -1))
    yield
    store = BrowserStore(redis_client, 3600)
    for browser_id in set(redis_client.zrange(keys.browsers_by(status="active"), 0, -1)) - before:
        store.stop(str(browser_id), "stopped by the test's teardown")


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
    check_against_spec(
        official_spec, "BrowserSessionItemView", json.loads(created.model_dump_json(by_alias=True))
    )
    assert (
        created.status.value == "active" and created.cdp_url and created.cdp_url.startswith(api.url + "/cdp/")
    )
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
            fetched = await page.evaluate("""() => fetch('http://169.254.169.254/latest/meta-data/',
                {mode: 'no-cors'})
                .then(() => 'reached', () => 'failed')""")
            try:
                response = await page.goto("http://169.254.169.254/latest/meta-data/")
                navigated = (
                    f"answered {response.status if response else None}: " + (await page.content())[:300]
                )
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
        {
            "id": 6,
            "method": "Target.setRemoteLocations",
            "params": {"locations": [{"host": "10.0.0.1", "port": 9222}]},
        },
        {"id": 7, "method": "Browser.getVersion"},
        {"id": 8, "method": "Target.createTarget", "params": {"url": "chrome://settings"}},
        {"id": 9, "method": "Target.createTarget", "params": {"url": "about:blank"}},
    ]
    answers = asyncio.run(raw_cdp(ws_url, commands))
    client.browsers.stop(str(created.id))
    for answer in [*answers[:6], answers[7]]:
        assert answer["error"]["code"] == -32000 and answer["error"]["message"].startswith("browserfleet:"), (
            answer
        )
    assert "Chrome/" in answers[6]["result"]["product"]
    assert answers[8]["result"]["targetId"]


class Cdp:
    """A raw CDP connection (what any client sends), with flat sessions."""

    def __init__(self, ws: Any) -> None:
        self.ws, self.next_id = ws, 0

    async def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        await self.ws.send(json.dumps(message))
        while True:
            answer = json.loads(await self.ws.recv())
            if answer.get("id") == self.next_id:
                return dict(answer)

    async def page(self, url: str) -> str:
        """A new tab at ``url`` (loaded), and its flat session id."""
        target = (await self.call("Target.createTarget", {"url": "about:blank"}))["result"]["targetId"]
        session = (await self.call("Target.attachToTarget", {"targetId": target, "flatten": True}))["result"][
            "sessionId"
        ]
        await self.call("Page.enable", session=session)
        await self.call("Page.navigate", {"url": url}, session)
        for _ in range(100):
            ready = await self.call(
                "Runtime.evaluate", {"expression": "document.readyState", "returnByValue": True}, session
            )
            if ready["result"]["result"].get("value") == "complete":
                break
            await asyncio.sleep(0.05)
        return str(session)

    async def file_input(self, session: str, selector: str, files: list[str]) -> dict[str, Any]:
        root = (await self.call("DOM.getDocument", session=session))["result"]["root"]["nodeId"]
        node = (await self.call("DOM.querySelector", {"nodeId": root, "selector": selector}, session))[
            "result"
        ]["nodeId"]
        return await self.call("DOM.setFileInputFiles", {"files": files, "nodeId": node}, session)


def test_cdp_cannot_hand_the_workers_files_to_a_page(client: BrowserUse, api: ApiServer, site: Site) -> None:
    """``DOM.setFileInputFiles``/``Input.dispatchDragEvent`` with worker paths are refused (only files
    uploaded to the session, by name), and so is opening ``file:``/``chrome:`` pages or the browser UI."""
    path = f"/upload-form-{uuid.uuid4().hex[:8]}"
    site.pages[path] = '<form><input type="file" id="f"></form>'
    created = client.browsers.create(timeout=5)
    assert created.cdp_url
    ws_url = wait_started(api, created.cdp_url)["webSocketDebuggerUrl"]

    async def attempt() -> dict[str, Any]:
        async with websockets.connect(ws_url, max_size=None) as ws:
            cdp = Cdp(ws)
            session = await cdp.page(site.url + path)
            out = {
                "passwd": await cdp.file_input(session, "#f", ["/etc/passwd"]),
                "environ": await cdp.file_input(session, "#f", ["/proc/self/environ"]),
                "traversal": await cdp.file_input(session, "#f", ["../../../../etc/hostname"]),
                "drag": await cdp.call(
                    "Input.dispatchDragEvent",
                    {
                        "type": "drop",
                        "x": 5,
                        "y": 5,
                        "data": {"items": [], "dragOperationsMask": 1, "files": ["/etc/passwd"]},
                    },
                    session,
                ),
                "navigate": await cdp.call("Page.navigate", {"url": "file:///etc/passwd"}, session),
                "view-source": await cdp.call(
                    "Page.navigate", {"url": "view-source:file:///etc/passwd"}, session
                ),
                "files": await cdp.call(
                    "Runtime.evaluate",
                    {"expression": "document.getElementById('f').files.length", "returnByValue": True},
                    session,
                ),
            }
            targets = (await cdp.call("Target.getTargets"))["result"]["targetInfos"]
            out["targets"] = {"result": [t["url"] for t in targets]}
            return out

    out = asyncio.run(attempt())
    client.browsers.stop(str(created.id))
    for name in ("passwd", "environ", "traversal", "drag", "navigate", "view-source"):
        assert out[name]["error"]["message"].startswith("browserfleet:"), (name, out[name])
    assert "no file named 'passwd' was uploaded" in out["passwd"]["error"]["message"]
    assert out["files"]["result"]["result"]["value"] == 0
    assert not [u for u in out["targets"]["result"] if u.startswith("chrome")], out["targets"]


def test_session_stops_at_its_timeout(api: ApiServer, redis_client: redis.Redis) -> None:
    """The worker ends the session at ``timeoutAt`` by itself (no reader involved): its CDP
    connections close, the record says why, and ``finishedAt`` is the deadline."""
    with api.client() as http:
        created = http.post("/browsers", json={"timeout": 1}).json()
        bid = created["id"]
        ws_url = wait_started(api, created["cdpUrl"])["webSocketDebuggerUrl"]
        # A minute is long for a test: bring the stored deadline forward (the worker reads it each tick).
        deadline = time.time() + 2
        redis_client.hset(keys.browser(bid), "timeout_at", repr(deadline))

        async def hold() -> float:
            async with websockets.connect(ws_url) as ws:
                with contextlib.suppress(websockets.ConnectionClosed):
                    await asyncio.wait_for(ws.recv(), 30)
            return time.time()

        closed_at = asyncio.run(hold())
        assert redis_client.hget(keys.browser(bid), "status") == "stopped"  # written by the worker
        assert deadline <= closed_at < deadline + 10
        view = http.get(f"/browsers/{bid}").json()
        assert view["status"] == "stopped" and view["error"] == "the session reached its timeout"
        assert view["cdpUrl"] is None
        assert abs(datetime.fromisoformat(view["finishedAt"]).timestamp() - deadline) < 0.01


def test_limits_and_isolation(make_api: Any, api: ApiServer) -> None:
    with api.client() as http:
        over = http.post("/browsers", json={"timeout": 241})
        assert over.status_code == 403 and over.json() == {
            "detail": "Maximum session timeout is 4 hours (240 minutes)."
        }
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


# -- the open-source browser-use library, as a CDP client ------------------------------

BROWSER_USE_FLOW = """
import asyncio, json, logging, sys
logging.basicConfig(level=logging.WARNING)
from browser_use.browser.session import BrowserSession

cdp_url, page_url = sys.argv[1:3]

async def main():
    session = BrowserSession(cdp_url=cdp_url, keep_alive=False)   # what Browser(cdp_url=...) builds
    await session.start()
    await session.navigate_to(page_url)
    url = await session.get_current_page_url()
    cdp = await session.get_or_create_cdp_session()
    text = await cdp.cdp_client.send.Runtime.evaluate(
        params={"expression": "document.getElementById('go').click();"
                              "document.title + ': ' + document.getElementById('out').textContent",
                "returnByValue": True},
        session_id=cdp.session_id)
    try:
        await cdp.cdp_client.send.Page.navigate(params={"url": "file:///etc/passwd"},
                                                session_id=cdp.session_id)
        refused = "navigated"
    except Exception as exc:
        refused = str(exc)
    await session.kill()
    print(json.dumps({"url": url, "text": text["result"].get("value"), "refused": refused}))

asyncio.run(main())
"""


def browser_use_lib() -> Path:
    """The browser-use library in a directory of its own (installed once per machine from its lock)."""
    return side_package("browser-use", "browser_use")


def test_the_browser_use_library_connects_through_the_cdp_url(
    client: BrowserUse, api: ApiServer, site: Site
) -> None:
    """browser-use's ``BrowserSession(cdp_url=...)``: ``/json/version`` discovery, flat sessions, its own
    target bookkeeping; it drives the page, and the filter still refuses what it must."""
    path = f"/bu-clicker-{uuid.uuid4().hex[:8]}"
    site.pages[path] = CLICKER
    lib = browser_use_lib()
    created = client.browsers.create(timeout=5)
    assert created.cdp_url
    wait_started(api, created.cdp_url)
    proc = subprocess.run(
        [sys.executable, "-c", BROWSER_USE_FLOW, created.cdp_url, site.url + path],
        env={
            **os.environ,
            "PYTHONPATH": str(lib),
            "ANONYMIZED_TELEMETRY": "false",
            "BROWSER_USE_CLOUD_SYNC": "false",
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    client.browsers.stop(str(created.id))
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (out["url"], out["text"]) == (site.url + path, "Clicker: clicked 1"), out
    assert "browserfleet:" in out["refused"], out


def test_a_profile_carries_cookies_between_browser_sessions(api: ApiServer, site: Site) -> None:
    """The profile's cookies are in the browser before the caller connects; the browser's cookies
    go back into the profile when the session stops."""
    with api.client(SCOPED_KEY_A) as http:
        profile = http.post("/profiles", json={"name": "browser-profile"}).json()["id"]
        assert http.post("/browsers", json={"profileId": str(uuid.uuid4())}).status_code == 404
        first = http.post("/browsers", json={"profileId": profile, "timeout": 5}).json()
        wait_started(api, first["cdpUrl"])
        cookie = f"bf{uuid.uuid4().hex[:8]}"

        async def set_cookie() -> None:
            async with async_playwright() as pw:
                browser = await pw.chromium.connect_over_cdp(first["cdpUrl"])
                page = await browser.contexts[0].new_page()
                await page.goto(site.url + "/login")
                await page.evaluate(f"document.cookie = 'kept={cookie}; path=/; max-age=3600'")
                await browser.close()

        asyncio.run(set_cookie())
        http.patch(f"/browsers/{first['id']}", json={"action": "stop"})
        deadline = time.monotonic() + 30
        while "127.0.0.1" not in (http.get(f"/profiles/{profile}").json().get("cookieDomains") or []):
            assert time.monotonic() < deadline, "the profile was not written back"
            time.sleep(0.2)
        second = http.post("/browsers", json={"profileId": profile, "timeout": 5}).json()
        wait_started(api, second["cdpUrl"])

        async def read_cookie() -> str:
            async with async_playwright() as pw:
                browser = await pw.chromium.connect_over_cdp(second["cdpUrl"])
                page = await browser.contexts[0].new_page()
                await page.goto(site.url + "/login")
                value = str(await page.evaluate("document.cookie"))
                await browser.close()
                return value

        assert f"kept={cookie}" in asyncio.run(read_cookie())
        http.patch(f"/browsers/{second['id']}", json={"action": "stop"})


def test_live_url_shows_the_page_while_watched(client: BrowserUse, api: ApiServer, site: Site) -> None:
    created = client.browsers.create(timeout=5)
    assert created.cdp_url and created.live_url and created.live_url.startswith(api.url + "/browser-live/")
    assert created.live_url.rsplit("/", 1)[1] not in created.cdp_url  # watching is not driving
    wait_started(api, created.cdp_url)
    page = httpx.get(created.live_url)
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]

    async def watch() -> bytes:
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(created.cdp_url)
            tab = await browser.contexts[0].new_page()
            await tab.goto(site.url + "/login")
            try:
                async with (
                    httpx.AsyncClient(timeout=60) as http,
                    http.stream("GET", created.live_url + "/events") as stream,
                ):
                    async for line in stream.aiter_lines():
                        if line.startswith("data: ") and '"frame"' in line:
                            return base64.b64decode(json.loads(line[6:])["data"])
            finally:
                await browser.close()
        return b""

    jpeg = asyncio.run(asyncio.wait_for(watch(), 90))
    assert jpeg.startswith(b"\xff\xd8\xff"), jpeg[:10]
    client.browsers.stop(str(created.id))
    assert httpx.get(created.live_url).status_code == 404


def test_page_scripts_and_interception_cannot_load_worker_files(
    client: BrowserUse, api: ApiServer, site: Site
) -> None:
    """What the filter lets through cannot reach ``file:`` either: a page's own navigation or popup to
    ``file:``, and a request rewritten to ``file:`` by ``Fetch.continueRequest``, load nothing."""
    created = client.browsers.create(timeout=5)
    assert created.cdp_url
    ws_url = wait_started(api, created.cdp_url)["webSocketDebuggerUrl"]

    async def attempt() -> dict[str, Any]:
        async with websockets.connect(ws_url, max_size=None) as ws:
            cdp = Cdp(ws)
            session = await cdp.page(site.url + "/login")
            await cdp.call(
                "Runtime.evaluate",
                {"expression": "window.open('file:///etc/passwd'); location.href = 'file:///etc/passwd'"},
                session,
            )
            await asyncio.sleep(1.0)
            here = await cdp.call(
                "Runtime.evaluate",
                {"expression": "document.URL + ' ' + document.body.innerText", "returnByValue": True},
                session,
            )
            targets = (await cdp.call("Target.getTargets"))["result"]["targetInfos"]
            # Interception: a same-origin fetch rewritten to file: by the client.
            await cdp.call("Fetch.enable", {"patterns": [{"urlPattern": "*probe*"}]}, session)
            cdp.next_id += 1
            await ws.send(
                json.dumps(
                    {
                        "id": cdp.next_id,
                        "method": "Runtime.evaluate",
                        "sessionId": session,
                        "params": {
                            "expression": "fetch('/probe').then(r => r.text(), e => 'failed: ' + e)",
                            "awaitPromise": True,
                            "returnByValue": True,
                        },
                    }
                )
            )
            pending, fetched, rewrite = cdp.next_id, None, None
            while fetched is None:
                message = json.loads(await asyncio.wait_for(ws.recv(), 30))
                if message.get("method") == "Fetch.requestPaused":
                    await ws.send(
                        json.dumps(
                            {
                                "id": 999_000,
                                "method": "Fetch.continueRequest",
                                "sessionId": session,
                                "params": {
                                    "requestId": message["params"]["requestId"],
                                    "url": "file:///etc/passwd",
                                },
                            }
                        )
                    )
                elif message.get("id") == 999_000:
                    rewrite = message
                elif message.get("id") == pending:
                    fetched = message["result"]["result"].get("value")
            return {
                "here": here["result"]["result"]["value"],
                "targets": [t["url"] for t in targets],
                "fetched": fetched,
                "rewrite": rewrite,
            }

    out = asyncio.run(attempt())
    client.browsers.stop(str(created.id))
    assert "root:" not in json.dumps(out), out
    assert out["here"].startswith(site.url), out
    assert not [u for u in out["targets"] if u.startswith("file:")], out


def test_a_warm_shutdown_ends_browser_sessions_and_leaves_nothing_behind(
    make_api: Any, settings: Any, llm_base: str, tmp_path: Path, redis_client: redis.Redis
) -> None:
    """A worker told to stop ends its browser sessions at once (not after their hours): the record
    says why, and no Chromium process nor file of the session is left on the machine."""
    from tests.conftest import base_env
    from tests.support.workers import WorkerProcess

    queue = f"bf-browsers-{uuid.uuid4().hex[:8]}"
    data_dir = tmp_path / "browser-data"
    data_dir.mkdir()
    env = {**base_env(llm_base), "BROWSERFLEET_QUEUE": queue, "BROWSERFLEET_BROWSER_DATA_DIR": str(data_dir)}
    worker = WorkerProcess(env, queue, tmp_path / "worker.log")
    try:
        server = make_api(queue=queue)
        with server.client() as http:
            created = http.post("/browsers", json={"timeout": 60}).json()
            wait_started(server, created["cdpUrl"])
            assert [p.name for p in data_dir.iterdir()], "the session keeps its files in BROWSER_DATA_DIR"
            worker.stop()  # SIGTERM; killed only if still running after 30 s (then the code is -9)
            assert worker.proc.returncode == 0, worker.log()[-2000:]
            view = http.get(f"/browsers/{created['id']}").json()
            assert (
                view["status"] == "stopped" and view["error"] == "the worker running this browser shut down"
            )
    finally:
        worker.stop()
    assert list(data_dir.iterdir()) == []
    leftover = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout
    assert leftover == "", leftover


def test_a_recorded_session_offers_its_recording_once_ended(
    client: BrowserUse, api: ApiServer, site: Site
) -> None:
    created = client.browsers.create(timeout=5, enable_recording=True)
    assert created.cdp_url
    wait_started(api, created.cdp_url)

    async def browse() -> None:
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(created.cdp_url)
            page = await browser.contexts[0].new_page()
            await page.goto(site.url + "/login")
            await page.fill("input[name=user]", "recorded")
            await page.wait_for_timeout(1500)  # a few frames of a page that is there
            await browser.close()

    asyncio.run(browse())
    assert client.browsers.get(str(created.id)).recording_url is None  # not before it ended
    client.browsers.stop(str(created.id))
    deadline = time.monotonic() + 60
    while (view := client.browsers.get(str(created.id))).recording_url is None:
        assert time.monotonic() < deadline, "no recording"
        time.sleep(0.3)
    video = httpx.get(view.recording_url)
    assert video.status_code == 200 and video.content.startswith(b"\x1a\x45\xdf\xa3")  # EBML: WebM
