"""The country's upstream proxy behind the egress proxy: Chromium → egress → upstream → site.

When a task's session has a proxy country, the worker's :class:`~workers.egress.proxy.EgressProxy`
for that country does not connect to sites itself: it asks the upstream proxy to (HTTP
``CONNECT`` or SOCKS5, with the operator's credentials). The egress checks still apply to
the *target* first (ports, metadata names, address literals, ``localhost`` names,
allowedDomains in the guard), but the target's name is resolved by the upstream proxy, so
sites see, and geo-located DNS answers, the proxy's country. The upstream proxy's own
address is the operator's configuration and is not subject to the policy.

Plain HTTP goes through a ``CONNECT`` tunnel too (the egress proxy already speaks origin
form to the site), so one code path serves both. Credentials never leave this module: errors
and logs name the proxy by :func:`shared.proxies.display` only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import struct
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from shared import proxies
from shared.proxies import display
from shared.settings import Settings
from workers.policy.network import Target, literal_address

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0
HANDSHAKE_TIMEOUT_S = 20.0
_HEAD_LIMIT = 16 * 1024
_SOCKS_REPLIES = {
    1: "general failure", 2: "not allowed by its ruleset", 3: "network unreachable", 4: "host unreachable",
    5: "connection refused", 6: "TTL expired", 7: "command not supported", 8: "address type not supported",
}

Reader = asyncio.StreamReader
Writer = asyncio.StreamWriter
Streams = tuple[Reader, Writer]


class UpstreamError(OSError):
    """The upstream proxy is unreachable or refused; the message never holds credentials."""


@dataclass(frozen=True)
class Upstream:
    """One upstream proxy (hashable: the egress proxy per country is keyed by it)."""

    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    label: str = ""  # what it is called in messages: its country code, or "custom"

    @classmethod
    def parse(cls, url: str, label: str = "") -> Upstream:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "socks5", "socks5h") or not parts.hostname or not parts.port:
            raise UpstreamError(f"proxy {display(url)}: not an http:// or socks5:// URL with a host and port")
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        return cls(scheme, parts.hostname, parts.port, username, password, label)

    @property
    def display(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def __str__(self) -> str:
        return f"the {self.label or 'configured'} proxy ({self.display})"

    async def reachable(self) -> None:
        """Raise :class:`UpstreamError` unless the proxy accepts a TCP connection."""
        _, writer = await self._connect()
        writer.close()

    async def open(self, target: Target) -> Streams:
        """A connection to ``target`` through the proxy (the proxy resolves the name)."""
        reader, writer = await self._connect()
        try:
            handshake = self._socks5 if self.scheme.startswith("socks") else self._http_connect
            await asyncio.wait_for(handshake(reader, writer, target), HANDSHAKE_TIMEOUT_S)
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def _connect(self) -> Streams:
        try:
            return await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=64 * 1024), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            raise UpstreamError(f"{self} is unreachable: {type(exc).__name__}: {exc}") from None

    async def _http_connect(self, reader: Reader, writer: Writer, target: Target) -> None:
        authority = _authority(target)
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        if self.username is not None:
            token = base64.b64encode(f"{self.username}:{self.password or ''}".encode()).decode()
            lines.append(f"Proxy-Authorization: Basic {token}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            raise UpstreamError(f"{self} closed the connection during CONNECT") from exc
        status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        parts = status.split(" ", 2)
        if len(parts) < 2 or not parts[1].startswith("2"):
            raise UpstreamError(f"{self} refused {authority}: {status[:200]}")

    async def _socks5(self, reader: Reader, writer: Writer, target: Target) -> None:
        methods = b"\x00\x02" if self.username is not None else b"\x00"
        writer.write(b"\x05" + bytes([len(methods)]) + methods)
        await writer.drain()
        version, method = await _read(reader, 2, self)
        if version != 5 or method not in methods:
            raise UpstreamError(f"{self} offers no usable SOCKS5 authentication")
        if method == 2:
            user, password = (self.username or "").encode(), (self.password or "").encode()
            writer.write(b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password)
            await writer.drain()
            _, status = await _read(reader, 2, self)
            if status != 0:
                raise UpstreamError(f"{self} rejected the configured credentials")
        writer.write(b"\x05\x01\x00" + _socks_address(target.host) + struct.pack("!H", target.port))
        await writer.drain()
        _, reply, _, atyp = await _read(reader, 4, self)
        if reply != 0:
            why = _SOCKS_REPLIES.get(reply, f"error {reply}")
            raise UpstreamError(f"{self} could not reach {_authority(target)}: {why}")
        length = {1: 4, 4: 16}.get(atyp) or (await _read(reader, 1, self))[0]
        await _read(reader, length + 2, self)  # the bound address and port


async def _read(reader: asyncio.StreamReader, n: int, upstream: Upstream) -> bytes:
    try:
        return await reader.readexactly(n)
    except asyncio.IncompleteReadError:
        raise UpstreamError(f"{upstream} closed the connection during the SOCKS5 handshake") from None


def _socks_address(host: str) -> bytes:
    """The SOCKS5 address of ``host``: a literal as such, a name for the proxy to resolve."""
    ip = literal_address(host)
    if ip is None:
        name = host.encode("idna")
        return b"\x03" + bytes([len(name)]) + name
    return (b"\x01" if ip.version == 4 else b"\x04") + ip.packed


def _authority(target: Target) -> str:
    host = target.host.strip("[]")
    return f"[{host}]:{target.port}" if ":" in host else f"{host}:{target.port}"


async def upstream_for(proxy_country_code: str | None, settings: Settings) -> Upstream | None:
    """The reachable upstream proxy of ``proxy_country_code`` on this worker (None: the egress
    proxy connects to sites itself).

    Raises :class:`UpstreamError` with a readable reason (never the credentials) when the
    worker has no proxy for that country or cannot reach it: the task fails at once.
    """
    if proxy_country_code is None:
        return None
    try:
        url = proxies.table(settings).url_for(proxy_country_code)
    except proxies.ProxyConfigError as exc:
        raise UpstreamError(str(exc)) from None
    if url is None:
        raise UpstreamError(
            f"this worker has no proxy for country {proxy_country_code!r} (BROWSERFLEET_PROXIES)")
    upstream = Upstream.parse(url, proxy_country_code)
    await upstream.reachable()
    return upstream
