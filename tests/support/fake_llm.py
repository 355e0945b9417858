"""An OpenAI-compatible chat-completions server for tests, scripted per task.

The agent reaches it through litellm's real HTTP client (``OPENAI_API_BASE``).
A test registers a *script* under an id and puts ``[[script:<id>]]`` in its task
text; every request whose messages contain that marker is answered by the script,
so many tasks can run concurrently against one server.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.http_server import LocalServer

_MARKER = re.compile(r"\[\[script:([A-Za-z0-9_\-]+)\]\]")
_LINE = re.compile(r"^(\t*)\[(\d+)\](.*)$")


@dataclass
class Reply:
    """One scripted answer: content, or an HTTP error status, after an optional delay."""

    content: str = ""
    status: int = 200
    delay_s: float = 0.0


Script = Callable[["Call"], Reply | str | dict[str, Any]]


@dataclass
class Call:
    """One request the server received."""

    body: dict[str, Any]
    index: int  # 0-based number of this call within its script

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))

    def text(self) -> str:
        """All message text, concatenated (image parts skipped)."""
        parts = []
        for message in self.messages:
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts += [p.get("text", "") for p in content if p.get("type") == "text"]
        return "\n".join(parts)

    @property
    def system(self) -> str:
        return next((m["content"] for m in self.messages if m["role"] == "system"), "")

    @property
    def user(self) -> str:
        msg = next((m for m in self.messages if m["role"] == "user"), {"content": ""})
        content = msg["content"]
        if isinstance(content, list):
            return "\n".join(p.get("text", "") for p in content if p.get("type") == "text")
        return str(content)

    @property
    def has_image(self) -> bool:
        return any(
            isinstance(m.get("content"), list)
            and any(p.get("type") == "image_url" for p in m["content"])
            for m in self.messages
        )

    def index_of(self, pattern: str) -> int:
        """The element index of the first state line matching ``pattern`` (a regex)."""
        for line in self.user.splitlines():
            match = re.match(r"\s*\[(\d+)\]", line)
            if match and re.search(pattern, line):
                return int(match.group(1))
        raise AssertionError(f"no element matching {pattern!r} in state:\n{self.user[-3000:]}")

    def elements(self) -> list[tuple[int, int, str]]:
        """(depth, index, body) of every element line of the state."""
        state = self.user.split("interactive elements", 1)[1].split("\npage text:", 1)[0]
        return [(len(m[1]), int(m[2]), m[3]) for line in state.splitlines() if (m := _LINE.match(line))]

    @property
    def page_text(self) -> str:
        return self.user.split("\npage text:\n", 1)[1].split("</state>", 1)[0]

    @property
    def last_result(self) -> str:
        """The last history line (the previous step's actions and results); "" on the first step."""
        if "<history>" not in self.user:
            return ""
        history = self.user.split("<history>\n", 1)[1].split("\n</history>", 1)[0]
        return history.splitlines()[-1]

    @property
    def is_extract(self) -> bool:
        return "<query>" in self.user


def step(*actions: dict[str, Any], memory: str = "", goal: str = "", evaluation: str = "") -> str:
    """A well-formed agent reply."""
    return json.dumps(
        {
            "evaluation_previous_goal": evaluation,
            "memory": memory,
            "next_goal": goal,
            "action": list(actions),
        }
    )


@dataclass
class FakeLLM:
    """The server and its scripts; thread-safe."""

    scripts: dict[str, Script] = field(default_factory=dict)
    calls: dict[str, list[Call]] = field(default_factory=dict)
    unscripted: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: LocalServer | None = None

    def script(self, script_id: str, script: Script | list[Reply | str]) -> str:
        """Register a script; returns the marker to put in the task text."""
        if isinstance(script, list):
            replies = list(script)

            def scripted(call: Call) -> Reply | str:
                return replies[min(call.index, len(replies) - 1)]

            self.scripts[script_id] = scripted
        else:
            self.scripts[script_id] = script
        self.calls[script_id] = []
        return f"[[script:{script_id}]]"

    def answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str]:
        raw = json.dumps(body.get("messages", []))
        match = _MARKER.search(raw)
        with self.lock:
            if not match or match.group(1) not in self.scripts:
                self.unscripted.append(body)
                return 400, {"error": {"message": "no script for this request", "type": "invalid_request"}}
            script_id = match.group(1)
            call = Call(body=body, index=len(self.calls[script_id]))
            self.calls[script_id].append(call)
        reply = self.scripts[script_id](call)
        if isinstance(reply, dict):
            reply = json.dumps(reply)
        if isinstance(reply, str):
            reply = Reply(content=reply)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.status != 200:
            return reply.status, {"error": {"message": f"scripted {reply.status}", "type": "server_error"}}
        prompt_tokens = max(1, len(raw) // 4)
        completion_tokens = max(1, len(reply.content) // 4)
        return 200, {
            "id": f"chatcmpl-{script_id}-{call.index}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", "fake"),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a real provider: no new connection per call

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                status, payload = fake.answer(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = LocalServer((host, port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://{host}:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
