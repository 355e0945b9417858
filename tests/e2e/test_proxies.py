"""Upstream proxies per country: Chromium → the worker's egress guard → the country's proxy → site.

Two local upstream proxies stand for the operator's providers (``us``: HTTP CONNECT,
``de``: SOCKS5, both with credentials), each recording what it forwarded; ``fr`` points at
a closed port (a proxy that is down). The worker runs the strict network guard (opened only
for the test site's ``127.0.0.1:port``), so the guard's refusals are visible through a proxy.
Driven through the official ``browser-use-sdk``.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from browser_use_sdk import BrowserUse, BrowserUseError
from browser_use_sdk.generated.v2.models import SessionSettings
from pydantic import SecretStr

from shared import keys
from shared.settings import Settings
from tests.conftest import WorkerProcess
from tests.e2e.helpers import script_id
from tests.e2e.test_api import wait_done
from tests.support.api import FULL_KEY, ApiServer, api_settings, headers
from tests.support.fake_llm import FakeLLM, step
from tests.support.site import Site
from tests.support.upstream_proxies import ConnectProxy, Socks5Proxy

LOCAL = ("127.", "localhost")
US_PASSWORD, DE_PASSWORD, FR_PASSWORD = "us-pw-4c1f9e", "de-pw-7a2b3d", "fr-pw-0e8d5c"


def _port(site: Site) -> int:
    assert site.server is not None
    return int(site.server.server_address[1])


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[ConnectProxy, Socks5Proxy]]:
    us, de = ConnectProxy("us-user", US_PASSWORD), Socks5Proxy("de-user", DE_PASSWORD)
    yield us, de
    us.stop()
    de.stop()


@pytest.fixture(scope="module")
def proxies_json(upstreams: tuple[ConnectProxy, Socks5Proxy]) -> str:
    us, de = upstreams
    return json.dumps({
        "us": us.url("http"), "de": de.url("socks5"),
        "fr": f"socks5://fr-user:{FR_PASSWORD}@127.0.0.1:{_closed_port()}",
    })


@pytest.fixture(scope="module")
def other() -> Iterator[Site]:
    """Another local service, outside the worker's allowed networks."""
    s = Site()
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def proxy_worker(
    settings: Settings, site: Site, proxies_json: str, worker: WorkerProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[WorkerProcess, str]]:
    queue = settings.queue + "-proxies"
    proc = WorkerProcess({
        "BROWSERFLEET_QUEUE": queue,
        "BROWSERFLEET_PROXIES": proxies_json,
        "BROWSERFLEET_PROXY_DEFAULT_COUNTRY": "us",
        "BROWSERFLEET_ALLOW_PRIVATE_NETWORKS": "false",
        "BROWSERFLEET_ALLOWED_NETWORKS": f"127.0.0.1:{_port(site)}",
    }, queue, tmp_path_factory.mktemp("wproxy") / "worker.log")
    yield proc, queue
    proc.stop()


@pytest.fixture(scope="module")
def proxy_api(
    settings: Settings, proxy_worker: tuple[WorkerProcess, str], proxies_json: str
) -> Iterator[ApiServer]:
    server = ApiServer(api_settings(
        settings, queue=proxy_worker[1], proxies=SecretStr(proxies_json), proxy_default_country="us"
    )).start()
    yield server
    server.stop()


@pytest.fixture
def sdk(proxy_api: ApiServer) -> Iterator[BrowserUse]:
    with BrowserUse(api_key=FULL_KEY, base_url=proxy_api.base) as client:
        yield client


def _done(fake_llm: FakeLLM) -> str:
    return fake_llm.script(script_id("px"), lambda call: step({"done": {"text": "here", "success": True}}))


def _run(sdk: BrowserUse, api: ApiServer, task: str, **options: Any) -> dict[str, Any]:
    created = sdk.tasks.create(task, **options)
    with httpx.Client(base_url=api.base, headers=headers(), timeout=30) as client:
        return wait_done(client, str(created.id), timeout=90)


