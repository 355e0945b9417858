"""Redirects and navigations judged as Chromium parses them: nothing outside allowedDomains loads.

One local server under two names: ``localhost`` is allowed, ``127.0.0.1`` is not. Each
redirect's ``Location`` (and each URL the model navigates to) reads as ``localhost`` to
Python's ``urlsplit``/``urljoin`` and as ``127.0.0.1`` to the browser. The server logs the
Host header of every request, so its log proves that no disallowed document loaded.
"""

from __future__ import annotations

import pytest

from shared.models import TaskStatus
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.site import Site

pytestmark = pytest.mark.usefixtures("worker")


def _vectors(port: str, sid: str) -> list[str]:
    bad = f"127.0.0.1:{port}"
    return [
        f"/\\{bad}/bad-1-{sid}",  # urljoin: a path on localhost
        f"http://{bad}\\@localhost:{port}/bad-2-{sid}",  # urlsplit: host localhost
        f"http:\\\\{bad}/bad-3-{sid}",
        f"\\\\{bad}/bad-4-{sid}",
        f"http://localhost:{port}%2F@{bad}/bad-5-{sid}",
        f"http://{bad}\t/bad-6-{sid}",
    ]


def test_nothing_outside_allowed_domains_loads_whatever_the_url_spelling(
    producer, fake_llm: FakeLLM, site: Site
) -> None:
    sid = script_id("urls")
    port = site.url.rsplit(":", 1)[1]
    ok = f"http://localhost:{port}"
    vectors = _vectors(port, sid)
    hops = []
    for i, location in enumerate(vectors):
        site.redirects[f"/hop-{i}-{sid}"] = location
        hops.append(f"{ok}/hop-{i}-{sid}")
    site.pages[f"/start-{sid}"] = "<!doctype html><title>Start</title><h1>Start</h1>"
    direct = [v if "://" in v or v.startswith("http:") else "http:" + v for v in vectors]
    plan = [*hops, *direct]

    def script(call: Call) -> str:
        if call.index < len(plan):
            return step({"navigate": {"url": plan[call.index]}})
        return step({"done": {"text": "stayed inside", "success": True}})

    marker = fake_llm.script(sid, script)
    view = run(producer, {
        "task": f"Visit the links. {marker}",
        "startUrl": f"{ok}/start-{sid}",
        "allowedDomains": ["localhost"],
        "maxSteps": len(plan) + 2,
    }, timeout=180)
    assert view.status == TaskStatus.finished and view.is_success, view.error
    bad_host = f"127.0.0.1:{port}"
    loaded = [(path, host) for _, path, host in site.log if sid in path]
    assert not [p for p, h in loaded if h == bad_host or "/bad-" in p], loaded
    assert all(("GET", f"/hop-{i}-{sid}", f"localhost:{port}") in site.log for i in range(len(vectors)))
    results = " ".join(r for s in view.steps for r in s.results)
    assert results.count("not in allowedDomains") >= len(plan), results
