"""The egress proxy's resolver: one lookup per name, failures remembered, its own threads."""

from __future__ import annotations

import asyncio
import ipaddress
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from workers.egress import resolver
from workers.egress.resolver import CachingResolver, LookupTimeout, ResolveError, system_resolve
from workers.policy.network import IPAddress


class CountingNames:
    """A resolver that knows one name, counts its lookups and answers when released."""

    def __init__(self) -> None:
        self.lookups: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, host: str) -> list[IPAddress]:
        self.lookups.append(host)
        await self.release.wait()
        if host.lower() != "shop.example":
            raise ResolveError(f"{host} does not resolve")
        return [ipaddress.ip_address("93.184.216.34")]


def test_concurrent_requests_for_one_name_share_one_lookup() -> None:
    async def test() -> None:
        names = CountingNames()
        resolve = CachingResolver(names)
        waiting = [asyncio.ensure_future(resolve("shop.example")) for _ in range(50)]
        waiting.append(asyncio.ensure_future(resolve("SHOP.example")))
        fullwidth = "\uff53\uff48\uff4f\uff50\u3002example"  # the same name once IDNA-encoded
        waiting.append(asyncio.ensure_future(resolve(fullwidth)))
        await asyncio.sleep(0)
        names.release.set()
        answers = await asyncio.gather(*waiting)
        assert names.lookups == ["shop.example"]
        assert all(a == [ipaddress.ip_address("93.184.216.34")] for a in answers)
        assert await resolve("shop.example") == answers[0] and len(names.lookups) == 1

    asyncio.run(test())


def test_a_failure_is_remembered_and_shared() -> None:
    async def test() -> None:
        names = CountingNames()
        names.release.set()
        resolve = CachingResolver(names, failure_ttl_s=60)
        results = await asyncio.gather(*(resolve("nope.invalid") for _ in range(20)), return_exceptions=True)
        assert all(isinstance(r, ResolveError) and "nope.invalid" in str(r) for r in results)
        with pytest.raises(ResolveError, match="does not resolve"):
            await resolve("nope.invalid")
        assert names.lookups == ["nope.invalid"]

    asyncio.run(test())


def test_a_failure_is_forgotten_after_its_ttl() -> None:
    async def test() -> None:
        names = CountingNames()
        names.release.set()
        resolve = CachingResolver(names, failure_ttl_s=0)
        for _ in range(2):
            with pytest.raises(ResolveError):
                await resolve("nope.invalid")
        assert names.lookups == ["nope.invalid", "nope.invalid"]

    asyncio.run(test())


def test_a_timeout_is_not_remembered_as_the_names_answer() -> None:
    """A page that floods the lookup threads with made-up names can make a real name time
    out; that must not refuse the real name to every task for the failure's lifetime."""

    async def test() -> None:
        lookups: list[str] = []

        async def busy_then_answers(host: str) -> list[IPAddress]:
            lookups.append(host)
            if len(lookups) == 1:
                raise LookupTimeout(f"{host} did not resolve within 5s")
            return [ipaddress.ip_address("93.184.216.34")]

        resolve = CachingResolver(busy_then_answers, failure_ttl_s=60)
        with pytest.raises(LookupTimeout):
            await resolve("shop.example")
        assert await resolve("shop.example") == [ipaddress.ip_address("93.184.216.34")]
        assert lookups == ["shop.example", "shop.example"]

    asyncio.run(test())


def test_names_longer_than_dns_allows_are_refused_without_a_lookup_or_a_cache_entry() -> None:
    async def test() -> None:
        names = CountingNames()
        names.release.set()
        resolve = CachingResolver(names)
        for host in ("x" * 70_000, ".".join(["a" * 63] * 4), "b" * 255):
            with pytest.raises(ResolveError, match=r"longer than a DNS name can be") as caught:
                await resolve(host)
            assert len(str(caught.value)) < 200
        assert names.lookups == [] and resolve._cache == {}
        longest = ".".join(["c" * 63] * 3 + ["d" * 61]) + "."  # 253 characters and the root's dot
        with pytest.raises(ResolveError, match="does not resolve"):
            await resolve(longest)
        assert names.lookups == [longest]

    asyncio.run(test())


