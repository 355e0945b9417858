"""One POST to a webhook receiver, under the same network policy as the agents' pages.

A webhook URL is an operator's or a tenant's choice, and the worker that calls it sits inside
the fleet's network: a URL pointing at ``169.254.169.254`` or an internal service must not be
reachable by configuring it as a webhook. So every connection is checked like the egress
guard checks a page's: the URL as the browser parses it (WHATWG), its host's *resolved*
addresses against :class:`~workers.policy.network.NetworkPolicy` (private, loopback,
link-local and metadata addresses refused unless ``BROWSERFLEET_ALLOW_PRIVATE_NETWORKS`` /
``BROWSERFLEET_ALLOWED_NETWORKS`` open them; metadata endpoints always refused), and the
connection goes to an address that was checked (no DNS rebinding between check and connect;
TLS still verifies the certificate for the host name). Redirects are never followed (a 3xx is
a failed attempt), and the whole attempt is bounded by a timeout; at most a few KiB of the
receiver's answer are read.
"""

from __future__ import annotations

import concurrent.futures
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpcore

from workers.policy.network import IPAddress, NetworkPolicy, Target, literal_address, network_target

MAX_ANSWER_BYTES = 4096
_RESOLVER = concurrent.futures.ThreadPoolExecutor(8, thread_name_prefix="webhook-dns")


class BlockedError(Exception):
    """The network policy refuses the webhook's destination (the reason says why)."""


@dataclass(frozen=True)
class Answer:
    status: int
    excerpt: str  # the start of the receiver's body (for the delivery log)
    location: str | None  # a redirect's Location (never followed)


class _GuardedBackend(httpcore.SyncBackend):
    """Connects only to resolved addresses the policy allows."""

    def __init__(self, policy: NetworkPolicy, scheme: str) -> None:
        self.policy, self.scheme = policy, scheme

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        target = Target(self.scheme, host.strip("[]").lower().rstrip("."), port)
        reason = self.policy.precheck(target)
        if reason:
            raise BlockedError(reason)
        if self.policy.host_allowed(target.host, port):  # an operator allowed this name itself
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        literal = literal_address(target.host)
        addresses = [literal] if literal is not None else _resolve(target.host, port, timeout)
        allowed, why = self.policy.filter_addresses(target, addresses)
        if not allowed:
            raise BlockedError(why or f"{target.host} may not be reached")
        last: Exception | None = None
        for ip in allowed:
            try:
                return super().connect_tcp(str(ip), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


def _resolve(host: str, port: int, timeout: float | None) -> list[IPAddress]:
    """The host's addresses, within ``timeout`` (getaddrinfo itself has none)."""
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        infos = future.result(timeout)
    except concurrent.futures.TimeoutError:
        raise httpcore.ConnectTimeout(f"resolving {host} took longer than {timeout}s") from None
    except OSError as exc:
        raise httpcore.ConnectError(f"{host} did not resolve: {exc}") from None
    found: list[IPAddress] = []
    for info in infos:
        ip = literal_address(str(info[4][0]).split("%")[0])
        if ip is not None and ip not in found:
            found.append(ip)
    return found


def post(url: str, body: bytes, headers: dict[str, str], policy: NetworkPolicy, timeout_s: float) -> Answer:
    """POST ``body`` to ``url``; raises :class:`BlockedError`, ``httpcore`` errors, ``TimeoutError``."""
    target = network_target(url)
    if target is None or target.scheme not in ("http", "https"):
        raise BlockedError("only http and https webhook URLs are delivered")
    deadline = time.monotonic() + timeout_s
    timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
    with httpcore.ConnectionPool(network_backend=_GuardedBackend(policy, target.scheme), retries=0) as pool, \
            pool.stream("POST", url, headers=list(headers.items()), content=body,
                        extensions={"timeout": timeouts}) as response:
        excerpt = b""
        for chunk in response.iter_stream():
            excerpt += chunk
            if len(excerpt) >= MAX_ANSWER_BYTES or time.monotonic() > deadline:
                break
        location = next((v.decode("latin-1") for k, v in response.headers if k.lower() == b"location"), None)
        return Answer(response.status, excerpt[:MAX_ANSWER_BYTES].decode("utf-8", "replace"), location)
