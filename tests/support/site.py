"""A small local website for end-to-end tests: login, a multi-field form, a result page.

Every request is logged (path, method, host header), so tests can prove what the
browser did or did not load.
"""

from __future__ import annotations

import html
import threading
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from tests.support.http_server import HtmlHandler, LocalServer

PASSWORD = "hunter2-s3cret"

LOGIN = """<!doctype html><html><head><title>Login</title></head><body>
<h1>Sign in</h1>
<form method="post" action="/login">
  <input name="user" placeholder="Username">
  <input name="password" type="password" placeholder="Password">
  <button type="submit">Log in</button>
</form></body></html>"""

ORDER = """<!doctype html><html><head><title>Order</title></head><body>
<h1>New order</h1><p>Welcome, {user}.</p>
<form method="post" action="/order">
  <input name="item" placeholder="Item">
  <input name="qty" type="number" placeholder="Quantity">
  <select name="colour"><option value="">Pick a colour</option>
    <option value="r">Red</option><option value="g">Green</option><option value="b">Blue</option></select>
  <button type="submit">Place order</button>
</form></body></html>"""

RESULT = """<!doctype html><html><head><title>Confirmed</title></head><body>
<h1>Order confirmed</h1><p id="summary">Order #{number}: {qty} x {item} in {colour}.</p>
</body></html>"""

COLOURS = {"r": "Red", "g": "Green", "b": "Blue"}


@dataclass
class Site:
    log: list[tuple[str, str, str]] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)
    redirects: dict[str, str] = field(default_factory=dict)  # GET path -> 302 Location
    forms: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # every POST's path and form
    # (a POST to /submit/<anything> is answered with a "Received" page listing its fields)
    server: LocalServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> str:
        site = self

        class Handler(HtmlHandler):
            def _user(self) -> str | None:
                return self._cookie("user")

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                site.log.append(("GET", path, self.headers.get("host", "")))
                if path in site.redirects:
                    self._send(302, "", {"location": site.redirects[path]})
                elif path in site.pages:
                    self._send(200, site.pages[path])
                elif path in ("/", "/login"):
                    self._send(200, LOGIN)
                elif path == "/order":
                    user = self._user()
                    if user is None:
                        self._send(302, "", {"location": "/login"})
                    else:
                        self._send(200, ORDER.format(user=html.escape(user)))
                else:
                    self._send(404, "<title>Not found</title><h1>404</h1>")

            def do_POST(self) -> None:
                path = urlsplit(self.path).path
                site.log.append(("POST", path, self.headers.get("host", "")))
                length = int(self.headers.get("content-length", 0))
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                site.forms.append((path, form))
                if path == "/login":
                    if form.get("password") == PASSWORD and form.get("user"):
                        cookie = f"user={form['user']}; Path=/"
                        self._send(303, "", {"location": "/order", "set-cookie": cookie})
                    else:
                        self._send(401, LOGIN.replace("<h1>Sign in</h1>", "<h1>Wrong password</h1>"))
                elif path == "/order":
                    self._send(200, RESULT.format(
                        number=1042,
                        qty=html.escape(form.get("qty", "")),
                        item=html.escape(form.get("item", "")),
                        colour=COLOURS.get(form.get("colour", ""), "none"),
                    ))
                elif path.startswith("/submit/"):  # any form: echo what it sent
                    fields = "".join(
                        f"<li>{html.escape(k)} = {html.escape(v)}</li>" for k, v in sorted(form.items())
                    )
                    self._send(200, f"<title>Received</title><h1>Received</h1><ul>{fields}</ul>")
                else:
                    self._send(404, "<h1>404</h1>")

        self.server = LocalServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.url

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
