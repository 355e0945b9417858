"""File uploads into sessions, end to end: the official SDK asks for a presigned URL, the file is
POSTed to browserfleet itself, and a loopback form with a file input receives the bytes intact,
from an agent task (the ``upload_file`` action) and from a browser session driven over CDP.
Then the attacks: traversal in the name, a body larger than declared, the wrong type, a
reused URL, another key's session.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import re
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import httpx
import pytest
import redis
import websockets
from browser_use_sdk import BrowserUse, BrowserUseError

from shared import keys
from tests.e2e.helpers import script_id
from tests.e2e.test_browsers import Cdp, no_browser_left, wait_started  # noqa: F401 (a fixture)
from tests.support.api import FULL_KEY, SCOPED_KEY_A, SCOPED_KEY_B, ApiServer
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.http_server import LocalServer

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"  # binary, every byte value
FORM = """<!doctype html><html><head><title>Upload</title></head><body>
<form method="post" action="/submit" enctype="multipart/form-data">
  <input type="file" name="document" id="doc">
  <button type="submit">Send</button>
</form></body></html>"""


class FormSite:
    """A loopback site with one upload form; records what each POST carried, parsed server-side."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = FORM.encode()
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length", 0)))
                head = f"Content-Type: {self.headers.get('content-type')}\r\n\r\n".encode()
                message = email.message_from_bytes(head + raw, policy=email.policy.HTTP)
                for part in message.iter_parts():
                    site.received.append(
                        {
                            "name": part.get_param("name", header="content-disposition"),
                            "filename": part.get_filename(),
                            "type": part.get_content_type(),
                            "data": part.get_payload(decode=True),
                        }
                    )
                body = b"<title>Sent</title><h1>thanks</h1>"
                self.send_response(200)
                self.send_header("content-type", "text/html")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = LocalServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/form"


@pytest.fixture
def form_site() -> Iterator[FormSite]:
    site = FormSite()
    yield site
    site.server.shutdown()
    site.server.server_close()


@pytest.fixture
def client(api: ApiServer) -> Iterator[BrowserUse]:
    with BrowserUse(api_key=FULL_KEY, base_url=api.base) as sdk:
        yield sdk


def upload(url: str, fields: dict[str, str], name: str, data: bytes, content_type: str) -> httpx.Response:
    """As one uploads to an S3-style presigned POST: the fields, then the file."""
    return httpx.post(url, data=fields, files={"file": (name, data, content_type)}, timeout=30)


def index_of(call: Call, pattern: str) -> int:
    for line in call.user.splitlines():
        match = re.match(r"\s*\[(\d+)\]" + pattern, line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"no element matching {pattern!r} in:\n{call.user}")


def test_an_agent_task_puts_an_uploaded_file_into_a_form(
    client: BrowserUse, fake_llm: FakeLLM, form_site: FormSite
) -> None:
    session = client.sessions.create()
    name = f"report {uuid.uuid4().hex[:6]}.pdf"
    presigned = client.files.session_url(
        str(session.id), file_name=name, content_type="application/pdf", size_bytes=len(PDF)
    )
    assert presigned.method == "POST" and presigned.expires_in > 0 and presigned.file_name == name
    assert upload(presigned.url, presigned.fields, name, PDF, "application/pdf").status_code == 204
    seen: list[str] = []

    def script(call: Call) -> str:
        if "thanks" in call.user:
            return step({"done": {"text": "sent", "success": True}})
        seen.append(call.user)
        actions = [
            {"upload_file": {"index": index_of(call, "<input type=file"), "file_name": name}},
            {"click": {"index": index_of(call, "<button")}},
        ]
        return json.dumps(
            {"memory": "", "next_goal": "send", "evaluation_previous_goal": "", "action": actions}
        )

    marker = fake_llm.script(script_id("upload-agent"), script)
    created = client.tasks.create(
        f"Send the report. {marker}", start_url=form_site.url, session_id=str(session.id)
    )
    view = client.tasks.wait(str(created.id), timeout=90, interval=0.2)
    assert view.status.value == "finished" and view.output == "sent", view
    assert f"{name} (application/pdf, {len(PDF)} bytes)" in seen[0]  # the model is told which files exist
    files = [r for r in form_site.received if r["name"] == "document"]
    assert files and files[0]["filename"] == name and files[0]["data"] == PDF


