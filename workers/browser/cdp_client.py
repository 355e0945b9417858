"""A minimal CDP client over a WebSocket: commands and their answers, events ignored.

The worker's own connection to a browser session's Chromium (download directory of the
default context, profile cookies in and out): a handful of commands per session, so no
event routing and no Playwright.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
COMMAND_TIMEOUT_S = 30.0


class CdpError(RuntimeError):
    """The browser answered a command with an error, or the connection ended first."""


class CdpClient:
    """Send commands, await their results."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str, Callable[[dict[str, Any]], None]] = {}
        self._reader = asyncio.get_running_loop().create_task(self._read())

    def on(self, method: str, listener: Callable[[dict[str, Any]], None]) -> None:
        """Call ``listener`` with each event ``method`` (the whole message: params and sessionId)."""
        self._listeners[method] = listener

    async def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        try:
            await self._ws.send(json.dumps(message))
            reply = await asyncio.wait_for(future, COMMAND_TIMEOUT_S)
        finally:
            self._pending.pop(ident, None)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error'].get('message', reply['error'])}")
        return dict(reply.get("result") or {})

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                if not isinstance(message, dict):
                    continue
                listener = self._listeners.get(message.get("method", ""))
                if listener is not None:
                    listener(message)
                future = self._pending.get(message.get("id", -1))
                if future is not None and not future.done():
                    future.set_result(message)
        except (ConnectionClosed, ValueError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(CdpError("the browser connection closed"))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self._ws.close()


@asynccontextmanager
async def cdp_session(ws_url: str) -> AsyncIterator[CdpClient]:
    """A browser-level CDP connection for the block."""
    async with connect(ws_url, max_size=MAX_MESSAGE_BYTES, open_timeout=10) as ws:
        client = CdpClient(ws)
        try:
            yield client
        finally:
            await client.close()
