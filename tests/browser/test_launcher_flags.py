"""Chromium's flags: Playwright's disabled features kept, the per-context omnibox WebUI gone."""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Browser

from tests.support.procs import children, cmdline
from workers.browser import launcher


def test_our_disable_features_switch_repeats_playwrights_and_adds_ours(browser: Browser) -> None:
    """Chromium reads only the last ``--disable-features``: it must be ours, holding Playwright's."""
    tree = children(os.getpid())
    drivers = tree.get(os.getpid(), [])  # this module's Playwright driver, not a worker's browsers
    main = [p for d in drivers for p in tree.get(d, []) if "--remote-debugging-pipe" in cmdline(p)]
    switches = [re.findall(r"--disable-features=(\S+)", cmdline(p)) for p in main]
    assert switches and all(len(s) == 2 for s in switches), switches
    for playwrights, ours in switches:
        assert ours.split(",") == [*playwrights.split(","), *launcher.EXTRA_DISABLED_FEATURES]


def test_a_context_opens_no_omnibox_webui(
    browser: Browser, run: Callable[[Awaitable[Any]], Any]
) -> None:
    context = run(browser.new_context())
    try:
        run(context.new_page())
        cdp = run(browser.new_browser_cdp_session())
        targets = run(cdp.send("Target.getTargets", {"filter": [{}]}))["targetInfos"]
        urls = [t["url"] for t in targets]
        assert urls and not [u for u in urls if u.startswith("chrome://omnibox")], urls
    finally:
        run(context.close())


def test_an_unreadable_driver_leaves_playwrights_switch_alone(tmp_path: Path) -> None:
    assert launcher.playwright_disabled_features.__wrapped__(tmp_path) is None
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "coreBundle.js").write_text(
        'x; disabledFeatures = [\n  // why\n  "A",\n  "B" // more\n].filter(Boolean);'
    )
    assert launcher.playwright_disabled_features.__wrapped__(tmp_path) == ("A", "B")
