"""The agent worker's runtime: the process's event loop (``workers.loop``) and the browser
pool that lives on it, so every task of the process shares one Playwright driver and a few
browsers (docs/design.md: one loop per process, contexts over a small pool).
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from shared.settings import Settings, get_settings
from workers import metrics
from workers.browser.dom import INIT_SCRIPT, capture_page
from workers.browser.pool import BrowserPool
from workers.loop import get_loop

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """The process's event loop thread and the browser pool that lives on it."""

    def __init__(self, settings: Settings) -> None:
        self._loop = get_loop()
        self.loop = self._loop.loop
        self.pool = BrowserPool(
            size=settings.browsers_per_worker,
            tasks_per_browser=settings.tasks_per_browser,
            executable=settings.chromium_path,
            headless=settings.headless,
            init_scripts=(INIT_SCRIPT,),
            spares=settings.spares,
            warm_up=capture_page,
        )
        metrics.watch_pool(self.pool)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block the calling (Celery) thread for its result."""
        return self._loop.run(coro, timeout)

    def shutdown(self) -> None:
        """Close browsers and stop the loop (worker shutdown, tests)."""
        if not self.loop.is_running():
            return
        try:
            self.run(self.pool.close(), timeout=20)
        except Exception as exc:
            log.warning("pool close failed: %s", exc)
        self._loop.stop()


_runtime: Runtime | None = None
_pid: int | None = None
_lock = threading.Lock()


def get_runtime() -> Runtime:
    """The runtime of this process (a forked child gets its own)."""
    global _runtime, _pid
    with _lock:
        if _runtime is None or _pid != os.getpid():
            _runtime = Runtime(get_settings())
            _pid = os.getpid()
            atexit.register(_runtime.shutdown)
        return _runtime


def shutdown_runtime() -> None:
    global _runtime
    with _lock:
        if _runtime is not None and _pid == os.getpid():
            _runtime.shutdown()
        _runtime = None
