"""Chromium's sandbox is used wherever it can work; ``--no-sandbox`` only when it cannot, logged."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from workers.browser import launcher


@pytest.mark.parametrize(
    ("euid", "userns", "helper", "blocked"),
    [
        (1000, True, False, None),
        (1000, False, True, None),
        (1000, False, False, "user namespaces"),
        (0, True, True, "root"),
    ],
)
def test_the_sandbox_is_off_only_where_it_cannot_work(
    euid: int, userns: bool, helper: bool, blocked: str | None
) -> None:
    reason = launcher.sandbox_blocker(euid, userns, helper)
    assert (reason is None) if blocked is None else (blocked in (reason or ""))
    assert launcher.NO_SANDBOX not in launcher.CHROMIUM_ARGS


@pytest.mark.parametrize(
    ("files", "allowed"),
    [
        ({"user/max_user_namespaces": "63000"}, True),
        ({"user/max_user_namespaces": "0"}, False),
        ({"user/max_user_namespaces": "100", "kernel/unprivileged_userns_clone": "0"}, False),
        ({"kernel/apparmor_restrict_unprivileged_userns": "1"}, False),
        ({}, True),
    ],
)
def test_user_namespace_switches_are_read(tmp_path: Path, files: dict[str, str], allowed: bool) -> None:
    for name, value in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(value + "\n")
    assert launcher.user_namespaces_allowed(tmp_path) is allowed


def test_a_failed_sandboxed_launch_falls_back_and_says_so(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Pretend not to be root while root: Chromium refuses the sandboxed start for real."""
    monkeypatch.setattr(launcher.os, "geteuid", lambda: 1000)
    monkeypatch.setattr(launcher, "_warned", set())

    async def launch() -> str:
        async with async_playwright() as playwright:
            browser = await launcher.launch_chromium(playwright)
            try:
                page = await browser.new_page()
                await page.goto("chrome://sandbox")
                return await page.inner_text("body")
            finally:
                await browser.close()

    with caplog.at_level(logging.INFO, logger=launcher.__name__):
        status = asyncio.run(launch())
    if launcher.os.getuid() == 0:  # here: the sandboxed start failed, the fallback is logged
        assert "Sandbox Status" in status
        assert any("--no-sandbox" in r.getMessage() and "sandboxed launch failed" in r.getMessage()
                   for r in caplog.records), caplog.text
    else:  # a non-root run: the sandbox works
        assert "You are adequately sandboxed" in status, status
