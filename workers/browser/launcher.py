"""Find and launch a Chromium: Playwright's own if installed, else a system one.

Flags keep Chromium quiet on closed networks (no background networking, no component
updates) and cheap per context: headless Chromium is the full browser, and every context is a
window whose omnibox preloads its WebUI popups in a renderer process of their own (never shown
headless), plus a spare renderer no task uses; those features are off (``EXTRA_DISABLED_FEATURES``).

Chromium's own sandbox (each renderer in its own namespaces, under seccomp) is on
wherever the kernel lets it work: a non-root user with unprivileged user namespaces, or a
setuid ``chrome-sandbox`` helper. As root Chromium refuses to start sandboxed, and some
container profiles forbid the namespaces; only then is ``--no-sandbox`` used, and the
worker says so in its log (a warning, once per reason), so an operator can fix the host.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import stat
from pathlib import Path

import playwright
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
    # WebRTC may not open UDP sockets around the egress proxy (workers/egress/proxy.py).
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
]


# Chromium features that cost a renderer process per context and do nothing for us: the
# omnibox's WebUI popups (chrome://omnibox-popup.top-chrome/), preloaded for every window and
# never shown headless (~0.5 core-s per context: a WebUI page load); and the spare renderer
# Chromium keeps warm for the last context's next navigation, discarded unused when the next
# task's context is made (the pool's pre-opened blank page already holds a renderer that its
# first navigation reuses). Measured: 3 renderer processes spawned per context → 1. And
# autofill's server queries (content-autofill.googleapis.com, one per page with a form, which
# --disable-background-networking does not stop): the egress proxy refuses them anyway, after
# a DNS lookup that on a closed network takes seconds to fail (548 in one 96-task run).
EXTRA_DISABLED_FEATURES = (
    "WebUIOmniboxPopup",
    "WebUIOmniboxAimPopup",
    "SpareRendererForSitePerProcess",
    "AutofillServerCommunication",
)

# Chromium honours only the last --disable-features switch, and Playwright passes its own list
# (features that would break automation): ours must repeat Playwright's, read from its driver.
_DRIVER_BUNDLES = ("lib/coreBundle.js", "lib/server/chromium/chromiumSwitches.js")
_DISABLED_LIST = re.compile(r"disabledFeatures = (?:\([^)]*\) => )?\[(.*?)\]", re.S)


@functools.cache
def playwright_disabled_features(package: Path | None = None) -> tuple[str, ...] | None:
    """The features Playwright's driver disables in Chromium; ``None`` if its source is not
    where (or not how) this version expects it."""
    package = package or Path(playwright.__file__).parent / "driver" / "package"
    for name in _DRIVER_BUNDLES:
        try:
            source = (package / name).read_text(encoding="utf-8")
        except OSError:
            continue
        match = _DISABLED_LIST.search(source)
        if match:
            body = re.sub(r"//[^\n]*", "", match.group(1))
            return tuple(re.findall(r'"([A-Za-z0-9_]+)"', body))
    return None


def disabled_features() -> list[str]:
    """A ``--disable-features`` switch with Playwright's features and ours; none (Chromium
    keeps Playwright's alone) if Playwright's list cannot be read."""
    base = playwright_disabled_features()
    if not base:
        log.info("Playwright's disabled Chromium features not found; omnibox WebUI stays on")
        return []
    merged = dict.fromkeys([*base, *EXTRA_DISABLED_FEATURES])
    return ["--disable-features=" + ",".join(merged)]


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
    args = [*CHROMIUM_ARGS, *disabled_features()]
    if blocker is None:
        try:
            return await _launch(playwright, executable, headless, args)
        except PlaywrightError as exc:  # e.g. a container's seccomp profile forbids the namespaces
            blocker = f"the sandboxed launch failed ({exc.message.splitlines()[0][:200]})"
    if blocker not in _warned:
        _warned.add(blocker)
        log.warning("Chromium runs with %s: %s", NO_SANDBOX, blocker)
    return await _launch(playwright, executable, headless, [*args, NO_SANDBOX])


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


def browser_processes(root: int, proc: Path = Path("/proc")) -> set[int]:
    """The Chromium main processes (launched over a pipe, not renderers or helpers) among the
    descendants of ``root``: the pool kills a browser by its pid when it stops answering."""
    parents: dict[int, int] = {}
    for entry in proc.glob("[0-9]*/stat"):
        try:
            parents[int(entry.parent.name)] = int(entry.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found: set[int] = set()
    for pid in parents:
        ancestor, hops = parents.get(pid), 0
        while ancestor is not None and ancestor != root and hops < 64:
            ancestor, hops = parents.get(ancestor), hops + 1
        if ancestor != root:
            continue
        try:
            argv = (proc / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--remote-debugging-pipe" in argv and not any(a.startswith(b"--type=") for a in argv):
            found.add(pid)
    return found


def process_alive(pid: int, proc: Path = Path("/proc")) -> bool:
    """Whether ``pid`` runs (a zombie, waiting for its parent to reap it, does not)."""
    try:
        return (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