def _forwarded(upstreams: tuple[ConnectProxy, Socks5Proxy]) -> tuple[set[str], set[str]]:
    """The local targets each proxy forwarded to since the last call (and forget them).
    Chromium's own background calls (to Google hosts) are left out: they go through the
    proxy too, but the test proxies answer them "unreachable"."""
    us, de = upstreams
    seen = ({t for t in us.targets if t.startswith(LOCAL)}, {t for t in de.targets if t.startswith(LOCAL)})
    us.targets.clear()
    de.targets.clear()
    return seen


def test_each_country_goes_through_its_own_proxy(
    sdk: BrowserUse, proxy_api: ApiServer, upstreams: tuple[ConnectProxy, Socks5Proxy],
    fake_llm: FakeLLM, site: Site,
) -> None:
    target = f"127.0.0.1:{_port(site)}"
    page = site.url + "/login"
    _forwarded(upstreams)

    de = _run(sdk, proxy_api, f"Look. {_done(fake_llm)}", start_url=page,
              session_settings=SessionSettings(proxyCountryCode="de"))
    assert (de["status"], de["proxyCountryCode"]) == ("finished", "de"), de
    assert _forwarded(upstreams) == (set(), {target})

    default = _run(sdk, proxy_api, f"Look. {_done(fake_llm)}", start_url=page)
    assert default["proxyCountryCode"] == "us"
    assert _forwarded(upstreams) == ({target}, set())

    # With sessionSettings, a proxy only when proxyCountryCode is given; null is direct too.
    for settings in (SessionSettings(browserScreenWidth=1024), SessionSettings(proxyCountryCode=None)):
        direct = _run(sdk, proxy_api, f"Look. {_done(fake_llm)}", start_url=page, session_settings=settings)
        assert (direct["status"], direct["proxyCountryCode"]) == ("finished", None)
        assert _forwarded(upstreams) == (set(), set())

    # A session keeps its country for all its tasks.
    session = sdk.sessions.create(proxy_country_code="de")
    for _ in range(2):
        view = _run(sdk, proxy_api, f"Look. {_done(fake_llm)}", start_url=page, session_id=str(session.id))
        assert view["proxyCountryCode"] == "de"
        assert _forwarded(upstreams) == (set(), {target})
    assert upstreams[0].auth_failures == upstreams[1].auth_failures == 0


def test_an_unconfigured_country_is_refused_before_anything_is_enqueued(
    sdk: BrowserUse, proxy_api: ApiServer, redis_client: redis.Redis
) -> None:
    tasks, sessions = redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)
    with pytest.raises(BrowserUseError) as caught:
        sdk.tasks.create("go", session_settings=SessionSettings(proxyCountryCode="jp"))
    assert caught.value.status_code == 422
    [error] = caught.value.detail["detail"] if isinstance(caught.value.detail, dict) else caught.value.detail
    assert error["loc"][-2:] == ["sessionSettings", "proxyCountryCode"] and "'jp'" in error["msg"]
    with pytest.raises(BrowserUseError) as session_error:
        sdk.sessions.create(proxy_country_code="jp")
    assert session_error.value.status_code == 422
    assert (redis_client.zcard(keys.TASK_INDEX), redis_client.zcard(keys.SESSION_INDEX)) == (tasks, sessions)


def test_the_guard_still_refuses_through_a_proxy(
    sdk: BrowserUse, proxy_api: ApiServer, upstreams: tuple[ConnectProxy, Socks5Proxy],
    fake_llm: FakeLLM, site: Site, other: Site,
) -> None:
    elsewhere = f"http://127.0.0.1:{_port(other)}/private"
    tries = {
        # allowedDomains first, then the network guard (the other service is no allowed network)
        "domains": ([{"navigate": {"url": "http://example.com/"}}, {"navigate": {"url": elsewhere}}],
                    ["127.0.0.1"]),
        # behind a proxy names are not resolved here, but "localhost" still means this machine
        "network": ([{"navigate": {"url": f"http://localhost:{_port(site)}/login"}},
                     {"navigate": {"url": elsewhere}}], None),
    }
    told = {}
    _forwarded(upstreams)
    for name, (navigations, domains) in tries.items():
        sid = script_id(f"pxguard-{name}")
        done = step({"done": {"text": "ok", "success": True}})
        marker = fake_llm.script(sid, [*(step(n) for n in navigations), done])
        view = _run(sdk, proxy_api, f"Try. {marker}", start_url=site.url + "/login", allowed_domains=domains,
                    session_settings=SessionSettings(proxyCountryCode="de"))
        assert view["status"] == "finished", view
        told[name] = "\n".join(r for s in view["steps"] for r in s.get("results") or [])
    assert _forwarded(upstreams) == (set(), {f"127.0.0.1:{_port(site)}"})  # only the start pages went out
    assert not other.log
    assert "http://example.com/ blocked: not in allowedDomains" in told["domains"]
    assert f"127.0.0.1:{_port(other)}/private blocked" in told["domains"]
    assert "localhost names the local machine" in told["network"]
    assert f"127.0.0.1:{_port(other)}/private blocked" in told["network"]


