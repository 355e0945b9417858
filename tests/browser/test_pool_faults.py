"""The pool never waits unbounded on a browser: a frozen one fails the set-up in time, is
distrusted and killed; a killed one is noticed by its pid; the next context is on a new browser."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from workers.browser.launcher import process_alive
from workers.browser.pool import BrowserPool, BrowserSetupError


def test_a_frozen_browser_fails_the_set_up_in_time_and_is_killed() -> None:
    async def test() -> None:
        pool = BrowserPool(spares=0, setup_timeout_s=30)  # a launch on a loaded machine takes seconds
        try:
            async with pool.context():
                pass
            pool.setup_timeout_s = 3
            frozen = pool._slots[0]
            assert frozen.pid is not None and process_alive(frozen.pid)
            os.kill(frozen.pid, signal.SIGSTOP)
            started = time.monotonic()
            with pytest.raises(BrowserSetupError, match="no browser context within 3s"):
                async with pool.context():
                    pass
            assert time.monotonic() - started < 30  # bounded: 3 s, plus closing what it opened
            assert frozen.suspect and frozen.retiring
            for _ in range(300):  # the probe gets no answer within 10 s: killed
                if not process_alive(frozen.pid):
                    break
                await asyncio.sleep(0.1)
            assert not process_alive(frozen.pid)
            pool.setup_timeout_s = 30
            async with pool.context() as context:  # a new browser
                assert context.browser is not frozen.browser
                page = context.pages[0]
                await page.set_content("<h1>fresh</h1>")
                assert await page.inner_text("h1") == "fresh"
        finally:
            await pool.close()

    asyncio.run(test())


def test_a_killed_browser_is_replaced_at_once() -> None:
    async def test() -> None:
        pool = BrowserPool(spares=1, setup_timeout_s=30)
        try:
            async with pool.context():
                pass
            dead = pool._slots[0]
            assert dead.pid is not None
            os.kill(dead.pid, signal.SIGKILL)
            async with pool.context() as context:  # no spare of the dead browser is handed out
                assert context.browser is not dead.browser
                assert await context.pages[0].evaluate("1 + 1") == 2
            assert pool.stats()["browsers"] == 1 and not process_alive(dead.pid)
        finally:
            await pool.close()

    asyncio.run(test())
