"""allowedDomains end to end: no disallowed document loads, whatever leads there.

Two host names for one local server: ``localhost`` is allowed, ``127.0.0.1`` is not.
The server logs the Host header of every request, so the log proves what loaded.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from producer import TaskValidationError
from shared import keys
from shared.models import TaskStatus
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.site import Site

pytestmark = pytest.mark.usefixtures("worker")

# What the agent clicks on the home page, in order; each leads to a disallowed document.
CLICKS = [
    "Bad link",
    "Redirecting link",
    "Chain link",
    "Post form",
    "Script navigation",
    "Open popup",
    "Open redirecting popup",
    "New-tab link",
]

HOME = """<!doctype html><html><head><title>Domains home</title></head><body>
<h1>Home</h1>
<img src="{bad}/pixel-{sid}.png" alt="">
<a href="{bad}/bad-link-{sid}">Bad link</a>
<a href="{ok}/redir-{sid}">Redirecting link</a>
<a href="{ok}/chain-{sid}">Chain link</a>
<form method="post" action="{bad}/bad-post-{sid}"><button type="submit">Post form</button></form>
<button onclick="location.href='{bad}/bad-script-{sid}'">Script navigation</button>
<button onclick="window.open('{bad}/bad-popup-{sid}')">Open popup</button>
<button onclick="window.open('{ok}/redir-popup-{sid}')">Open redirecting popup</button>
<a href="{bad}/bad-blank-{sid}" target="_blank">New-tab link</a>
<a href="{ok}/allowed-{sid}">Allowed page</a>
<iframe src="{bad}/bad-frame-{sid}"></iframe>
<iframe src="{ok}/redir-frame-{sid}"></iframe>
</body></html>"""


def _site_pages(site: Site, sid: str) -> tuple[str, str]:
    port = site.url.rsplit(":", 1)[1]
    ok, bad = f"http://localhost:{port}", f"http://127.0.0.1:{port}"
    site.pages[f"/home-{sid}"] = HOME.format(ok=ok, bad=bad, sid=sid)
    site.pages[f"/allowed-{sid}"] = "<!doctype html><title>Allowed</title><h1>Allowed page</h1>"
    site.redirects[f"/redir-{sid}"] = f"{bad}/bad-redirect-{sid}"
    site.redirects[f"/chain-{sid}"] = f"{ok}/chain2-{sid}"  # allowed hop, then a disallowed one
    site.redirects[f"/chain2-{sid}"] = f"{bad}/bad-chain-{sid}"
    site.redirects[f"/redir-popup-{sid}"] = f"{bad}/bad-popup-redirect-{sid}"
    site.redirects[f"/redir-frame-{sid}"] = f"{bad}/bad-frame-redirect-{sid}"
    return ok, bad


def _current_tab(call: Call) -> int:
    tabs = next(line for line in call.user.splitlines() if line.startswith("tabs: "))
    match = re.search(r"\[(\d+)\][^;]*\(current\)", tabs)
    assert match, tabs
    return int(match.group(1))


def _domains_script(ok: str, bad: str, sid: str) -> Any:
    clicked: list[str] = []

    def script(call: Call) -> str:
        if "title: Allowed" in call.user:
            return step({"done": {"text": "stayed inside", "success": True}})
        if "title: Blocked redirect" in call.user:  # the guard's notice in place of a redirect
            return step({"go_back": {}})
        if "title: Domains home" not in call.user:  # a refused popup: close its tab
            return step({"close_tab": {"tab_id": _current_tab(call)}})
        if len(clicked) < len(CLICKS):
            target = CLICKS[len(clicked)]
            clicked.append(target)
            return step({"click": {"index": call.index_of(re.escape(target))}}, goal=target)
        if "navigate" not in clicked:
            clicked.append("navigate")
            return step({"navigate": {"url": f"{bad}/bad-navigate-{sid}"}}, goal="navigate")
        return step({"click": {"index": call.index_of("Allowed page")}})

    return script


def test_no_disallowed_document_loads(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("dom")
    ok, bad = _site_pages(site, sid)
    marker = fake_llm.script(sid, _domains_script(ok, bad, sid))
    first = len(site.log)
    view = run(producer, {
        "task": f"Try every link, then open the allowed page. {marker}",
        "startUrl": f"{ok}/home-{sid}",
        "allowedDomains": ["localhost"],
        "maxSteps": 30,
    }, timeout=180)
    assert view.status == TaskStatus.finished and view.is_success, view.error
    bad_host = bad.split("//")[1]
    requests = site.log[first:]
    # The server saw no document request for the disallowed host ...
    loaded = [path for method, path, host in requests if host == bad_host and sid in path]
    assert set(loaded) == {f"/pixel-{sid}.png"}, loaded  # only the image: sub-resources are not restricted
    # ... while the allowed hops of the redirect chain did happen, and the allowed page loaded.
    ok_host = ok.split("//")[1]
    for path in (f"/home-{sid}", f"/redir-{sid}", f"/chain-{sid}", f"/chain2-{sid}", f"/allowed-{sid}"):
        assert ("GET", path, ok_host) in requests, path
    assert not [form for path, form in site.forms if sid in path]

    results = "\n".join(r for s in view.steps for r in s.results)
    for leaf in ("bad-link", "bad-redirect", "bad-chain", "bad-post", "bad-script", "bad-popup",
                 "bad-popup-redirect", "bad-blank", "bad-navigate"):
        assert f"{bad}/{leaf}-{sid} blocked: not in allowedDomains" in results, leaf
    assert f"iframe load of {bad}/bad-frame-{sid} blocked" in results
    assert f"iframe load of {bad}/bad-frame-redirect-{sid} blocked" in results
    # A blocked click is an error of the step that made it; the agent stays on the page.
    by_goal = {s.next_goal: s for s in view.steps}
    link_step = by_goal["Bad link"]
    assert link_step.results[0].startswith("error:") and "bad-link" in link_step.results[0]
    after = view.steps[view.steps.index(link_step) + 1]
    assert after.url == f"{ok}/home-{sid}"
    # The model was told, in the prompt of the next step.
    told = [c.user for c in fake_llm.calls[sid] if f"{bad}/bad-link-{sid} blocked" in c.user]
    assert told


def test_a_start_url_outside_allowed_domains_is_rejected_before_enqueue(
    producer, settings, redis_client, site: Site
) -> None:
    # The worker would refuse it too (the start URL goes through the same navigate guard);
    # the producer says so at once instead of running a task that cannot start.
    port = site.url.rsplit(":", 1)[1]
    before = (redis_client.llen(settings.queue), redis_client.zcard(keys.TASK_INDEX))
    with pytest.raises(TaskValidationError) as info:
        producer.create_task({
            "task": "Look.", "startUrl": f"http://127.0.0.1:{port}/login", "allowedDomains": ["localhost"],
        })
    assert [e["loc"] for e in info.value.errors] == [["startUrl"]]
    assert "outside allowedDomains" in str(info.value)
    assert (redis_client.llen(settings.queue), redis_client.zcard(keys.TASK_INDEX)) == before


@pytest.mark.parametrize(
    "pattern", ["*", "*.com", "example.com/login", "ftp://example.com", "example.com:99999", "ex*.com"]
)
def test_invalid_patterns_are_rejected_before_enqueue(producer, settings, redis_client, pattern) -> None:
    before = (redis_client.llen(settings.queue), redis_client.zcard(keys.TASK_INDEX))
    with pytest.raises(TaskValidationError) as info:
        producer.create_task({"task": "t", "allowedDomains": ["example.org", pattern]})
    assert info.value.errors[0]["loc"][0] == "allowedDomains"
    assert repr(pattern) in str(info.value)
    assert (redis_client.llen(settings.queue), redis_client.zcard(keys.TASK_INDEX)) == before