def test_a_proxy_that_is_down_fails_the_task_with_a_reason_and_no_credentials(
    sdk: BrowserUse, proxy_api: ApiServer, proxy_worker: tuple[WorkerProcess, str],
    fake_llm: FakeLLM, site: Site, redis_client: redis.Redis,
) -> None:
    view = _run(sdk, proxy_api, f"Look. {_done(fake_llm)}", start_url=site.url,
                session_settings=SessionSettings(proxyCountryCode="fr"))
    assert view["status"] == "failed" and view["proxyCountryCode"] == "fr"
    assert "fr proxy (socks5://127.0.0.1:" in view["error"] and "unreachable" in view["error"]
    # Credentials appear nowhere: not in the view, the task record, the session or the worker's log.
    record = json.dumps(redis_client.hgetall(keys.task(view["id"])))
    session = json.dumps(redis_client.hgetall(keys.session(view["sessionId"])))
    for password in (US_PASSWORD, DE_PASSWORD, FR_PASSWORD):
        assert password not in json.dumps(view) and password not in record and password not in session
        assert password not in proxy_worker[0].log()


INTERNAL = [
    "metadata.google.internal.", "instance-data.ec2.internal.", "Metadata.Google.Internal.",
    "metadata.google.internal%2E", "localhost.localdomain", "LOCALHOST.", "ip6-localhost", "app.localhost.",
    "localhost6.localdomain6",
]


def test_internal_names_in_any_spelling_never_reach_the_proxy(
    sdk: BrowserUse, proxy_api: ApiServer, upstreams: tuple[ConnectProxy, Socks5Proxy],
    fake_llm: FakeLLM, site: Site,
) -> None:
    """A page asks for internal names spelled as Chromium sends them through a proxy (trailing
    dot kept, case, percent-encoding): images, a fetch, a frame and a navigation. None may be
    sent to the upstream proxy (which would resolve them in its own network)."""
    port = _port(site)
    urls = [f"http://{name}:{port}/probe" for name in INTERNAL] + [f"https://{INTERNAL[0]}/probe"]
    images = "".join(f'<img src="{url}">' for url in urls)
    fetches = ";".join(f"fetch({json.dumps(url)}, {{mode: 'no-cors'}}).catch(() => 0)" for url in urls)
    site.pages["/internal-names"] = (
        f"<!doctype html><title>probe</title>{images}<iframe src=\"{urls[0]}\"></iframe>"
        f"<script>{fetches}</script><p>probing</p>"
    )
    for country in ("us", "de"):  # HTTP CONNECT and SOCKS5
        marker = fake_llm.script(script_id("px-internal"), [
            step({"wait": {"seconds": 1}}, goal="let the page ask"),
            step({"navigate": {"url": urls[1]}}),
            step({"done": {"text": "ok", "success": True}}),
        ])
        _forwarded(upstreams)
        upstreams[0].targets.clear()
        upstreams[1].targets.clear()
        view = _run(sdk, proxy_api, f"Probe. {marker}", start_url=site.url + "/internal-names",
                    session_settings=SessionSettings(proxyCountryCode=country))
        assert view["status"] == "finished", view
        sent = [t for t in upstreams[0].targets + upstreams[1].targets
                if not t.startswith(f"127.0.0.1:{port}")]
        names = [n.lower().rstrip(".").split("%")[0] for n in INTERNAL]
        internal = [t for t in sent if any(n in t.lower() for n in names)]
        assert internal == [], f"sent to the {country} proxy: {internal}"
        results = "\n".join(r for s in view["steps"] for r in s.get("results") or [])
        assert "metadata" in results and "blocked" in results, results
