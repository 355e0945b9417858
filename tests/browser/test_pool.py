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


def test_spares_follow_what_recent_tasks_asked_for() -> None:
    """A new shape gets a spare at once and the old shape's are closed as demand moves on."""

    async def test() -> None:
        pool = BrowserPool(spares=2)
        try:
            async with pool.context(**WIDE):
                pass
            wide = set(await _spares_settle(pool, 2))
            async with pool.context(**NARROW) as narrow_context:
                assert narrow_context.pages[0].viewport_size == NARROW["viewport"]
            keys = await _spares_settle(pool, 2)
            narrow = set(keys) - wide
            assert len(narrow) == 1 and len(keys) == 2  # one of each: half the recent tasks each
            for _ in range(8):  # the wide shape falls out of the recent tasks
                async with pool.context(**NARROW) as from_spare:
                    assert from_spare.pages[0].viewport_size == NARROW["viewport"]
            assert set(await _spares_settle(pool, 2)) == narrow
            assert pool.discarded >= 1 and pool.stats()["spares_discarded"] == pool.discarded
        finally:
            await pool.close()

    asyncio.run(test())


def test_alternating_shapes_keep_spares_for_both_without_churn() -> None:
    """Tasks of two shapes in turn (e.g. half with their own viewport): each shape keeps its
    share of the spares, instead of one shape's spares being closed at every switch."""

    async def test() -> None:
        pool = BrowserPool(spares=4)
        try:
            for shape in (WIDE, NARROW) * 2:
                async with pool.context(**shape):
                    pass
            await _spares_settle(pool, 4)
            discarded = pool.discarded
            for shape in (WIDE, NARROW) * 6:
                async with pool.context(**shape) as context:
                    assert context.pages[0].viewport_size == shape["viewport"]
                await _spares_settle(pool, 4)
            keys = [spare.key for spare in pool._spares]
            assert len(keys) == 4 and len(set(keys)) == 2 and keys.count(keys[0]) == 2
            assert pool.discarded == discarded  # every spare made in the alternation was used
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
