"""The browser pool's spare contexts: filled to the setting, fresh for every task, made for
the options the last task asked for."""

from __future__ import annotations

import asyncio

import pytest

from shared.settings import Settings
from workers.browser.pool import BrowserPool

WIDE = {"viewport": {"width": 1280, "height": 800}}
NARROW = {"viewport": {"width": 800, "height": 600}}


async def _spares_settle(pool: BrowserPool, want: int) -> list[str]:
    """The spares' keys once no refill is in flight and ``want`` are ready (or 30 s passed)."""
    for _ in range(300):
        if not pool._refilling and len(pool._spares) >= want:
            break
        await asyncio.sleep(0.1)
    return [spare.key for spare in pool._spares]


def test_spares_fill_to_the_setting_one_at_a_time_and_no_further() -> None:
    async def test() -> None:
        pool = BrowserPool(spares=3)
        try:
            async with pool.context(**WIDE):
                pass
            keys = await _spares_settle(pool, 3)
            assert len(keys) == 3 and len(set(keys)) == 1
            await asyncio.sleep(0.5)
            assert len(pool._spares) == 3 and not pool._refilling
            assert pool.stats()["spare_contexts"] == 3 and pool.stats()["contexts_in_use"] == 0
        finally:
            await pool.close()

    asyncio.run(test())


def test_every_task_gets_a_fresh_context_even_from_the_spares() -> None:
    async def test() -> None:
        pool = BrowserPool(spares=2)
        try:
            async with pool.context(**WIDE) as first:
                await first.add_cookies([{"name": "who", "value": "task-1", "url": "http://example.test/"}])
                await first.pages[0].evaluate("() => { window.leaked = 'task-1'; }")
            await _spares_settle(pool, 2)
            seen = []
            for _ in range(3):  # two from the spares, then whatever is ready
                async with pool.context(**WIDE) as later:
                    assert later is not first
                    seen.append(later)
                    assert await later.cookies() == []
                    assert await later.pages[0].evaluate("() => window.leaked === undefined")
            assert len({id(c) for c in seen}) == 3
        finally:
            await pool.close()

    asyncio.run(test())


def test_spares_follow_the_options_last_asked_for() -> None:
    async def test() -> None:
        pool = BrowserPool(spares=2)
        try:
            async with pool.context(**WIDE):
                pass
            wide = await _spares_settle(pool, 2)
            async with pool.context(**NARROW) as narrow_context:
                assert narrow_context.pages[0].viewport_size == NARROW["viewport"]
            narrow = await _spares_settle(pool, 2)
            assert len(narrow) == 2 and set(narrow).isdisjoint(wide)
            async with pool.context(**NARROW) as from_spare:
                assert from_spare.pages[0].viewport_size == NARROW["viewport"]
        finally:
            await pool.close()

    asyncio.run(test())


def test_no_spares_when_set_to_zero() -> None:
    async def test() -> None:
        pool = BrowserPool(spares=0)
        try:
            async with pool.context(**WIDE):
                pass
            await asyncio.sleep(0.5)
            assert pool._spares == [] and not pool._refilling
        finally:
            await pool.close()

    asyncio.run(test())


@pytest.mark.parametrize(
    ("concurrency", "setting", "spares"), [(4, None, 2), (1, None, 1), (16, None, 8), (16, 0, 0), (16, 3, 3)]
)
def test_spares_default_to_half_the_concurrency(concurrency: int, setting: int | None, spares: int) -> None:
    assert Settings(concurrency=concurrency, spare_contexts=setting).spares == spares
