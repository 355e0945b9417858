"""Fixtures for tests that drive Chromium directly (no worker): one loop, one browser per module."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import pytest
from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright

from workers.browser.launcher import launch_chromium
from workers.page.dom import INIT_SCRIPT

T = TypeVar("T")


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def browser(loop: asyncio.AbstractEventLoop) -> Iterator[Browser]:
    playwright: Playwright = loop.run_until_complete(async_playwright().start())
    browser = loop.run_until_complete(launch_chromium(playwright))
    yield browser
    loop.run_until_complete(browser.close())
    loop.run_until_complete(playwright.stop())


@pytest.fixture
def run(loop: asyncio.AbstractEventLoop) -> Callable[[Awaitable[T]], T]:
    """Run one awaitable on the module's loop (bounded: a stuck page fails the test, not the run)."""
    def run(awaitable: Awaitable[T]) -> T:
        return loop.run_until_complete(asyncio.wait_for(awaitable, 60))

    return run


@pytest.fixture
def context(browser: Browser, run: Callable[[Awaitable[Any]], Any]) -> Iterator[BrowserContext]:
    """A fresh context with the capture's init script, as the pool hands them out."""
    ctx: BrowserContext = run(browser.new_context())
    run(ctx.add_init_script(script=INIT_SCRIPT))
    yield ctx
    run(ctx.close())
