"""Host name resolution for the egress proxy: in its own threads, coalesced, cached, bounded.

``getaddrinfo`` blocks, so it runs in threads. Not the event loop's default executor: that
is where every task's Redis calls run (stop checks, step records), and a name server that
takes seconds to say no (a closed network; a page asking for a thousand made-up names)
would hold all of its threads and stall every task of the worker — measured: Chromium's
autofill requests on a closed network held all six default threads 5 s at a time, and
steps waited up to 10 s for a stop check. Here lookups get their own few threads, a time
limit (queueing included), one lookup per name however many requests wait for it, a
memory of failures as well as answers, and a share of the threads per site: a page asking
for endless made-up names under one slow-answering domain holds ``SITE_LOOKUPS`` threads,
not all of them, so the worker's other tasks still resolve their names.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import time
import weakref
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from workers.policy.network import IPAddress, literal_address
from workers.process.per_process import PerProcess

Resolve = Callable[[str], Awaitable[list[IPAddress]]]

LOOKUP_THREADS = 16
LOOKUP_TIMEOUT_S = 5.0
ANSWER_TTL_S = 30.0
FAILURE_TTL_S = 15.0
CACHE_LIMIT = 4096
MAX_NAME_CHARS = 254  # a DNS name is at most 253 characters, plus the root's trailing dot
SITE_LOOKUPS = 4  # lookup threads one site (see site_of) may hold at once, of LOOKUP_THREADS
# Second-level labels under which country domains register names (example.co.uk): an
# approximation of the public suffix list, enough to keep one registrant's names together.
_SECOND_LEVELS = frozenset({"ac", "co", "com", "edu", "gob", "gov", "ltd", "mil", "ne", "net", "or", "org"})


class ResolveError(OSError):
    """A host name that does not resolve (or not in time)."""


class LookupTimeout(ResolveError):
    """No answer within the time limit: says nothing of the name (the lookup threads may have
    been busy with a page's made-up names), so it is never remembered as the name's answer."""


# The process's lookup threads (made on first use, so a forked worker makes its own).
_lookup_threads: PerProcess[ThreadPoolExecutor] = PerProcess(
    lambda: ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="browserfleet-dns")
)


def _addresses(host: str) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError) as exc:  # gaierror, IDNA errors, NUL in the name
        raise ResolveError(f"{host} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in addresses:
            addresses.append(ip)
    return addresses


async def system_resolve(host: str, timeout_s: float = LOOKUP_TIMEOUT_S) -> list[IPAddress]:
    """The addresses ``host`` resolves to, in the system resolver's order, within ``timeout_s``
    (waiting for a thread, or for the site's share of them, included)."""
    ip = literal_address(host)
    if ip is not None:
        return [ip]
    try:
        async with asyncio.timeout(timeout_s):
            return await _gates().lookup(site_of(host), host)
    except TimeoutError:
        raise LookupTimeout(f"{host[:100]} did not resolve within {timeout_s:g}s") from None


def dns_name(host: str) -> str:
    """``host`` as the name server is asked for it: ``getaddrinfo`` IDNA-encodes a non-ASCII
    name (fullwidth letters and ideographic full stops become their ASCII selves), and DNS
    ignores ASCII case. Caching and thread shares key on this, so spellings of one name
    cannot pass for different names."""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return host  # getaddrinfo cannot encode it either: it fails without a lookup
    return host.lower()


def site_of(host: str) -> str:
    """The registrable part of ``host`` as far as DNS load goes: ``a.b.example.com`` →
    ``example.com``, ``x.example.co.uk`` → ``example.co.uk`` (one owner, one name server)."""
    labels = dns_name(host).rstrip(".").split(".")
    keep = 3 if len(labels) > 2 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVELS else 2
    return ".".join(labels[-keep:])


class _SiteGates:
    """Per-site shares of the lookup threads, for one event loop.

    A share is given back when the lookup's *thread* is done, not when its waiter gives up:
    a thread stuck in ``getaddrinfo`` cannot be stopped, and it still counts.
    """

    def __init__(self, per_site: int = SITE_LOOKUPS) -> None:
        self._per_site = per_site
        self._gates: dict[str, tuple[asyncio.Semaphore, int]] = {}  # site -> (share, users)

    async def lookup(self, site: str, host: str) -> list[IPAddress]:
        gate, users = self._gates.get(site) or (asyncio.Semaphore(self._per_site), 0)
        self._gates[site] = (gate, users + 1)
        try:
            await gate.acquire()
        except BaseException:
            self._leave(site)
            raise
        loop = asyncio.get_running_loop()
        try:
            work = _lookup_threads.get().submit(_addresses, host)  # no await between acquire and here
        except BaseException:
            self._release(site)
            raise
        work.add_done_callback(lambda _: _call_soon(loop, self._release, site))
        return await asyncio.wrap_future(work)

    def _release(self, site: str) -> None:
        self._gates[site][0].release()
        self._leave(site)

    def _leave(self, site: str) -> None:
        gate, users = self._gates[site]
        if users == 1:
            del self._gates[site]
        else:
            self._gates[site] = (gate, users - 1)

    def in_use(self) -> dict[str, int]:
        """Sites with lookups running or waiting, and how many (for tests and debugging)."""
        return {site: users for site, (_, users) in self._gates.items()}


_loop_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _SiteGates] = weakref.WeakKeyDictionary()


def _gates() -> _SiteGates:
    loop = asyncio.get_running_loop()
    gates = _loop_gates.get(loop)
    if gates is None:
        gates = _loop_gates[loop] = _SiteGates()
    return gates


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[str], None], site: str) -> None:
    """Run ``callback`` on ``loop`` from a lookup thread, unless the loop has closed meanwhile."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(callback, site)


class CachingResolver:
    """Resolves through ``resolve``; keeps answers ``ttl_s`` and failures ``failure_ttl_s``
    (a timeout is not a failure of the name: the next request looks it up again).

    Requests for a name already being looked up wait for that lookup, so a page's hundred
    requests cost one lookup, and so does a hundred requests' failure.
    """

    def __init__(
        self,
        resolve: Resolve = system_resolve,
        ttl_s: float = ANSWER_TTL_S,
        failure_ttl_s: float = FAILURE_TTL_S,
        limit: int = CACHE_LIMIT,
    ) -> None:
        self._resolve = resolve
        self._ttl_s = ttl_s
        self._failure_ttl_s = failure_ttl_s
        self._limit = limit
        self._cache: dict[str, tuple[float, list[IPAddress] | ResolveError]] = {}
        self._pending: dict[str, asyncio.Future[list[IPAddress]]] = {}

    async def __call__(self, host: str) -> list[IPAddress]:
        if len(host) > MAX_NAME_CHARS:  # refused before any lookup or cache entry (memory is bounded)
            raise ResolveError(f"{host[:60]}... is longer than a DNS name can be ({len(host)} characters)")
        key = dns_name(host)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            if isinstance(hit[1], ResolveError):
                raise ResolveError(*hit[1].args)
            return hit[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = self._pending[key] = asyncio.ensure_future(self._lookup(key, host))
            pending.add_done_callback(_retrieve)
        return await asyncio.shield(pending)  # one waiter giving up does not cancel the others

    async def _lookup(self, key: str, host: str) -> list[IPAddress]:
        try:
            addresses = await self._resolve(host)
        except LookupTimeout:
            raise
        except ResolveError as exc:
            self._keep(key, self._failure_ttl_s, exc)
            raise
        finally:
            self._pending.pop(key, None)
        self._keep(key, self._ttl_s, addresses)
        return addresses

    def _keep(self, key: str, ttl_s: float, value: list[IPAddress] | ResolveError) -> None:
        now = time.monotonic()
        if len(self._cache) >= self._limit:
            self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            if len(self._cache) >= self._limit:
                self._cache.clear()
        self._cache[key] = (now + ttl_s, value)


def _retrieve(future: asyncio.Future[list[IPAddress]]) -> None:
    """Mark a lookup's failure as seen even when every waiter gave up before it ended."""
    if not future.cancelled():
        future.exception()
