"""A small pool of Chromium processes per worker process; each task gets its own context.

Contexts are cheap (~28 ms, ~70 MB) and isolated (cookies, storage), browsers are
not (~150-250 MB): so many concurrent tasks share a few browsers. A browser is
recycled after ``tasks_per_browser`` contexts (memory creep) and replaced when it
disconnects (crash); a context on a crashed browser fails only its own task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright

from workers.browser.launcher import launch_chromium

log = logging.getLogger(__name__)


@dataclass
class _Slot:
    browser: Browser
    served: int = 0
    active: int = 0
    retiring: bool = False

    @property
    def usable(self) -> bool:
        return self.browser.is_connected() and not self.retiring


class BrowserPool:
    """Hands out fresh browser contexts over at most ``size`` browsers."""

    def __init__(
        self,
        size: int = 1,
        tasks_per_browser: int = 50,
        executable: str | None = None,
        headless: bool = True,
    ) -> None:
        self.size = max(1, size)
        self.tasks_per_browser = max(1, tasks_per_browser)
        self.executable = executable
        self.headless = headless
        self._playwright: Playwright | None = None
        self._slots: list[_Slot] = []
        self._lock = asyncio.Lock()

    async def _driver(self) -> Playwright:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        return self._playwright

    async def _acquire(self) -> _Slot:
        async with self._lock:
            self._slots = [s for s in self._slots if s.browser.is_connected() or s.active]
            usable = [s for s in self._slots if s.usable]
            if len(usable) < self.size:
                playwright = await self._driver()
                browser = await launch_chromium(playwright, self.executable, self.headless)
                slot = _Slot(browser)
                self._slots.append(slot)
                log.info("browser launched (pid pool size %d)", len(self._slots))
            else:
                slot = min(usable, key=lambda s: s.active)
            slot.served += 1
            slot.active += 1
            if slot.served >= self.tasks_per_browser:
                slot.retiring = True
            return slot

    async def _release(self, slot: _Slot) -> None:
        slot.active -= 1
        if slot.retiring and slot.active == 0:
            self._slots = [s for s in self._slots if s is not slot]
            await _quietly(slot.browser.close())
            log.info("browser recycled after %d contexts", slot.served)

    @asynccontextmanager
    async def context(self, **options: Any) -> AsyncIterator[BrowserContext]:
        """A new, isolated context; closed (and its browser maybe recycled) on exit."""
        slot = await self._acquire()
        try:
            context = await slot.browser.new_context(**options)
        except Exception:
            slot.retiring = True
            await self._release(slot)
            raise
        try:
            yield context
        finally:
            await _quietly(context.close())
            await self._release(slot)

    @property
    def browsers(self) -> int:
        return len(self._slots)

    async def close(self) -> None:
        """Close every browser and the Playwright driver."""
        slots, self._slots = self._slots, []
        for slot in slots:
            await _quietly(slot.browser.close())
        if self._playwright is not None:
            await _quietly(self._playwright.stop())
            self._playwright = None


async def _quietly(awaitable: Any) -> None:
    try:
        await asyncio.wait_for(awaitable, timeout=10)
    except Exception as exc:  # closing something already gone is fine
        log.debug("ignored while closing: %s", exc)
