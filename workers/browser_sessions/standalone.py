"""A Chromium process of its own for one browser session (``POST /browsers``), driven over CDP.

Agent tasks share a few browsers, one context each; a browser session is handed to its
caller over CDP, and CDP at the browser level sees every context of the process. So a
browser session gets a whole Chromium: nothing of another task is in the process the
caller drives. It is launched with the same flags as the pool's (sandbox when possible,
background networking off, WebRTC kept behind the proxy) and:

- ``--proxy-server`` pointing at the session's egress proxy, for *every* context
  (``<-loopback>`` so even loopback goes through the guard);
- ``--remote-debugging-port=0`` on 127.0.0.1 for the worker's CDP relay (the port is never
  handed out; its WebSocket refuses any page origin) and ``--remote-debugging-pipe`` held by
  this process: when the worker dies, the pipe closes and Chromium exits with it;
- ``HOME`` and the profile in the session's own directory, downloads there too, so
  nothing the browser writes lands elsewhere on the worker; the directory is removed at
  the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from workers.browser.launcher import (
    CHROMIUM_ARGS,
    NO_SANDBOX,
    SYSTEM_CANDIDATES,
    BrowserNotFoundError,
    _setuid_helper,
    disabled_features,
    sandbox_blocker,
    user_namespaces_allowed,
)

log = logging.getLogger(__name__)

START_TIMEOUT_S = 30.0
# fd 3 <- argv[1], fd 4 <- argv[2] (through free fds first: either may already be 3 or 4), then exec.
_TRAMPOLINE = (
    "import os, sys\n"
    "r, w = os.dup(int(sys.argv[1])), os.dup(int(sys.argv[2]))\n"
    "os.dup2(r, 3); os.dup2(w, 4)\n"
    "os.set_inheritable(3, True); os.set_inheritable(4, True)\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)
CLOSE_TIMEOUT_S = 5.0


@dataclass
class StandaloneBrowser:
    """A running Chromium, its DevTools endpoint (loopback only) and its directories."""

    process: asyncio.subprocess.Process
    port: int
    browser_path: str  # /devtools/browser/<id>
    root: Path
    _pipe: tuple[int, int] = field(repr=False)

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{self.browser_path}"

    @property
    def alive(self) -> bool:
        return self.process.returncode is None

    async def close(self) -> None:
        """End the browser (closing its pipe asks it to exit; a kill if it does not) and remove its files."""
        for fd in self._pipe:
            with contextlib.suppress(OSError):
                os.close(fd)
        try:
            await asyncio.wait_for(self.process.wait(), CLOSE_TIMEOUT_S)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            await self.process.wait()
        await asyncio.to_thread(shutil.rmtree, self.root, True)


def chromium_executable(configured: str | None) -> str:
    """The configured browser, else a system Chromium/Chrome."""
    if configured:
        if not os.access(configured, os.X_OK):
            raise BrowserNotFoundError(f"BROWSERFLEET_CHROMIUM_PATH={configured} is not executable")
        return configured
    for name in SYSTEM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserNotFoundError(
        "no Chromium found for browser sessions: install one (Debian/Ubuntu: `apt-get install -y chromium`) "
        "or set BROWSERFLEET_CHROMIUM_PATH"
    )


def session_root(base: str | None, browser_id: str) -> Path:
    root = Path(tempfile.mkdtemp(prefix=f"bf-browser-{browser_id[:8]}-", dir=base))
    for sub in ("profile", "home", "downloads", "uploads"):
        (root / sub).mkdir(mode=0o700)
    prefs = {
        "download": {"default_directory": str(root / "downloads"), "prompt_for_download": False},
        "savefile": {"default_directory": str(root / "downloads")},
    }
    (root / "profile" / "Default").mkdir(mode=0o700)
    (root / "profile" / "Default" / "Preferences").write_text(json.dumps(prefs))
    return root


async def launch_standalone(
    browser_id: str,
    proxy_url: str,
    *,
    executable: str | None = None,
    headless: bool = True,
    window: tuple[int, int] = (1280, 800),
    ignore_cert_errors: bool = False,
    base_dir: str | None = None,
) -> StandaloneBrowser:
    """Launch the session's Chromium; raises :class:`BrowserNotFoundError` or ``RuntimeError``."""
    binary = chromium_executable(executable)
    root = await asyncio.to_thread(session_root, base_dir, browser_id)
    blocker = sandbox_blocker(os.geteuid(), user_namespaces_allowed(), _setuid_helper(binary))
    args = [
        *CHROMIUM_ARGS,
        *disabled_features(),
        *(["--headless"] if headless else []),
        f"--user-data-dir={root / 'profile'}",
        f"--proxy-server={proxy_url}",
        "--proxy-bypass-list=<-loopback>",
        "--remote-debugging-pipe",
        "--remote-debugging-port=0",
        "--remote-debugging-address=127.0.0.1",
        f"--window-size={window[0]},{window[1]}",
        *(["--ignore-certificate-errors"] if ignore_cert_errors else []),
        *([NO_SANDBOX] if blocker else []),
        "about:blank",
    ]
    if blocker:
        log.info("browser session %s runs with %s: %s", browser_id, NO_SANDBOX, blocker)
    try:
        return await _start(binary, args, root)
    except BaseException:
        await asyncio.to_thread(shutil.rmtree, root, True)
        raise


async def _start(binary: str, args: list[str], root: Path) -> StandaloneBrowser:
    # Chromium reads CDP from fd 3 and writes to fd 4 with --remote-debugging-pipe; a tiny
    # trampoline moves our pipe ends there (a shell cannot name fds above 9). We keep the other
    # ends: they close when this process dies, and Chromium exits with it.
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    env = {
        **os.environ,
        "HOME": str(root / "home"),
        "XDG_CONFIG_HOME": str(root / "home" / ".config"),
        "XDG_CACHE_HOME": str(root / "home" / ".cache"),
        "XDG_DOWNLOAD_DIR": str(root / "downloads"),
    }
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _TRAMPOLINE,
            str(to_child_r),
            str(from_child_w),
            binary,
            *args,
            pass_fds=(to_child_r, from_child_w),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    finally:
        os.close(to_child_r)
        os.close(from_child_w)
    pipe = (to_child_w, from_child_r)
    browser = None
    try:
        port, path = await asyncio.wait_for(_devtools_address(root, process), START_TIMEOUT_S)
        browser = StandaloneBrowser(process, port, path, root, pipe)
        asyncio.get_running_loop().create_task(_drain(process))
        return browser
    finally:
        if browser is None:
            for fd in pipe:
                os.close(fd)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _devtools_address(root: Path, process: asyncio.subprocess.Process) -> tuple[int, str]:
    marker = root / "profile" / "DevToolsActivePort"
    while True:
        if process.returncode is not None:
            err = (await process.stderr.read()).decode(errors="replace")[-1500:] if process.stderr else ""
            raise RuntimeError(f"Chromium exited at start (code {process.returncode}): {err}")
        with contextlib.suppress(OSError, ValueError):
            lines = marker.read_text().split()
            if len(lines) == 2:
                return int(lines[0]), lines[1]
        await asyncio.sleep(0.02)


async def _drain(process: asyncio.subprocess.Process) -> None:
    """Read Chromium's stderr so it never blocks on a full pipe (its lines are noise)."""
    if process.stderr is None:
        return
    with contextlib.suppress(Exception):
        while await process.stderr.readline():
            pass
