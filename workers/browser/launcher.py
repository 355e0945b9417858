"""Find and launch a Chromium: Playwright's own if installed, else a system one.

Flags keep Chromium quiet on closed networks (no background networking, no component
updates). Chromium's own sandbox (each renderer in its own namespaces, under seccomp) is on
wherever the kernel lets it work: a non-root user with unprivileged user namespaces, or a
setuid ``chrome-sandbox`` helper. As root Chromium refuses to start sandboxed, and some
container profiles forbid the namespaces; only then is ``--no-sandbox`` used, and the
worker says so in its log (a warning, once per reason), so an operator can fix the host.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path

from playwright.async_api import Browser, Playwright
from playwright.async_api import Error as PlaywrightError

log = logging.getLogger(__name__)
NO_SANDBOX = "--no-sandbox"
_warned: set[str] = set()

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


def user_namespaces_allowed(proc: Path = Path("/proc/sys")) -> bool:
    """Whether this kernel lets an unprivileged process create user namespaces."""
    checks = {
        "user/max_user_namespaces": lambda v: v.isdigit() and int(v) > 0,
        "kernel/unprivileged_userns_clone": lambda v: v != "0",  # Debian's switch
        "kernel/apparmor_restrict_unprivileged_userns": lambda v: v != "1",  # Ubuntu 23.10+
    }
    for name, ok in checks.items():
        try:
            value = (proc / name).read_text().strip()
        except OSError:
            continue  # the switch does not exist on this kernel
        if not ok(value):
            return False
    return True


def _setuid_helper(executable: str | None) -> bool:
    if executable is None:
        return False
    helper = Path(executable).resolve().parent / "chrome-sandbox"
    try:
        info = helper.stat()
    except OSError:
        return False
    return info.st_uid == 0 and bool(info.st_mode & stat.S_ISUID)


def sandbox_blocker(euid: int, userns: bool, setuid_helper: bool) -> str | None:
    """Why Chromium's sandbox cannot work here (``None``: it can)."""
    if euid == 0:
        return "the worker runs as root (Chromium refuses a sandbox as root; run it as a non-root user)"
    if not (userns or setuid_helper):
        return "the kernel forbids unprivileged user namespaces and there is no setuid chrome-sandbox"
    return None


async def launch_chromium(
    playwright: Playwright, configured: str | None = None, headless: bool = True
) -> Browser:
    """Launch one Chromium process with browserfleet's flags, sandboxed wherever possible."""
    executable = find_chromium(playwright, configured)
    blocker = sandbox_blocker(os.geteuid(), user_namespaces_allowed(), _setuid_helper(executable))
    if blocker is None:
        try:
            return await _launch(playwright, executable, headless, CHROMIUM_ARGS)
        except PlaywrightError as exc:  # e.g. a container's seccomp profile forbids the namespaces
            blocker = f"the sandboxed launch failed ({exc.message.splitlines()[0][:200]})"
    if blocker not in _warned:
        _warned.add(blocker)
        log.warning("Chromium runs with %s: %s", NO_SANDBOX, blocker)
    return await _launch(playwright, executable, headless, [*CHROMIUM_ARGS, NO_SANDBOX])


async def _launch(playwright: Playwright, executable: str | None, headless: bool, args: list[str]) -> Browser:
    return await playwright.chromium.launch(
        executable_path=executable,
        headless=headless,
        args=args,
        chromium_sandbox=NO_SANDBOX not in args,
        handle_sigint=False,
        handle_sigterm=False,
        handle_sighup=False,
    )
