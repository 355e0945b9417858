"""The egress proxy: every connection a browser makes goes through here, and is checked.

One forward proxy per worker process, on a loopback port, serves every browser context
of the process (Playwright's per-context ``proxy`` option; Playwright also routes
loopback through it). Its address is the same for every task, so pre-opened spare
contexts stay interchangeable. The proxy resolves the host itself, checks every
resolved address against the :class:`~workers.policy.network.NetworkPolicy`, and
connects only to an address it checked, so:

- redirects, sub-resources, iframes, popups, WebSockets and anything a page script
  starts are covered, because Chromium has no other way out;
- a DNS answer cannot change between the check and the connection (no rebinding);
- a refused request never opens a connection to its target.

HTTPS and WSS arrive as ``CONNECT host:port`` and are tunnelled untouched (the proxy
never sees their content); plain HTTP arrives in absolute form and is forwarded one
request per connection (``Connection: close``), which keeps the proxy free of HTTP
framing logic. A refused request fails in the browser (a refused ``CONNECT`` is a
tunnel error, a refused plain request gets no answer), and the proxy remembers why for
a minute, so each task's guard can turn its own failed requests into reasons
(:meth:`EgressProxy.refusal`).
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from workers.egress.resolver import MAX_NAME_CHARS, CachingResolver, Resolve, ResolveError
from workers.egress.upstream import Upstream, UpstreamError
from workers.policy.navigation import BlockedRequest
from workers.policy.network import IPAddress, NetworkPolicy, Target

log = logging.getLogger(__name__)

Connect = Callable[..., Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
OnBlock = Callable[[BlockedRequest], None]

HEAD_LIMIT = 64 * 1024
HEAD_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
CHUNK = 64 * 1024
REFUSAL_MEMORY_S = 60.0
REFUSAL_MEMORY_ENTRIES = 4096  # cleared whole past this: bounded, and a refusal is only an explanation
_DESTINATIONS = {"document": "page", "iframe": "frame", "frame": "frame"}
_HOP_HEADERS = {"proxy-connection", "proxy-authorization", "keep-alive", "connection"}


class Refused(Exception):
    """The policy refused a destination; ``str`` is the reason."""


class EgressProxy:
    """A forward proxy on 127.0.0.1 for one browser context, enforcing the network policy."""

    def __init__(
        self,
        policy: NetworkPolicy,
        resolve: Resolve | None = None,
        connect: Connect = asyncio.open_connection,
        on_block: OnBlock | None = None,
        upstream: Upstream | None = None,
    ) -> None:
        self.policy = policy
        self.upstream = upstream  # a country's proxy connects for us (workers.egress.upstream)
        self.resolve: Resolve = resolve or CachingResolver()
        self.connect = connect
        self.on_block = on_block
        self._refusals: dict[tuple[str, int], tuple[float, str]] = {}
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("egress proxy not started")
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=HEAD_LIMIT)
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.gather(*self._connections, return_exceptions=True)

    def refusal(self, host: str, port: int) -> str | None:
        """Why a connection to ``host:port`` was refused in the last minute, if it was."""
        key = _refusal_key(host, port)
        hit = self._refusals.get(key) if key else None
        if hit is None or hit[0] < time.monotonic() - REFUSAL_MEMORY_S:
            return None
        return hit[1]

    def _refused(self, target: Target, url: str, reason: str, kind: str) -> None:
        log.info("egress blocked %s:%d: %s", target.host[:300], target.port, reason[:500])
        key = _refusal_key(target.host, target.port)
        if key is not None:  # a host longer than any real name is refused but not remembered
            if len(self._refusals) > REFUSAL_MEMORY_ENTRIES:
                self._refusals.clear()
            self._refusals[key] = (time.monotonic(), reason)
        if self.on_block is not None:
            self.on_block(BlockedRequest(url, reason, kind))

    # -- policy -------------------------------------------------------------
    async def addresses(self, target: Target) -> list[IPAddress]:
        """The checked addresses to connect to; raises :class:`Refused` with the reason.

        Every decision, the lookup and what is sent upstream use the canonical name
        (:meth:`Target.canonical`): the name checked is the name reached.
        """
        canonical = target.canonical()
        if canonical is None:
            raise Refused(f"{target.host[:100]!r} is not a valid host name")
        target = canonical
        if self.upstream is not None:  # the upstream proxy resolves the target: check what we can
            upstream_reason = self.policy.upstream_reason(target)
            if upstream_reason:
                raise Refused(upstream_reason)
            return []
        reason = self.policy.precheck(target)
        if reason:
            raise Refused(reason)
        try:
            resolved = await self.resolve(target.host)
        except ResolveError as exc:
            raise Refused(str(exc)) from None
        allowed, reason = self.policy.filter_addresses(target, resolved)
        if not allowed:
            raise Refused(reason or f"{target.host} has no allowed address")
        return allowed

    # -- connections --------------------------------------------------------
    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        except asyncio.CancelledError:
            pass  # the proxy is closing; ending quietly keeps asyncio from reporting the cancel
        except Exception:  # one broken connection must not take the proxy down
            log.exception("egress proxy connection failed")
        finally:
            self._connections.discard(task)
            await _close(writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        request_line, *headers = head[:-4].decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3:
            await _respond(writer, "400 Bad Request", "malformed request line")
            return
        method, target_text, version = parts
        if method.upper() == "CONNECT":
            await self._tunnel(target_text, reader, writer)
        else:
            await self._forward(method, target_text, version, headers, reader, writer)

    async def _tunnel(
        self, authority: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        host, port = _split_authority(authority, 443)
        target = Target("https", host, port)
        upstream = await self._open(target, f"https://{authority}/", "request", writer)
        if upstream is None:
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        await writer.drain()
        await _splice(reader, writer, *upstream)

    async def _forward(
        self,
        method: str,
        url: str,
        version: str,
        headers: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() != "http" or not parts.hostname:
            await _respond(writer, "400 Bad Request", "this proxy forwards absolute http:// URLs only")
            return
        try:
            port = parts.port or 80
        except ValueError:
            await _respond(writer, "400 Bad Request", "invalid port")
            return
        upstream = await self._open(Target("http", parts.hostname, port), url, _kind(headers), writer)
        if upstream is None:
            return
        up_reader, up_writer = upstream
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        upgrade = any(h.lower().startswith("upgrade:") for h in headers)
        lines = [f"{method} {path} {version}"]
        for header in headers:
            name = header.split(":", 1)[0].strip().lower()
            if name in _HOP_HEADERS and not (upgrade and name == "connection"):
                continue
            lines.append(header)
        if not upgrade:
            lines.append("Connection: close")
        up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await up_writer.drain()
        await _splice(reader, writer, up_reader, up_writer, rewrite_response=not upgrade)

    async def _open(
        self, target: Target, url: str, kind: str, writer: asyncio.StreamWriter
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """Connect to a checked address of ``target``, or answer the browser with why not."""
        try:
            addresses = await self.addresses(target)
            target = target.canonical() or target  # (addresses() refused it otherwise)
        except Refused as exc:
            self._refused(target, url, str(exc), kind)
            if url.startswith("https://"):  # the browser shows a tunnel error
                await _respond(writer, "403 Forbidden", f"blocked by the network policy: {exc}")
            return None  # plain HTTP: no answer at all, so the browser reports a failed request
        if self.upstream is not None:
            try:
                return await self.upstream.open(target)
            except UpstreamError as exc:
                log.warning("egress: %s", exc)
                await _respond(writer, "502 Bad Gateway", str(exc))
                return None
        error: OSError | TimeoutError | None = None
        for ip in addresses:
            try:
                return await asyncio.wait_for(
                    self.connect(str(ip), target.port, limit=HEAD_LIMIT), CONNECT_TIMEOUT_S
                )
            except (OSError, TimeoutError) as exc:
                error = exc
        message = f"could not connect to {target.host}:{target.port}: {error!r}"
        await _respond(writer, "502 Bad Gateway", message)
        return None


def _kind(headers: list[str]) -> str:
    """What a plain-HTTP request is for, from its Sec-Fetch-Dest header (HTTPS hides it)."""
    for header in headers:
        name, _, value = header.partition(":")
        if name.strip().lower() == "sec-fetch-dest":
            return _DESTINATIONS.get(value.strip().lower(), "request")
    return "request"


def _split_authority(authority: str, default_port: int) -> tuple[str, int]:
    if authority.startswith("["):
        host, _, rest = authority[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = authority.rpartition(":") if ":" in authority else (authority, "", "")
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        port = -1
    return host, port


async def _respond(writer: asyncio.StreamWriter, status: str, message: str) -> None:
    """A small HTML answer from the proxy itself (Chromium shows it for plain-HTTP pages)."""
    body = (
        "<!doctype html><html><head><title>Blocked by browserfleet</title></head>"
        f"<body><h1>{html.escape(status)}</h1><p>{html.escape(message)}</p></body></html>"
    ).encode()
    reason = message.encode("ascii", "replace").decode().replace("\r", " ").replace("\n", " ")[:300]
    writer.write(
        (
            f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nX-Browserfleet-Blocked: {reason}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        + body
    )
    with contextlib.suppress(ConnectionError):
        await writer.drain()


async def _splice(
    client_reader: asyncio.StreamReader,
    client_writer: asyncio.StreamWriter,
    up_reader: asyncio.StreamReader,
    up_writer: asyncio.StreamWriter,
    rewrite_response: bool = False,
) -> None:
    """Copy bytes both ways until either side is done, then close both."""
    downstream = _response_then_pipe(up_reader, client_writer) if rewrite_response else _pipe(
        up_reader, client_writer
    )
    tasks = {asyncio.ensure_future(_pipe(client_reader, up_writer)), asyncio.ensure_future(downstream)}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await _close(up_writer)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()


async def _response_then_pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Pass the response on with ``Connection: close``, so the browser never reuses this
    connection for a request the proxy has not checked.

    A response whose head the proxy cannot parse (over :data:`HEAD_LIMIT`, or cut off) is
    never passed through: its framing is unknown, so the browser might keep the connection
    and send its next request, for another origin and with that origin's cookies, to this
    upstream. The browser gets a 502 instead, and the connection is closed.
    """
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            await _respond(writer, "502 Bad Gateway", "the upstream closed before a complete response head")
            return
        except asyncio.LimitOverrunError:
            await _respond(writer, "502 Bad Gateway", f"response head over {HEAD_LIMIT} bytes refused")
            return
        status_line, *headers = head[:-4].decode("latin-1").split("\r\n")
        code = status_line.split(" ", 2)[1] if status_line.count(" ") >= 1 else ""
        informational = code.startswith("1") and code != "101"
        if not informational and code != "101":
            headers = [h for h in headers if h.split(":", 1)[0].strip().lower() not in _HOP_HEADERS]
            headers.append("Connection: close")
        writer.write(("\r\n".join([status_line, *headers]) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        if not informational:
            break
    await _pipe(reader, writer)


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.wait_closed(), 2)


_shared: dict[
    tuple[asyncio.AbstractEventLoop, NetworkPolicy, Upstream | None], asyncio.Future[EgressProxy]
] = {}


async def shared_proxy(policy: NetworkPolicy, upstream: Upstream | None = None) -> EgressProxy:
    """The process's proxy for ``policy`` (and ``upstream``: one per country), started on first use."""
    key = (asyncio.get_running_loop(), policy, upstream)
    future = _shared.get(key)
    if future is None or (future.done() and (future.cancelled() or future.exception() is not None)):
        future = _shared[key] = asyncio.ensure_future(_start(policy, upstream))
    return await asyncio.shield(future)


async def _start(policy: NetworkPolicy, upstream: Upstream | None = None) -> EgressProxy:
    proxy = EgressProxy(policy, upstream=upstream)
    await proxy.start()
    log.info("egress proxy listening on %s%s", proxy.url, f", through {upstream}" if upstream else "")
    return proxy


def _refusal_key(host: str, port: int) -> tuple[str, int] | None:
    """The refusal memory's key, or None for a host longer than a DNS name can be (memory stays small)."""
    name = host.lower().strip("[]")
    return (name, port) if len(name) <= MAX_NAME_CHARS else None
