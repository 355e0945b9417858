"""The built-in skills against real Chromium and a local server (no worker, no LLM).

Each skill is called as the agent would call it: through its action, with an
``ActionContext`` whose guard refuses one host, so the policy checks are real.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import pytest
from playwright.async_api import Browser

from shared.models import FileView
from workers.actions.base import ActionContext, ActionError, ActionResult
from workers.browser.tabs import BrowserTabs
from workers.secrets.vault import SecretVault
from workers.skills.builtin import BUILTIN_SKILLS
from workers.skills.files import TaskFiles

T = TypeVar("T")
SKILLS = {s.id: s for s in BUILTIN_SKILLS}

FORM = """<!doctype html><html><head><title>Profile</title></head><body>
<form method="post" action="/saved">
  <label for="name">Full name</label><input id="name" name="fullname">
  <input name="email" placeholder="E-mail">
  <label>Country <select name="country"><option value="fr">France</option><option value="de">Germany</option>
  </select></label>
  <label><input type="checkbox" name="news"> Newsletter</label>
  <input type="password" name="pin" placeholder="PIN">
  <button>Save</button>
</form></body></html>"""


# A readonly field a picker fills (it shows dd/mm/yyyy) and a native date input.
DATES = """<!doctype html><html><head><title>Trip</title></head><body>
<form method="post" action="/saved">
  <label>Arrive <input name="arrive" readonly placeholder="dd/mm/yyyy"></label>
  <label>Leave <input type="date" name="leave"></label>
  <button>Save</button>
