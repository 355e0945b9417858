"""``customProxy`` on sessions and browser sessions: the caller's proxy behind the egress guard.

A local CONNECT proxy with credentials stands for the caller's proxy and records what it
forwarded. Its credentials never rest in plain text (every Redis value is searched) and are
never shown back; its host is checked by the network policy before anything connects to it
(a metadata address always; a private one on the strict worker).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from browser_use_sdk import BrowserUse
from browser_use_sdk.generated.v2.models import CustomProxy
from playwright.async_api import async_playwright

from tests.conftest import STRICT_QUEUE
from tests.e2e.helpers import script_id
from tests.e2e.test_browsers import no_browser_left, wait_started  # noqa: F401 (a fixture)
from tests.support.api import FULL_KEY, ApiServer
from tests.support.fake_llm import FakeLLM, step
from tests.support.site import Site
from tests.support.upstream_proxies import ConnectProxy

PASSWORD = "custom-proxy-pw-5e1a77c2"


@pytest.fixture
def proxy() -> Iterator[ConnectProxy]:
    upstream = ConnectProxy("caller", PASSWORD)
    yield upstream
    upstream.stop()


@pytest.fixture
def client(api: ApiServer) -> Iterator[BrowserUse]:
    with BrowserUse(api_key=FULL_KEY, base_url=api.base) as sdk:
        yield sdk


def every_value(r: redis.Redis) -> str:
    """Every key and value of the test database as one text (hashes, lists, sets, strings)."""
    out = []
    for key in r.scan_iter(count=1000):
        kind = r.type(key)
        out.append(key)
        if kind == "string":
            out.append(str(r.get(key)))
        elif kind == "hash":
            out += [f"{k}={v}" for k, v in r.hgetall(key).items()]
        elif kind == "list":
            out += r.lrange(key, 0, -1)
        elif kind in ("set", "zset"):
            out += list(r.zrange(key, 0, -1) if kind == "zset" else r.smembers(key))
    return "\n".join(out)


def wait_stopped(http: httpx.Client, path: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while (view := http.get(path).json())["status"] != "stopped":
        assert time.monotonic() < deadline, view
        time.sleep(0.2)
    return dict(view)


def test_browser_session_goes_out_through_the_callers_proxy(
    client: BrowserUse, api: ApiServer, site: Site, proxy: ConnectProxy, redis_client: redis.Redis
) -> None:
    custom = CustomProxy(host="127.0.0.1", port=proxy.port, username="caller", password=PASSWORD)
    created = client.browsers.create(timeout=5, custom_proxy=custom)
    assert created.cdp_url and PASSWORD not in created.model_dump_json()
    wait_started(api, created.cdp_url)

    async def visit() -> str:
        async with async_playwright() as pw:
            browser = await pw.chromium.connect_over_cdp(created.cdp_url)
            page = await browser.contexts[0].new_page()
            await page.goto(site.url + "/login")
            title = await page.title()
            await browser.close()
            return title

    assert asyncio.run(visit()) == "Login"
    assert site.url.removeprefix("http://") in proxy.hosts()
    assert proxy.auth_failures == 0
    view = client.browsers.get(str(created.id))
    assert PASSWORD not in view.model_dump_json() and "caller" not in view.model_dump_json()
    assert PASSWORD not in every_value(redis_client)
    client.browsers.stop(str(created.id))


def test_agent_session_goes_out_through_the_callers_proxy(
    client: BrowserUse,
    api: ApiServer,
    site: Site,
    proxy: ConnectProxy,
    fake_llm: FakeLLM,
    redis_client: redis.Redis,
) -> None:
    custom = CustomProxy(host="127.0.0.1", port=proxy.port, username="caller", password=PASSWORD)
    session = client.sessions.create(custom_proxy=custom)
    marker = fake_llm.script(script_id("custom-proxy"), [step({"done": {"text": "seen", "success": True}})])
    task = client.tasks.create(f"Look. {marker}", start_url=site.url + "/login", session_id=str(session.id))
    view = client.tasks.wait(str(task.id), timeout=90, interval=0.2)
    assert view.status.value == "finished" and view.output == "seen", view
    assert site.url.removeprefix("http://") in proxy.hosts()
    assert PASSWORD not in json.dumps(client.sessions.get(str(session.id)).model_dump(mode="json"))
    assert PASSWORD not in every_value(redis_client)


def test_proxy_hosts_the_policy_refuses(
    api: ApiServer, make_api: Any, proxy: ConnectProxy, fake_llm: FakeLLM, strict_worker: Any, site: Site
) -> None:
    # A metadata address is refused even where private networks are allowed (the default test worker).
    with api.client() as http:
        created = http.post("/browsers", json={"customProxy": {"host": "169.254.169.254", "port": 80}}).json()
        view = wait_stopped(http, f"/browsers/{created['id']}")
        assert "customProxy 169.254.169.254:80 is refused by the network policy" in view["error"], view
        # Syntax the API refuses at once: a URL, credentials in the host, a path.
        for host in ("http://127.0.0.1", "user:pw@127.0.0.1", "127.0.0.1/x"):
            bad = http.post("/browsers", json={"customProxy": {"host": host, "port": 3128}})
            assert bad.status_code == 422, host
    # The strict worker (private networks refused): a loopback proxy is refused before any connection.
    strict = make_api(queue=STRICT_QUEUE)
    with strict.client() as http:
        session = http.post(
            "/sessions",
            json={
                "customProxy": {
                    "host": "127.0.0.1",
                    "port": proxy.port,
                    "username": "caller",
                    "password": PASSWORD,
                }
            },
        )
        assert session.status_code == 201
        marker = fake_llm.script(script_id("refused-proxy"), [step({"done": {"text": "no"}})])
        task = http.post(
            "/tasks",
            json={"task": f"Look. {marker}", "startUrl": site.url, "sessionId": session.json()["id"]},
        ).json()
        deadline = time.monotonic() + 60
        while (done := http.get(f"/tasks/{task['id']}").json())["status"] not in ("failed", "finished"):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert done["status"] == "failed" and "is refused by the network policy" in done["error"], done
        assert proxy.hosts() == [] and PASSWORD not in done["error"]
