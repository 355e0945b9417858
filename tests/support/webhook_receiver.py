"""A webhook receiver written with the official SDK: a real HTTP server in its own process.

The server (this file run as a script, with ``browser-use-sdk`` 2.0.15 on its ``PYTHONPATH``)
checks every request with ``browser_use_sdk.lib.webhooks.verify_webhook_event_signature``,
answers 200 when it verifies and 401 when it does not, and writes one JSON line per request
(path, headers, raw body, what the SDK parsed, the answer) to a log file. Per path, it can
fail its first requests (``{"/flaky": {"fail_first": 3, "redirect_first": 1}}``: a redirect
first, then 500s, then normal service) and verify with its own secret (``"secret"``).
:class:`Receiver` starts and reads it from tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def serve(port: int, secret: str, log_path: str, plans: dict[str, dict[str, Any]]) -> None:
    """The receiver itself (runs in the subprocess)."""
    from browser_use_sdk.lib.webhooks import verify_webhook_event_signature

    lock = threading.Lock()
    seen: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0))).decode()
            with lock:
                n = seen[self.path] = seen.get(self.path, 0) + 1
            plan = plans.get(self.path, {})
            redirects = plan.get("redirect_first", 0)
            event = verify_webhook_event_signature(
                body=body,
                expected_signature=self.headers.get("X-Browser-Use-Signature", ""),
                timestamp=self.headers.get("X-Browser-Use-Timestamp", ""),
                secret=plan.get("secret", secret),
            )
            stamp = self.headers.get("X-Browser-Use-Timestamp", "")
            fresh = stamp.isdigit() and abs(time.time() - int(stamp)) <= 300  # the docs' replay window
            if not fresh:
                event = None
            if n <= redirects:
                status = 302
            elif n <= redirects + plan.get("fail_first", 0):
                status = 500
            else:
                status = 200 if event is not None else 401
            parsed = None
            if event is not None:
                payload = event.payload.model_dump(mode="json")
                parsed = {"type": event.type, "payload": payload}
            record = {
                "at": time.time(), "path": self.path, "n": n, "answered": status, "body": body,
                "verified": parsed,
                "headers": {k: v for k, v in self.headers.items() if k.lower().startswith("x-")},
            }
            with lock, open(log_path, "a") as log:
                log.write(json.dumps(record) + "\n")
            self.send_response(status)
            if status == 302:
                self.send_header("Location", "/redirected-here")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("listening", flush=True)
    server.serve_forever()


class Receiver:
    """The receiver subprocess on ``port`` (started with :meth:`start`, which can come later)."""

    def __init__(self, port: int, secret: str, log_path: Path, sdk_dir: Path,
                 plans: dict[str, dict[str, Any]] | None = None) -> None:
        self.port, self.secret, self.log_path, self.sdk_dir = port, secret, log_path, sdk_dir
        self.plans = plans or {}
        self.proc: subprocess.Popen[str] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> Receiver:
        args = [sys.executable, __file__, str(self.port), self.secret, str(self.log_path),
                json.dumps(self.plans)]
        env = {**os.environ, "PYTHONPATH": str(self.sdk_dir)}
        self.proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if "listening" not in line:
            raise RuntimeError(f"the webhook receiver did not start: {line}{self.proc.stdout.read()[-2000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def requests(self, path: str | None = None) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        lines = [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]
        return [r for r in lines if path is None or r["path"] == path]

    def accepted(self, path: str, task_id: str | None = None) -> list[dict[str, Any]]:
        """The requests answered 200 (verified by the SDK), in arrival order (of one task)."""
        return [r for r in self.requests(path) if r["answered"] == 200
                and (task_id is None or r["verified"]["payload"].get("task_id") == task_id)]

    def stray(self, path: str) -> list[dict[str, Any]]:
        """Requests at ``path`` the SDK did not verify (a bad signature or a stale timestamp)."""
        return [r for r in self.requests(path) if r["verified"] is None]


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))