def test_a_browser_session_hands_an_uploaded_file_to_a_file_input(
    client: BrowserUse, api: ApiServer, form_site: FormSite
) -> None:
    browser = client.browsers.create(timeout=5)
    assert browser.cdp_url
    ws_url = wait_started(api, browser.cdp_url)["webSocketDebuggerUrl"]
    csv = b"name,amount\nwidget,3\n"
    presigned = client.files.browser_url(
        str(browser.id), file_name="order.csv", content_type="text/csv", size_bytes=len(csv)
    )
    sent = httpx.post(presigned.url, content=csv, headers={"content-type": "text/csv"})
    assert sent.status_code == 204, sent.text

    async def send() -> dict[str, Any]:
        async with websockets.connect(ws_url, max_size=None) as ws:
            cdp = Cdp(ws)
            session = await cdp.page(form_site.url)
            # Any directory part is ignored: a client passes its own local path of the file.
            answer = await cdp.file_input(session, "#doc", ["/home/someone/Downloads/order.csv"])
            await cdp.call("Runtime.evaluate", {"expression": "document.forms[0].submit()"}, session)
            for _ in range(100):
                if form_site.received:
                    break
                await asyncio.sleep(0.05)
            return answer

    answer = asyncio.run(send())
    client.browsers.stop(str(browser.id))
    assert "error" not in answer, answer
    files = [r for r in form_site.received if r["name"] == "document"]
    assert files and files[0]["filename"] == "order.csv" and files[0]["data"] == csv


def test_uploads_refuse_what_they_must(api: ApiServer, redis_client: redis.Redis) -> None:
    with api.client(SCOPED_KEY_A) as mine, api.client(SCOPED_KEY_B) as theirs:
        sid = mine.post("/sessions", json={}).json()["id"]

        def presign(name: str, kind: str, size: int, http: httpx.Client = mine) -> httpx.Response:
            return http.post(
                f"/files/sessions/{sid}/presigned-url",
                json={"fileName": name, "contentType": kind, "sizeBytes": size},
            )

        for bad in ("../../etc/passwd", "..", "a/b.pdf", "a\\b.pdf", "a\x00.pdf", "x" * 256):
            refused = presign(bad, "application/pdf", 10)
            assert refused.status_code in (400, 422) and "passwd" not in refused.text, (bad, refused.text)
        assert presign("a.exe", "application/x-msdownload", 10).json() == {
            "detail": "Unsupported content type"
        }
        assert presign("big.pdf", "application/pdf", 10 * 1024 * 1024 + 1).status_code == 422
        assert presign("a.pdf", "application/pdf", 10, theirs).status_code == 404  # another key's session

        # More bytes than declared: refused while streaming, nothing kept.
        grant = presign("small.pdf", "application/pdf", 100).json()

        def endless() -> Iterator[bytes]:
            yield b"%PDF-1.4\n"
            for _ in range(10_000):
                yield b"x" * 1024

        over = httpx.post(
            grant["url"], content=endless(), headers={"content-type": "application/pdf"}, timeout=30
        )
        assert over.status_code == 413
        # The declared type, but other content; and another declared type.
        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 50
        grant = presign("fake.pdf", "application/pdf", len(png)).json()
        assert upload(grant["url"], grant["fields"], "fake.pdf", png, "application/pdf").status_code == 415
        grant = presign("typed.pdf", "application/pdf", len(PDF)).json()
        wrong = httpx.post(grant["url"], content=PDF, headers={"content-type": "image/png"})
        assert wrong.status_code == 415
        # Single use: a URL that served once (or failed) does not serve again.
        grant = presign("once.pdf", "application/pdf", len(PDF)).json()
        assert upload(grant["url"], grant["fields"], "once.pdf", PDF, "application/pdf").status_code == 204
        again = upload(grant["url"], grant["fields"], "once.pdf", PDF, "application/pdf")
        assert again.status_code == 404
        kept = redis_client.hkeys(keys.uploads("session", sid))
        assert kept == ["once.pdf"], kept


def test_sdk_errors_for_uploads(client: BrowserUse) -> None:
    with pytest.raises(BrowserUseError) as missing:
        client.files.session_url(
            str(uuid.uuid4()), file_name="a.pdf", content_type="application/pdf", size_bytes=5
        )
    assert missing.value.status_code == 404
