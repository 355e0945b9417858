"""One asyncio event loop per worker process, in a daemon thread, owning Playwright.

Celery's thread pool runs several tasks at once in one process; each submits its
coroutine here, so every task of the process shares one loop, one Playwright
driver and one browser pool (DESIGN.md §2: never ``asyncio.run()`` per task).
The loop starts lazily, after fork, on first use.
"""

from __future__ import annotations

import asyncio
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

log = logging.getLogger(__name__)
T = TypeVar("T")


class Runtime:
    """The process's event loop thread and the browser pool that lives on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.pool = BrowserPool(
            size=settings.browsers_per_worker,
            tasks_per_browser=settings.tasks_per_browser,
            executable=settings.chromium_path,
            headless=settings.headless,
            init_scripts=(INIT_SCRIPT,),
            spares=settings.spare_contexts,
            warm_up=capture_page,
        )
        metrics.watch_pool(self.pool)
        self._thread = threading.Thread(target=self._serve, name="browserfleet-loop", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block the calling (Celery) thread for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def shutdown(self) -> None:
        """Close browsers and stop the loop (worker shutdown, tests)."""
        if not self.loop.is_running():
            return
        try:
            self.run(self.pool.close(), timeout=20)
        except Exception as exc:
            log.warning("pool close failed: %s", exc)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


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
