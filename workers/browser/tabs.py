"""One task's browser: a context with numbered tabs and a current tab.

Popups and ``target=_blank`` links become new tabs and take focus, as a user would
see them. Tab ids are small stable integers the model can name.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError

log = logging.getLogger(__name__)


class TabError(LookupError):
    """A tab id the session does not have."""


class BrowserTabs:
    """The tabs of one browser context, and which one the agent is looking at."""

    def __init__(self, context: BrowserContext, action_timeout_s: float = 15.0) -> None:
        self.context = context
        self.action_timeout_ms = action_timeout_s * 1000
        self._tabs: dict[int, Page] = {}
        self._next_id = 0
        self._current: int | None = None
        self.opened_tab = False
        self._sealed = 0  # actions typing a secret right now
        self._sealed_until = 0.0  # monotonic time until which the screen counts as sealed
        context.set_default_timeout(self.action_timeout_ms)
        context.set_default_navigation_timeout(self.action_timeout_ms * 2)
        for page in context.pages:  # the pool opens one blank page ahead of time
            self._current = self._register(page)
        context.on("page", self._on_page)

    def _on_page(self, page: Page) -> None:
        if page in self._tabs.values():
            return
        tab_id = self._register(page)
        self._current = tab_id
        self.opened_tab = True

    def _register(self, page: Page) -> int:
        tab_id = self._next_id
        self._next_id += 1
        self._tabs[tab_id] = page
        page.on("close", lambda _: self._forget(tab_id))
        return tab_id

    def _forget(self, tab_id: int) -> None:
        self._tabs.pop(tab_id, None)
        if self._current == tab_id:
            self._current = max(self._tabs) if self._tabs else None

    async def page(self) -> Page:
        """The current tab, opening a blank one if every tab was closed."""
        if self._current is None or self._current not in self._tabs:
            page = await self.context.new_page()
            if page not in self._tabs.values():
                self._register(page)
            self._current = self.tab_id(page)
        return self._tabs[self._current]

    def tab_id(self, page: Page) -> int:
        for tab_id, candidate in self._tabs.items():
            if candidate is page:
                return tab_id
        raise TabError("page is not a tab of this session")

    @property
    def current_tab(self) -> int | None:
        return self._current

    def current_page(self) -> Page | None:
        """The current tab without opening one (for observers such as the live view)."""
        return self._tabs.get(self._current) if self._current is not None else None

    @contextmanager
    def sealed(self, grace_s: float = 1.0) -> Iterator[None]:
        """Mark the screen as possibly showing a secret while an action types one, and a bit after.

        A frame captured while a secret was typed may reach an observer after the page has
        already moved on (a submit navigates away), when a check of the page finds nothing.
        """
        self._sealed += 1
        try:
            yield
        finally:
            self._sealed -= 1
            self._sealed_until = max(self._sealed_until, time.monotonic() + grace_s)

    @property
    def is_sealed(self) -> bool:
        return self._sealed > 0 or time.monotonic() < self._sealed_until

    async def listing(self, current_title: str | None = None) -> list[tuple[int, str, str]]:
        """(id, url, title) of every open tab; pass the current tab's title if already known.

        Each ``title()`` is a browser round trip (tens of ms on a busy page), so the
        other tabs' titles are fetched concurrently and the current one not at all.
        """

        async def title(tab_id: int, page: Page) -> str:
            if tab_id == self._current and current_title is not None:
                return current_title
            try:
                return await asyncio.wait_for(page.title(), 2)
            except (PlaywrightError, TimeoutError):
                return ""

        items = sorted(self._tabs.items())
        titles = await asyncio.gather(*(title(tab_id, page) for tab_id, page in items))
        return [(tab_id, page.url, t) for (tab_id, page), t in zip(items, titles, strict=True)]

    async def new_tab(self) -> Page:
        page = await self.context.new_page()
        if page not in self._tabs.values():
            self._register(page)
        self._current = self.tab_id(page)
        return page

    def switch(self, tab_id: int) -> Page:
        if tab_id not in self._tabs:
            raise TabError(f"no tab {tab_id}; open tabs: {sorted(self._tabs)}")
        self._current = tab_id
        return self._tabs[tab_id]

    async def close_tab(self, tab_id: int) -> None:
        if tab_id not in self._tabs:
            raise TabError(f"no tab {tab_id}; open tabs: {sorted(self._tabs)}")
        await self._tabs[tab_id].close()
        self._forget(tab_id)

    async def settle(self, page: Page, timeout_s: float = 5.0) -> None:
        """Wait (bounded) for the current document to be usable after an action."""
        try:
            await page.wait_for_load_state("domcontentloaded", timeout=timeout_s * 1000)
        except PlaywrightError as exc:
            log.debug("page not settled: %s", exc)
