"""A browser session's ``cdpUrl``: ``/cdp/{token}``, relayed to the worker that runs the browser.

The token (256 random bits) is the credential, as in a presigned URL: CDP clients cannot
all send headers, and Playwright, Puppeteer and browser-use discover the WebSocket from
``{cdpUrl}/json/version``. Every WebSocket a client opens here is relayed message for
message to the worker's CDP relay (:mod:`workers.browser_sessions.cdp_relay`, which filters them),
so workers need not be reachable by callers, any API replica serves any session, and no
DevTools port ever leaves the worker. A stopped or unknown session's token answers 404.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from shared.browser_models import BrowserSessionStatus
from shared.browser_store import BrowserRecord

PATH = "/cdp"
TOKEN_HEADER = "X-Browserfleet-CDP-Token"  # what the worker's relay checks (the same token)
MAX_MESSAGE_BYTES = 200 * 1024 * 1024  # what browser-use allows (large DOM snapshots)

public = APIRouter(include_in_schema=False)


def cdp_url(request: Request, token: str) -> str:
    base = request.app.state.settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}{PATH}/{token}"


def _ws_base(base: str) -> str:
    return (
        "wss://" + base[len("https://") :]
        if base.startswith("https://")
        else "ws://" + base.removeprefix("http://")
    )


def _session(request: Request | WebSocket, token: str) -> BrowserRecord | None:
    record: BrowserRecord | None = request.app.state.producer.stores.browsers.by_token(token)
    if record is None or record.status != BrowserSessionStatus.active:
        return None
    return record


def _gone() -> JSONResponse:
    return JSONResponse({"detail": "This browser session is unknown or stopped"}, status_code=404)


def _starting() -> JSONResponse:
    return JSONResponse(
        {"detail": "The browser is starting (waiting for a worker); retry shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


@public.get(PATH + "/{token}/json/version")
@public.get(PATH + "/{token}/json/version/")
def version(token: str, request: Request) -> JSONResponse:
    """What ``connect_over_cdp(cdpUrl)`` and Puppeteer's ``browserURL`` read first."""
    record = _session(request, token)
    if record is None:
        return _gone()
    if not record.started:
        return _starting()
    info = record.browser_info
    base = request.app.state.settings.public_url or str(request.base_url)
    return JSONResponse(
        {
            "Browser": info.get("product", "Chrome"),
            "Protocol-Version": info.get("protocolVersion", "1.3"),
            "User-Agent": info.get("userAgent", ""),
            "V8-Version": info.get("jsVersion", ""),
            "WebKit-Version": info.get("revision", ""),
            "webSocketDebuggerUrl": f"{_ws_base(base.rstrip('/'))}{PATH}/{token}/devtools/browser/"
            f"{record.id}",
        }
    )


@public.websocket(PATH + "/{token}/devtools/browser/{browser_id}")
@public.websocket(PATH + "/{token}")
async def devtools(websocket: WebSocket, token: str, browser_id: str = "") -> None:
    """The browser-level CDP WebSocket, relayed to the worker."""
    record = await asyncio.to_thread(_session, websocket, token)
    if record is None or not record.started:
        await websocket.close(code=1008 if record is None else 1013)
        return
    try:
        upstream = await connect(
            f"{record.relay_url}/browser/{record.id}",
            additional_headers={TOKEN_HEADER: token},
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=10,
            compression=None,
            ping_interval=20,
            ping_timeout=60,
        )
    except (OSError, TimeoutError, InvalidHandshake):
        await websocket.close(code=1011)
        return
    await websocket.accept()
    try:
        await _pump(websocket, upstream)
    finally:
        await upstream.close()
        with contextlib.suppress(Exception):
            await websocket.close()


async def _pump(client: WebSocket, upstream: ClientConnection) -> None:
    async def inbound() -> None:
        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed):
            while True:
                message = await client.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("text") if message.get("text") is not None else message.get("bytes")
                if data is not None:
                    if len(data) > MAX_MESSAGE_BYTES:
                        return
                    await upstream.send(data)

    async def outbound() -> None:
        with contextlib.suppress(WebSocketDisconnect, ConnectionClosed, RuntimeError):
            async for data in upstream:
                if isinstance(data, str):
                    await client.send_text(data)
                else:
                    await client.send_bytes(data)

    tasks = [asyncio.ensure_future(inbound()), asyncio.ensure_future(outbound())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