def test_one_waiter_giving_up_does_not_cancel_the_lookup_for_the_others() -> None:
    async def test() -> None:
        names = CountingNames()
        resolve = CachingResolver(names)
        impatient = asyncio.ensure_future(resolve("shop.example"))
        patient = asyncio.ensure_future(resolve("shop.example"))
        await asyncio.sleep(0)
        impatient.cancel()
        names.release.set()
        assert await patient == [ipaddress.ip_address("93.184.216.34")]
        assert names.lookups == ["shop.example"]

    asyncio.run(test())


def test_a_full_cache_drops_what_expired_and_keeps_working() -> None:
    async def test() -> None:
        names = CountingNames()
        names.release.set()
        resolve = CachingResolver(names, limit=3)
        for i in range(10):
            with pytest.raises(ResolveError):
                await resolve(f"n{i}.invalid")
        assert await resolve("shop.example") == [ipaddress.ip_address("93.184.216.34")]
        assert len(resolve._cache) <= 3

    asyncio.run(test())


def test_literals_and_bad_names_never_reach_a_name_server(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        asked.append(host)
        raise OSError("no name server here")

    monkeypatch.setattr(resolver.socket, "getaddrinfo", getaddrinfo)

    async def test() -> None:
        assert await system_resolve("10.0.0.1") == [ipaddress.ip_address("10.0.0.1")]
        assert await system_resolve("[::1]") == [ipaddress.ip_address("::1")]
        with pytest.raises(ResolveError, match="does not resolve"):
            await system_resolve("a.example")

    asyncio.run(test())
    assert asked == ["a.example"]


def test_names_that_cannot_be_looked_up_fail_as_resolve_errors() -> None:
    async def test() -> None:
        for host in ("bad\x00name.example", "x" * 300 + ".example", "\udcff.example"):
            with pytest.raises(ResolveError):
                await system_resolve(host)

    asyncio.run(test())


@pytest.fixture
def hanging_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """``getaddrinfo`` hangs until the event is set, then fails (set on teardown too)."""
    hang = threading.Event()

    def getaddrinfo(host: str, *args: Any, **kwargs: Any) -> Any:
        hang.wait(30)
        raise OSError("gave up")

    monkeypatch.setattr(resolver.socket, "getaddrinfo", getaddrinfo)
    yield hang
    hang.set()


def test_hanging_lookups_never_hold_the_loops_own_threads(hanging_dns: threading.Event) -> None:
    """A name server that hangs ties up the lookup threads only: the store calls every task
    makes through ``asyncio.to_thread`` still run while 40 lookups wait."""

    async def test() -> None:
        asyncio.get_running_loop().set_default_executor(
            resolver.ThreadPoolExecutor(2, thread_name_prefix="test-default")
        )
        lookups = [asyncio.ensure_future(system_resolve(f"h{i}.example", timeout_s=60)) for i in range(40)]
        await asyncio.sleep(0)
        store_calls = await asyncio.gather(*(asyncio.to_thread(lambda: "stored") for _ in range(20)))
        assert store_calls == ["stored"] * 20
        assert not any(lookup.done() for lookup in lookups)
        hanging_dns.set()
        results = await asyncio.gather(*lookups, return_exceptions=True)
        assert all(isinstance(r, ResolveError) and "gave up" in str(r) for r in results)

    asyncio.run(test())


def test_a_lookup_that_hangs_fails_at_its_time_limit(hanging_dns: threading.Event) -> None:
    with pytest.raises(LookupTimeout, match=r"slow\.example did not resolve within 0\.2s"):
        asyncio.run(system_resolve("slow.example", timeout_s=0.2))


class SlowSite:
    """``getaddrinfo`` that hangs for names under ``slow.example`` until released, and answers
    every other name at once; counts the threads it holds."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, host: str, *args: Any, **kwargs: Any) -> Any:
        if host.endswith("slow.example"):
            with self.lock:
                self.started.append(host)
            self.release.wait(30)
            raise OSError("gave up")
        return [(2, 1, 6, "", ("93.184.216.34", 0))]


@pytest.fixture
def slow_site(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowSite]:
    fake = SlowSite()
    monkeypatch.setattr(resolver.socket, "getaddrinfo", fake)
    yield fake
    fake.release.set()


def test_a_slow_site_holds_only_its_share_of_the_lookup_threads(slow_site: SlowSite) -> None:
    """A page asking for endless made-up names under one domain whose name server never
    answers: other names still resolve, and that domain never holds more than its share."""

    async def test() -> None:
        made_up = [
            asyncio.ensure_future(system_resolve(f"x{i}.y.slow.example", timeout_s=60)) for i in range(40)
        ]
        for _ in range(1000):  # until the site's share of threads is taken (bounded: never hangs)
            if len(slow_site.started) >= resolver.SITE_LOOKUPS:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # time for any thread beyond the share to start, if one could
        assert len(slow_site.started) == resolver.SITE_LOOKUPS
        answers = await asyncio.gather(*(system_resolve(f"shop{i}.example", timeout_s=10) for i in range(30)))
        assert answers == [[ipaddress.ip_address("93.184.216.34")]] * 30
        assert not any(lookup.done() for lookup in made_up)
        slow_site.release.set()
        results = await asyncio.gather(*made_up, return_exceptions=True)
        assert all(isinstance(r, ResolveError) and "gave up" in str(r) for r in results)
        assert len(slow_site.started) == 40
        assert resolver._gates().in_use() == {}  # each share came back before its waiter woke

    asyncio.run(test())


def test_a_waiter_giving_up_does_not_free_its_share_while_the_thread_still_hangs(slow_site: SlowSite) -> None:
    async def test() -> None:
        first = [system_resolve(f"n{i}.slow.example", timeout_s=0.2) for i in range(resolver.SITE_LOOKUPS)]
        results = await asyncio.gather(*first, return_exceptions=True)
        assert all(isinstance(r, LookupTimeout) for r in results)
        with pytest.raises(LookupTimeout):  # waits for a share, never reaches a thread
            await system_resolve("late.slow.example", timeout_s=0.2)
        assert len(slow_site.started) == resolver.SITE_LOOKUPS
        assert resolver._gates().in_use() == {"slow.example": resolver.SITE_LOOKUPS}
        slow_site.release.set()
        for _ in range(1000):  # the hung threads end now and give their shares back (bounded wait)
            if not resolver._gates().in_use():
                break
            await asyncio.sleep(0.01)
        assert resolver._gates().in_use() == {}

    asyncio.run(test())


@pytest.mark.parametrize(
    ("host", "site"),
    [
        ("a.b.example.com", "example.com"),
        ("Example.COM.", "example.com"),
        ("x.shop.example.co.uk", "example.co.uk"),
        ("shop.com.au", "shop.com.au"),
        ("co.uk", "co.uk"),
        ("a.b.cdn.io", "cdn.io"),
        ("localhost", "localhost"),
        # spellings getaddrinfo's IDNA encoding turns into the same name are one site
        ("x1.evil\u3002com", "evil.com"),
        ("x2.\uff45vil.com", "evil.com"),
        ("a.b\uff0eevil\uff0ecom", "evil.com"),
        ("x.EVIL.com\u3002", "evil.com"),
    ],
)
def test_names_are_grouped_by_the_domain_that_answers_for_them(host: str, site: str) -> None:
    assert resolver.site_of(host) == site