</form></body></html>"""


class _Handler(BaseHTTPRequestHandler):
    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/form":
            self._send(200, FORM.encode(), {"content-type": "text/html"})
        elif url.path == "/dates":
            self._send(200, DATES.encode(), {"content-type": "text/html"})
        elif url.path == "/redirect":
            self._send(302, b"", {"location": query["to"]})
        elif url.path == "/report":
            self._send(200, b"%PDF-1.4 fake", {"content-type": "application/pdf",
                                               "content-disposition": 'attachment; filename="Q3 report.pdf"'})
        elif url.path == "/big":
            self._send(200, b"x" * 5000, {"content-type": "application/octet-stream"})
        else:
            self._send(404, b"missing", {"content-type": "text/plain"})

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", 0))
        form = parse_qs(self.rfile.read(length).decode())
        body = "".join(f"<p>{k}={v[0]}</p>" for k, v in sorted(form.items()))
        self._send(200, f"<title>Saved</title>{body}".encode(), {"content-type": "text/html"})

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@dataclass
class MemoryFiles:
    """Stands in for :class:`TaskFiles` (the Redis-backed one is tested with the store)."""

    max_bytes: int = 1000
    saved: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    async def save(self, file_name: str, data: bytes, content_type: str) -> FileView:
        if len(data) > self.max_bytes:
            raise ActionError("too big")
        self.saved[file_name] = (data, content_type)
        return FileView(id=uuid4(), file_name=file_name)


class Harness:
    """One browser context and page; ``call`` runs a skill through its agent action."""

    def __init__(self, loop: asyncio.AbstractEventLoop, browser: Browser) -> None:
        self.loop = loop
        self.context = self.run(browser.new_context())
        self.tabs = BrowserTabs(self.context, 5)
        self.files = MemoryFiles()
        self.vault = SecretVault({"pin": "4242"})

    def run(self, awaitable: Awaitable[T]) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(awaitable, 30))

    def goto(self, url: str) -> None:
        self.run(self.run(self.tabs.page()).goto(url))

    def call(self, skill_id: str, params: dict[str, Any]) -> ActionResult:
        async def extract(query: str, page_text: str) -> str:
            return ""

        ctx = ActionContext(tabs=self.tabs, elements=None, vault=self.vault, extract=extract,
                            guard=lambda url: "blocked host" if "localhost" in url else None)
        action = SKILLS[skill_id].action(cast(TaskFiles, self.files))
        return self.run(action.run(ctx, action.params.model_validate(params)))


@pytest.fixture
def harness(loop: asyncio.AbstractEventLoop, browser: Browser) -> Iterator[Harness]:
    h = Harness(loop, browser)
    yield h
    h.run(h.context.close())


def test_fill_form_finds_fields_by_label_placeholder_and_name(harness: Harness, server: str) -> None:
    harness.goto(server + "/form")
    result = harness.call("fill_form", {"fields": {
        "Full name": "Ada Lovelace", "E-mail": "ada@example.org", "country": "Germany",
        "Newsletter": "yes", "PIN": "<secret>pin</secret>",
    }, "submit": True})
    assert result.text.startswith("skill fill_form: filled 5 field(s)") and "submitted, now at" in result.text
    assert "4242" not in result.text
    page = harness.run(harness.tabs.page())
    body = harness.run(page.inner_text("body"))
    assert body.split() == ["country=de", "email=ada@example.org", "fullname=Ada", "Lovelace", "news=on",
                            "pin=4242"]


def test_fill_form_writes_fields_as_input_does(harness: Harness, server: str) -> None:
    """A readonly picker field and a native date input: set as ``input`` sets them (one writer),
    each in its own format, instead of a fill that waits out its timeout."""
    harness.goto(server + "/dates")
    result = harness.call("fill_form", {"fields": {"Arrive": "2027-03-14", "Leave": "March 20, 2027"},
                                        "submit": True})
    assert "submitted, now at" in result.text
    page = harness.run(harness.tabs.page())
    assert harness.run(page.inner_text("body")).split() == ["arrive=14/03/2027", "leave=2027-03-20"]


def test_fill_form_reports_missing_fields_and_unknown_secrets(harness: Harness, server: str) -> None:
    harness.goto(server + "/form")
    with pytest.raises(ActionError, match="no form field labelled, named or with placeholder 'Age'"):
        harness.call("fill_form", {"fields": {"Age": "3"}})
    with pytest.raises(ActionError, match="no secret named 'nope'"):
        harness.call("fill_form", {"fields": {"PIN": "<secret>nope</secret>"}})


def test_download_follows_allowed_redirects_and_names_the_file(harness: Harness, server: str) -> None:
    harness.goto(server + "/form")
    result = harness.call("download_file", {"url": "/redirect?to=/report"})
    assert harness.files.saved == {"Q3 report.pdf": (b"%PDF-1.4 fake", "application/pdf")}
    assert '"fileName":"Q3 report.pdf"' in result.text and f'"url":"{server}/report"' in result.text


def test_download_applies_the_guard_to_every_hop(harness: Harness, server: str) -> None:
    harness.goto(server + "/form")
    port = server.rsplit(":", 1)[1]
    with pytest.raises(ActionError, match="is blocked: blocked host"):
        harness.call("download_file", {"url": f"http://localhost:{port}/report"})
    with pytest.raises(ActionError, match=f"http://localhost:{port}/report is blocked"):
        harness.call("download_file", {"url": f"/redirect?to=http://localhost:{port}/report"})
    assert harness.files.saved == {}


def test_download_refuses_oversized_and_failed_responses(harness: Harness, server: str) -> None:
    harness.goto(server + "/form")
    with pytest.raises(ActionError, match="5000 bytes, over the 1000-byte file limit"):
        harness.call("download_file", {"url": "/big"})
    with pytest.raises(ActionError, match="failed: HTTP 404"):
        harness.call("download_file", {"url": "/nothing"})
    with pytest.raises(ActionError, match="only http"):
        harness.call("download_file", {"url": "file:///etc/passwd"})


def test_extract_tables_index_out_of_range_is_a_model_error(harness: Harness, server: str) -> None:
    harness.goto(server + "/form")
    with pytest.raises(ActionError, match="no table 0: the page has 0 table"):
        harness.call("extract_tables", {"index": 0})
    links = harness.call("extract_links", {})
    assert links.text == f'skill extract_links: {{"url":"{server}/form","total":0,"links":[]}}'
