"""The HTTP server every local test site, fake model and benchmark page runs on.

``http.server``'s default listen backlog is 5: when more connections arrive at once than
the accept thread takes (a benchmark's 32 tasks stepping in lockstep), the kernel drops
their SYNs and each client waits a 1 s, 3 s, 7 s retransmit, time that would be charged
to the worker. A real provider or site has no such limit, so neither do ours.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LocalServer(ThreadingHTTPServer):
    """A threading HTTP server with a deep accept queue and daemon request threads."""

    request_queue_size = 1024
    daemon_threads = True


class HtmlHandler(BaseHTTPRequestHandler):
    """A loopback site's request handler: HTML answers and cookie reads, quiet logs."""

    def _send(self, status: int, body: str, headers: dict[str, str] | None = None) -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("content-type", "text/html; charset=utf-8")
        self.send_header("content-length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _cookie(self, wanted: str) -> str | None:
        """The request's cookie ``wanted``, if it sent one."""
        for part in self.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == wanted:
                return value
        return None

    def log_message(self, *args: object) -> None:
        pass


Route = Callable[[str], tuple[bytes, dict[str, str]]]


@contextmanager
def serving(route: Route) -> Iterator[str]:
    """A local server answering each GET with ``route(path)`` (body, headers); yields its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body, headers = route(self.path)
            self.send_response(200)
            for name, value in {**headers, "content-length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = LocalServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
