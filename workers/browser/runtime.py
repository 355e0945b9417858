"""The agent worker's runtime: the process's event loop thread
(:mod:`workers.process.event_loop_thread`) and the browser pool that lives on it, so every task
of the process shares one Playwright driver and a few browsers (docs/design.md: one loop per
process, contexts over a small pool). Pages get the init script of :mod:`workers.page.dom`.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from shared.settings import Settings, get_settings
from workers.browser.pool import BrowserPool
from workers.page.dom import INIT_SCRIPT, capture_page
from workers.process import worker_metrics
from workers.process.event_loop_thread import get_loop
from workers.process.per_process import PerProcess

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
            setup_timeout_s=settings.browser_setup_timeout_s,
        )
        worker_metrics.watch_pool(self.pool)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block the calling (Celery) thread for its result."""
        return self._loop.run(coro, timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> Future[T]:
        """Start ``coro`` on the loop; its future can be cancelled from any thread (the watchdog)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def shutdown(self) -> None:
        """Close browsers and stop the loop (worker shutdown, tests)."""
        if not self.loop.is_running():
            return
        try:
            self.run(self.pool.close(), timeout=20)
        except Exception as exc:
            log.warning("pool close failed: %s", exc)
        self._loop.stop()


def _start() -> Runtime:
    runtime = Runtime(get_settings())
    atexit.register(runtime.shutdown)
    return runtime


_runtime: PerProcess[Runtime] = PerProcess(_start)


def get_runtime() -> Runtime:
    """The runtime of this process (a forked child gets its own)."""
    return _runtime.get()


def shutdown_runtime() -> None:
    """Close this process's runtime, if it made one (a forked child never closes its parent's)."""
    runtime = _runtime.forget()
    if runtime is not None:
        runtime.shutdown()
