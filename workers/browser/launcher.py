"""Find and launch a Chromium: Playwright's own if installed, else a system one.

Flags keep Chromium quiet on closed networks (no background networking, no
component updates) and safe as root in containers.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from playwright.async_api import Browser, Playwright

SYSTEM_CANDIDATES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
)

CHROMIUM_ARGS = [
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--no-sandbox",
    "--metrics-recording-only",
    "--mute-audio",
    # WebRTC may not open UDP sockets around the egress proxy (workers/browser/egress.py).
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]


class BrowserNotFoundError(RuntimeError):
    """No usable Chromium on this machine."""


def find_chromium(playwright: Playwright, configured: str | None = None) -> str | None:
    """The browser executable to use; ``None`` means Playwright's bundled one.

    Order: the configured path, Playwright's downloaded Chromium, a system Chromium/Chrome.
    """
    if configured:
        if not os.access(configured, os.X_OK):
            raise BrowserNotFoundError(f"BROWSERFLEET_CHROMIUM_PATH={configured} is not executable")
        return configured
    bundled = Path(playwright.chromium.executable_path)
    if bundled.exists():
        return None
    for name in SYSTEM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFoundError(
        "no Chromium found: run `playwright install chromium`, or install a system one "
        "(Debian/Ubuntu: `apt-get install -y chromium`), or set BROWSERFLEET_CHROMIUM_PATH"
    )


async def launch_chromium(
    playwright: Playwright, configured: str | None = None, headless: bool = True
) -> Browser:
    """Launch one Chromium process with browserfleet's flags."""
    executable = find_chromium(playwright, configured)
    return await playwright.chromium.launch(
        executable_path=executable,
        headless=headless,
        args=CHROMIUM_ARGS,
        handle_sigint=False,
        handle_sigterm=False,
        handle_sighup=False,
    )
