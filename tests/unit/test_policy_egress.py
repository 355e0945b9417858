"""The egress proxy on real loopback sockets: what it forwards, what it refuses, whom it connects to."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from workers.egress.proxy import EgressProxy, shared_proxy
from workers.egress.resolver import ResolveError
from workers.policy.navigation import BlockedRequest
from workers.policy.network import IPAddress, NetworkPolicy


async def _upstream(seen: list[bytes]) -> asyncio.Server:
    """An HTTP server that answers every request with what it received."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        status = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(head)
        writer.write(status + head)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0)


async def _ask(proxy_url: str, raw: bytes) -> bytes:
    host, port = proxy_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    return data


def _run(test: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(test())


class Recorder:
    """Every connection the proxy opens, and every block it reports."""

    def __init__(self) -> None:
        self.connected: list[tuple[str, int]] = []
        self.blocked: list[BlockedRequest] = []

    async def connect(self, host: str, port: int, **kwargs: Any) -> Any:
        self.connected.append((host, port))
        return await asyncio.open_connection(host, port, **kwargs)


async def _names(table: dict[str, list[str]]) -> Callable[[str], Awaitable[list[IPAddress]]]:
    async def resolve(host: str) -> list[IPAddress]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        if host not in table:
            raise ResolveError(f"{host} does not resolve")
        return [ipaddress.ip_address(a) for a in table[host]]

    return resolve


async def _proxy(
    entries: list[str], table: dict[str, list[str]] | None = None
) -> tuple[EgressProxy, Recorder]:
    rec = Recorder()
    policy = NetworkPolicy.from_entries(False, entries)
    proxy = EgressProxy(policy, await _names(table or {}), rec.connect, on_block=rec.blocked.append)
    await proxy.start()
    return proxy, rec


def test_plain_http_is_forwarded_in_origin_form_one_request_per_connection() -> None:
    async def test() -> None:
        seen: list[bytes] = []
        upstream = await _upstream(seen)
        port = upstream.sockets[0].getsockname()[1]
        proxy, rec = await _proxy([f"127.0.0.1:{port}"], {"site.test": ["127.0.0.1"]})
        answer = await _ask(proxy.url, (
            f"GET http://site.test:{port}/a/b?q=1 HTTP/1.1\r\nHost: site.test:{port}\r\n"
            "Proxy-Connection: keep-alive\r\nConnection: keep-alive\r\n\r\n"
        ).encode())
        await proxy.close()
        upstream.close()
        assert answer.startswith(b"HTTP/1.1 200 OK")
        head = answer.split(b"\r\n\r\n", 1)[0]
        assert b"Connection: close" in head and b"keep-alive" not in head
        assert seen[0].startswith(b"GET /a/b?q=1 HTTP/1.1\r\n")
        assert b"Proxy-Connection" not in seen[0] and b"Connection: close" in seen[0]
        assert rec.connected == [("127.0.0.1", port)] and rec.blocked == []

    _run(test)


def test_connect_tunnels_to_an_allowed_address() -> None:
    async def test() -> None:
        seen: list[bytes] = []
        upstream = await _upstream(seen)
        port = upstream.sockets[0].getsockname()[1]
        proxy, rec = await _proxy([f"127.0.0.1:{port}"])
        answer = await _ask(proxy.url, (
            f"CONNECT 127.0.0.1:{port} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n"
            "GET /inside HTTP/1.1\r\nHost: x\r\n\r\n"
        ).encode())
        await proxy.close()
        upstream.close()
        assert answer.startswith(b"HTTP/1.1 200 Connection Established\r\n\r\nHTTP/1.1 200 OK")
        assert seen[0].startswith(b"GET /inside HTTP/1.1")
        assert rec.connected == [("127.0.0.1", port)]

    _run(test)


def test_refused_destinations_never_see_a_connection() -> None:
    async def test() -> None:
        proxy, rec = await _proxy([], {"intranet.test": ["10.1.2.3"], "localhost": ["127.0.0.1", "::1"]})
        requests = [
            b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n",
            b"GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nSec-Fetch-Dest: document\r\n\r\n",
            b"GET http://metadata.google.internal/computeMetadata/v1/ HTTP/1.1\r\n\r\n",
            b"CONNECT intranet.test:443 HTTP/1.1\r\n\r\n",
            b"GET http://localhost:6379/ HTTP/1.1\r\n\r\n",
            b"CONNECT [::ffff:127.0.0.1]:22 HTTP/1.1\r\n\r\n",
            b"CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n",
        ]
        answers = [await _ask(proxy.url, raw) for raw in requests]
        await proxy.close()
        # A refused tunnel is a 403 (the browser shows a tunnel error); a refused plain request
        # gets no answer at all (the browser reports a failed request, not a page).
        for raw, answer in zip(requests, answers, strict=True):
            expected = b"HTTP/1.1 403 Forbidden" if raw.startswith(b"CONNECT") else b""
            assert answer[: len(expected)] == expected and (expected or answer == b""), (raw, answer)
        assert rec.connected == []
        reasons = [b.reason for b in rec.blocked]
        assert "10.0.0.1 is a private address" in reasons[0]
        assert "169.254.169.254 is a cloud metadata endpoint" in reasons[1]
        assert reasons[2] == "metadata.google.internal is a cloud metadata host"
        assert "10.1.2.3 is a private address" in reasons[3]
        assert "localhost names the local machine" in reasons[4]  # decided on the name, before DNS
        assert "loopback" in reasons[5]
        assert reasons[6] == "nowhere.test does not resolve"
        assert rec.blocked[0].kind == "request" and rec.blocked[1].kind == "page"
        # Each task's guard asks the proxy why its failed request failed.
        assert proxy.refusal("10.0.0.1", 443) == reasons[0]
        assert proxy.refusal("169.254.169.254", 80) == reasons[1]
        assert proxy.refusal("10.0.0.1", 80) is None and proxy.refusal("example.com", 443) is None

    _run(test)


def test_a_host_longer_than_any_name_is_refused_and_not_remembered() -> None:
    """The refusal memory keys on the host: one as long as the head allows would cost ~64 kB each."""

    async def test() -> None:
        proxy, rec = await _proxy([])
        host = "a" * 60_000 + ".test"
        answer = await _ask(proxy.url, f"CONNECT {host}:443 HTTP/1.1\r\n\r\n".encode())
        named = await _ask(proxy.url, b"CONNECT nowhere.test:443 HTTP/1.1\r\n\r\n")
        await proxy.close()
        assert answer.startswith(b"HTTP/1.1 403") and named.startswith(b"HTTP/1.1 403")
        assert rec.connected == [] and len(rec.blocked) == 2
        assert proxy.refusal(host, 443) is None  # refused, explained to on_block, not kept
        assert proxy.refusal("nowhere.test", 443) == "nowhere.test does not resolve"
        assert all(len(name) < 300 for name, _ in proxy._refusals)

    _run(test)


def test_only_the_checked_address_of_a_mixed_dns_answer_is_dialled() -> None:
    """A name answering with a private and an allowed address: the proxy dials the allowed one."""

    async def test() -> None:
        seen: list[bytes] = []
        upstream = await _upstream(seen)
        port = upstream.sockets[0].getsockname()[1]
        proxy, rec = await _proxy([f"127.0.0.1:{port}"], {"rebind.test": ["10.0.0.7", "127.0.0.1"]})
        request = f"GET http://rebind.test:{port}/ HTTP/1.1\r\nHost: rebind.test\r\n\r\n"
        answer = await _ask(proxy.url, request.encode())
        await proxy.close()
        upstream.close()
        assert answer.startswith(b"HTTP/1.1 200 OK")
        assert rec.connected == [("127.0.0.1", port)]

    _run(test)


def test_malformed_requests_are_answered_not_crashed_on() -> None:
    async def test() -> None:
        proxy, rec = await _proxy([])
        bad = await _ask(proxy.url, b"NONSENSE\r\n\r\n")
        ftp = await _ask(proxy.url, b"GET ftp://example.com/ HTTP/1.1\r\n\r\n")
        origin = await _ask(proxy.url, b"GET /relative HTTP/1.1\r\n\r\n")
        await proxy.close()
        assert bad.startswith(b"HTTP/1.1 400") and ftp.startswith(b"HTTP/1.1 400")
        assert origin.startswith(b"HTTP/1.1 400") and rec.connected == []

    _run(test)


def test_one_proxy_per_process_and_policy() -> None:
    """Every task of a worker shares the proxy, so spare contexts made for one task fit the next."""

    async def test() -> None:
        policy = NetworkPolicy()
        first, second = await asyncio.gather(shared_proxy(policy), shared_proxy(policy))
        assert first is second and first.url.startswith("http://127.0.0.1:")
        other = await shared_proxy(NetworkPolicy(allow_private=True))
        assert other is not first
        await first.close()
        await other.close()

    _run(test)


def test_an_oversized_response_head_is_refused_and_the_connection_closed() -> None:
    """Passed through untouched (keep-alive), the browser's next request on that connection,
    for another origin and with its cookies, would have gone to this upstream."""

    async def test() -> None:
        second: list[bytes] = []

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n")
            writer.write(b"X-Big: " + b"a" * (80 * 1024) + b"\r\n\r\n")
            await writer.drain()
            second.append(await reader.read(4096))  # whatever else the client sends on it
            writer.close()

        upstream = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = upstream.sockets[0].getsockname()[1]
        proxy, _ = await _proxy([f"127.0.0.1:{port}"], {"site.test": ["127.0.0.1"]})
        host, proxy_port = proxy.url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(proxy_port))
        writer.write(f"GET http://site.test:{port}/ HTTP/1.1\r\nHost: site.test:{port}\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        writer.write(b"GET http://other.test/ HTTP/1.1\r\nHost: other.test\r\nCookie: session=other\r\n\r\n")
        rest = await asyncio.wait_for(reader.read(), 10)  # b"" once the proxy closes
        writer.close()
        await proxy.close()
        upstream.close()
        assert answer.startswith(b"HTTP/1.1 502") and b"Connection: close" in answer
        assert b"a" * 100 not in answer + rest
        assert not any(b"session=other" in chunk for chunk in second)

    _run(test)
