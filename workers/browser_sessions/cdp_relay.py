"""The worker's CDP relay: the only way from a caller to a browser session's Chromium.

One WebSocket server per worker process serves every browser session of the process.
The HTTP API connects to it (``/browser/{id}``, the session's cdpUrl token in the
``X-Browserfleet-CDP-Token`` header) for each client connection it accepts, and the
relay opens a connection of its own to Chromium's DevTools endpoint on loopback. Every
command goes through :mod:`workers.policy.cdp` on its way: refused ones are answered with
a CDP error and never sent; file paths and download directories are rewritten to the
session's own directories. Answers and events are passed through untouched, except
those that reveal or attach the browser's own UI targets (dropped, and detached).

Why the filter is here and not in the API: the API stays a thin, authenticated pipe
(no browser knowledge, any replica can serve any session), and the worker is where the
session's directories, uploads and Chromium live. Why the API relays at all instead of
handing out a worker address: workers need not be reachable by callers, only by the API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from prometheus_client import Counter
from websockets.asyncio.client import ClientConnection, connect
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from workers.policy import cdp
from workers.policy.cdp import Command, Refused

log = logging.getLogger(__name__)

TOKEN_HEADER = "X-Browserfleet-CDP-Token"
MAX_MESSAGE_BYTES = 200 * 1024 * 1024  # what browser-use allows (large DOM snapshots)
INTERNAL_IDS = 2_000_000_000  # the relay's own commands; a client's ids stay below
INTERNAL_TIMEOUT_S = 15.0
_RESPONSE_ID = re.compile(r'^\{"id":(\d+)[,}]')
_TARGET_EVENT = re.compile(r'^\{"method":"Target\.(attachedToTarget|targetCreated|targetInfoChanged)"')
_PATH = re.compile(r"^/browser/([0-9a-f-]{36})$")
REFUSED = Counter("browserfleet_cdp_commands_refused", "CDP commands of browser sessions the relay refused.")

Materialize = Callable[[list[str]], Awaitable[list[str]]]


@dataclass
class RelayedBrowser:
    """What the relay needs of one browser session."""

    browser_id: str
    token: str
    upstream_url: str  # Chromium's browser-level DevTools WebSocket (loopback)
    downloads_dir: str
    materialize: Materialize  # uploaded file names -> paths on this worker (Refused if unknown)
    bridges: set[Bridge] = field(default_factory=set)


class Bridge:
    """One client connection ⇄ one Chromium connection, filtered."""

    def __init__(self, client: ServerConnection, upstream: ClientConnection, browser: RelayedBrowser) -> None:
        self.client, self.upstream, self.browser = client, upstream, browser
        self._ids = itertools.count(INTERNAL_IDS)
        self._internal: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._watched: dict[int, Command] = {}  # client commands whose answers are looked at
        self._blocked_sessions: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        pumps = [asyncio.ensure_future(self._from_client()), asyncio.ensure_future(self._from_browser())]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in [*pumps, *self._tasks]:
                task.cancel()
            await asyncio.gather(*pumps, *self._tasks, return_exceptions=True)
            for future in self._internal.values():
                if not future.done():
                    future.cancel()

    # -- client -> browser ------------------------------------------------------------
    async def _from_client(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.client:
                try:
                    command = Command.parse(json.loads(raw))
                except ValueError as exc:
                    await self.client.close(1003, f"not a CDP command: {exc}"[:120])
                    return
                await self._command(command)

    async def _command(self, command: Command) -> None:
        try:
            if command.id >= INTERNAL_IDS:
                raise Refused(f"command ids must be below {INTERNAL_IDS}")
            if command.session_id in self._blocked_sessions:
                raise Refused("this session belongs to the browser itself")
            cdp.check(command)
            params = await self._complete(command)
        except Refused as exc:
            REFUSED.inc()
            log.info("browser session %s: refused %s: %s", self.browser.browser_id, command.method[:100], exc)
            await self._to_client(json.dumps(cdp.error_reply(command.id, command.session_id, str(exc))))
            return
        if command.method in {"Target.getTargets", "Target.createBrowserContext"}:
            self._watched[command.id] = command
        await self.upstream.send(json.dumps(command.message(command.id, params)))

    async def _complete(self, command: Command) -> dict[str, Any] | None:
        """The params to send for commands that need more than a look (``None``: as they are)."""
        names = cdp.file_names(command)
        if names:
            return cdp.with_files(command, await self.browser.materialize(names))
        if command.method in cdp.DOWNLOAD_METHODS:
            return cdp.confined_downloads(command, self.browser.downloads_dir)
        if command.method == "Target.attachToTarget":
            target = str(command.params.get("targetId", ""))
            info = await self._internal_call("Target.getTargetInfo", {"targetId": target})
            reason = (
                cdp.target_reason(info.get("result", {}).get("targetInfo", {}))
                if "result" in info
                else ("no such target")
            )
            if reason:
                raise Refused(f"Target.attachToTarget: {reason}")
        return None

    # -- browser -> client ------------------------------------------------------------
    async def _from_browser(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in self.upstream:
                text = raw if isinstance(raw, str) else raw.decode()
                head = text[:80]
                match = _RESPONSE_ID.match(head)
                if match:
                    ident = int(match.group(1))
                    if ident in self._internal or ident in self._watched:
                        await self._answer(json.loads(text))
                        continue
                    await self._to_client(text)
                elif head.startswith('{"method":"') and not _TARGET_EVENT.match(head):
                    await self._to_client(text)
                else:
                    await self._other(json.loads(text), text)

    async def _answer(self, message: dict[str, Any]) -> None:
        ident = message["id"]
        future = self._internal.pop(ident, None)
        if future is not None:
            if not future.done():
                future.set_result(message)
            return
        command = self._watched.pop(ident)
        result = message.get("result")
        if isinstance(result, dict) and command.method == "Target.getTargets":
            infos = result.get("targetInfos") or []
            result["targetInfos"] = [i for i in infos if cdp.target_reason(i) is None]
        if isinstance(result, dict) and command.method == "Target.createBrowserContext":
            self._spawn(self._confine_context(message, str(result.get("browserContextId", ""))))
            return
        await self._to_client(json.dumps(message))

    async def _confine_context(self, reply: dict[str, Any], context_id: str) -> None:
        """Downloads of a context the caller created go to the session's directory, before the caller
        learns its id."""
        with contextlib.suppress(Exception):
            await self._internal_call(
                "Browser.setDownloadBehavior",
                {
                    "behavior": "allow",
                    "browserContextId": context_id,
                    "downloadPath": self.browser.downloads_dir,
                },
            )
        await self._to_client(json.dumps(reply))

    async def _other(self, message: dict[str, Any], text: str) -> None:
        method = message.get("method") if isinstance(message, dict) else None
        params = message.get("params") or {} if isinstance(message, dict) else {}
        if method in {"Target.attachedToTarget", "Target.targetCreated", "Target.targetInfoChanged"}:
            info = params.get("targetInfo") or {}
            if cdp.target_reason(info):
                if method == "Target.attachedToTarget":
                    child = str(params.get("sessionId", ""))
                    self._blocked_sessions.add(child)
                    self._spawn(self._detach(child, message.get("sessionId")))
                return
        await self._to_client(text)

    async def _detach(self, child: str, parent: str | None) -> None:
        with contextlib.suppress(Exception):
            await self._internal_call("Target.detachFromTarget", {"sessionId": child}, parent)

    # -- plumbing -------------------------------------------------------------------
    async def _internal_call(
        self, method: str, params: dict[str, Any], session_id: str | None = None
    ) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._internal[ident] = future
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session_id:
            message["sessionId"] = session_id
        try:
            await self.upstream.send(json.dumps(message))
            return await asyncio.wait_for(future, INTERNAL_TIMEOUT_S)
        finally:
            self._internal.pop(ident, None)

    async def _to_client(self, text: str) -> None:
        with contextlib.suppress(ConnectionClosed):
            await self.client.send(text)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        await self.client.close(1001, "the browser session ended")
        await self.upstream.close()


class RelayServer:
    """The process's relay: browser sessions register here while their browser runs."""

    def __init__(self, host: str, port: int, advertise: str) -> None:
        self.host, self.port, self.advertise = host, port, advertise
        self._browsers: dict[str, RelayedBrowser] = {}
        self._server: Server | None = None

    @property
    def url(self) -> str:
        """Where the API reaches this relay."""
        assert self._server is not None
        port = next(iter(self._server.sockets)).getsockname()[1]
        host = f"[{self.advertise}]" if ":" in self.advertise else self.advertise
        return f"ws://{host}:{port}"

    async def start(self) -> None:
        self._server = await serve(
            self._serve,
            self.host,
            self.port,
            process_request=self._check,
            max_size=MAX_MESSAGE_BYTES,
            ping_interval=20,
            ping_timeout=60,
            compression=None,
        )
        log.info("CDP relay listening on %s:%s (advertised as %s)", self.host, self.port, self.url)

    def register(self, browser: RelayedBrowser) -> None:
        self._browsers[browser.browser_id] = browser

    async def unregister(self, browser_id: str) -> None:
        """Forget the session and close its open connections."""
        browser = self._browsers.pop(browser_id, None)
        if browser is None:
            return
        for bridge in list(browser.bridges):
            with contextlib.suppress(Exception):
                await bridge.close()

    def _browser_of(self, request: Request) -> RelayedBrowser | None:
        match = _PATH.match(request.path.split("?", 1)[0])
        browser = self._browsers.get(match.group(1)) if match else None
        presented = request.headers.get(TOKEN_HEADER, "")
        if browser is None or not secrets.compare_digest(presented.encode(), browser.token.encode()):
            return None
        return browser

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        if self._browser_of(request) is None:
            return Response(HTTPStatus.NOT_FOUND.value, "Not Found", Headers(), b"unknown browser session\n")
        return None

    async def _serve(self, client: ServerConnection) -> None:
        browser = self._browser_of(client.request) if client.request else None
        if browser is None:
            await client.close(1008, "unknown browser session")
            return
        try:
            upstream = await connect(
                browser.upstream_url,
                max_size=MAX_MESSAGE_BYTES,
                open_timeout=10,
                ping_interval=None,
                compression=None,
            )
        except (OSError, TimeoutError) as exc:
            await client.close(1011, f"the browser does not answer: {type(exc).__name__}"[:120])
            return
        bridge = Bridge(client, upstream, browser)
        browser.bridges.add(bridge)
        try:
            await bridge.run()
        finally:
            browser.bridges.discard(bridge)
            await upstream.close()


_relays: dict[asyncio.AbstractEventLoop, asyncio.Future[RelayServer]] = {}


async def relay_server(host: str, port: int, advertise: str) -> RelayServer:
    """The process's relay on this loop, started on first use."""
    loop = asyncio.get_running_loop()
    future = _relays.get(loop)
    if future is None or (future.done() and (future.cancelled() or future.exception() is not None)):
        future = _relays[loop] = asyncio.ensure_future(_start_relay(host, port, advertise))
    return await asyncio.shield(future)


async def _start_relay(host: str, port: int, advertise: str) -> RelayServer:
    relay = RelayServer(host, port, advertise)
    await relay.start()
    return relay
