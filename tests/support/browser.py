"""Fixtures for tests that drive Chromium directly (no worker): one loop, one browser per module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from playwright.async_api import Browser, Playwright, async_playwright

from workers.browser.launcher import launch_chromium


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
