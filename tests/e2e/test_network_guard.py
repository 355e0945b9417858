"""The network guard end to end: private, loopback, link-local and metadata addresses and
``file:`` URLs are refused by default, before any connection, and allowed only when configured.

Two workers: ``strict_worker`` runs with the defaults, opened only for the test site's own
``127.0.0.1:port``; the default ``worker`` sets ``BROWSERFLEET_ALLOW_PRIVATE_NETWORKS``.
A second local server stands for "another service on the private network": its log shows
whether it was reached. No test lets anything connect outside loopback: 10.x and
169.254.169.254 are only ever asked for where the guard refuses them (metadata endpoints
stay refused even with private networks allowed).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from producer import Producer
from shared.models import TaskStatus, TaskView
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import FakeLLM, step
from tests.support.site import Site

PROBE = """<!doctype html><html><head><title>Probe</title></head><body>
<h1>Probe</h1>
<img src="http://127.0.0.1:{other}/img-{sid}.png" alt="">
<img src="/to-private-{sid}" alt="">
<iframe src="http://169.254.169.254/latest/meta-data/?{sid}"></iframe>
<iframe src="file:///etc/passwd"></iframe>
<pre id="out"></pre>
<script>
const out = document.getElementById('out');
const note = (text) => {{ out.textContent += text + '\\n'; }};
const probe = (name, url) => fetch(url, {{mode: 'no-cors'}}).then(
  () => note(name + ': reached'), () => note(name + ': failed'));
probe('private', 'http://10.0.0.1/private-{sid}');
probe('metadata', 'http://169.254.169.254/latest/meta-data/iam/?{sid}');
probe('file', 'file:///etc/passwd');
probe('loopback', 'http://127.0.0.1:{other}/fetch-{sid}');
const ws = new WebSocket('ws://10.0.0.1/ws-{sid}');
ws.onerror = () => note('ws: failed');
ws.onopen = () => note('ws: reached');
</script></body></html>"""

LOOPBACK = """<!doctype html><html><head><title>Loopback</title></head><body>
<h1>Loopback</h1>
<img src="http://127.0.0.1:{other}/img-{sid}.png" alt="">
<img src="http://169.254.169.254/latest/meta-data/?{sid}" alt="">
</body></html>"""


@pytest.fixture(scope="module")
def other() -> Iterator[Site]:
    """Another local service: not in the strict worker's allowed networks."""
    s = Site()
    s.start()
    yield s
    s.stop()


def _port(site: Site) -> int:
    assert site.server is not None
    return int(site.server.server_address[1])


def _told(fake_llm: FakeLLM, sid: str, view: TaskView) -> str:
    """Everything the agent was told: the steps' results and its prompts (the start page's own
    blocked loads arrive as a note in the first prompt)."""
    return "\n".join([*(r for s in view.steps for r in s.results), *(c.user for c in fake_llm.calls[sid])])


def _reached(other: Site, sid: str) -> list[str]:
    return [path for _, path, _ in other.log if sid in path]


def test_private_addresses_metadata_and_files_are_refused_by_default(
    strict_producer, fake_llm: FakeLLM, site: Site, other: Site
) -> None:
    sid = script_id("net")
    site.pages[f"/probe-{sid}"] = PROBE.format(other=_port(other), sid=sid)
    site.redirects[f"/to-private-{sid}"] = f"http://10.0.0.1/redirected-{sid}"
    marker = fake_llm.script(sid, [
        step({"wait": {"seconds": 1}}),
        step({"navigate": {"url": "http://10.0.0.1/admin"}}),
        step({"navigate": {"url": "http://169.254.169.254/latest/meta-data/"}}),
        step({"navigate": {"url": "file:///etc/passwd"}}),
        step({"navigate": {"url": f"http://localhost:{_port(other)}/direct-{sid}"}}),
        step({"done": {"text": "probed", "success": True}}),
    ])
    view = run(strict_producer, {"task": f"Probe. {marker}", "startUrl": f"{site.url}/probe-{sid}"})
    assert view.status == TaskStatus.finished, view.error

    # The allowed entry 127.0.0.1:<site port> works: the page and its redirect were served.
    assert ("GET", f"/probe-{sid}", site.url.split("//")[1]) in site.log
    assert ("GET", f"/to-private-{sid}", site.url.split("//")[1]) in site.log
    # Another port on loopback is not allowed: that server was never reached.
    assert _reached(other, sid) == []

    state = fake_llm.calls[sid][1].user  # after the page's scripts ran
    for probe in ("private", "metadata", "file", "loopback", "ws"):
        assert f"{probe}: failed" in state, probe
    assert "root:x:0:0" not in "".join(c.user for c in fake_llm.calls[sid])

    told = _told(fake_llm, sid, view)
    for url, reason in [
        (f"http://10.0.0.1/private-{sid}", "10.0.0.1 is a private address"),
        (f"http://10.0.0.1/redirected-{sid}", "10.0.0.1 is a private address"),
        (f"http://127.0.0.1:{_port(other)}/img-{sid}.png", "127.0.0.1 is a loopback address"),
        (f"http://169.254.169.254/latest/meta-data/iam/?{sid}", "169.254.169.254 is a cloud metadata"),
    ]:
        assert f"{url} blocked: {reason}" in told, url
    assert f"iframe load of http://169.254.169.254/latest/meta-data/?{sid} blocked" in told
    navigations = [s.results[0] for s in view.steps[1:5]]
    assert "navigation to http://10.0.0.1/admin blocked: 10.0.0.1 is a private address" in navigations[0]
    assert "169.254.169.254 is a cloud metadata endpoint" in navigations[1]
    assert "file:///etc/passwd blocked: the file: scheme is not allowed" in navigations[2]
    assert "localhost names the local machine" in navigations[3]  # decided on the name, before DNS
    assert all(r.startswith("error:") for r in navigations)


def test_loopback_is_reachable_only_when_configured(
    producer, strict_producer, fake_llm: FakeLLM, site: Site, other: Site, worker
) -> None:
    sid_open, sid_strict = script_id("netopen"), script_id("netstrict")
    for sid in (sid_open, sid_strict):
        site.pages[f"/loopback-{sid}"] = LOOPBACK.format(other=_port(other), sid=sid)
    done = [step({"wait": {"seconds": 0.5}}), step({"done": {"text": "looked", "success": True}})]

    def look(producer_: Producer, sid: str) -> TaskView:
        marker = fake_llm.script(sid, list(done))
        return run(producer_, {"task": f"Look. {marker}", "startUrl": f"{site.url}/loopback-{sid}"})

    open_view, strict_view = look(producer, sid_open), look(strict_producer, sid_strict)
    assert open_view.status == strict_view.status == TaskStatus.finished
    # BROWSERFLEET_ALLOW_PRIVATE_NETWORKS=true: the other loopback service was reached ...
    assert _reached(other, sid_open) == [f"/img-{sid_open}.png"]
    # ... and without it, it was not.
    assert _reached(other, sid_strict) == []
    assert "127.0.0.1 is a loopback address" in _told(fake_llm, sid_strict, strict_view)
    # Metadata endpoints stay refused even where private networks are allowed.
    open_told = _told(fake_llm, sid_open, open_view)
    assert "169.254.169.254 is a cloud metadata endpoint" in open_told
    assert "is a loopback address" not in open_told
