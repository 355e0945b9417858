"""One asyncio event loop per worker process, in a daemon thread.

Celery's thread pool runs several tasks at once in one process; each submits its coroutine
here, so every task of the process shares one loop (never ``asyncio.run()`` per task: it
breaks loop-bound clients such as Playwright's and litellm's). The loop starts lazily,
after fork, on first use. The judge worker uses it bare; agent workers put the browser
pool on it (``workers.browser.runtime``).

Blocking store calls (stop checks, step records, live frames) leave the loop through its
default executor, sized here for the process's concurrency: asyncio's own default (CPU
count + 4, six threads on two cores) made 32 tasks' calls queue behind each other.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from shared.settings import get_settings
from workers.process.per_process import PerProcess

T = TypeVar("T")


class EventLoopThread:
    """A running event loop in a daemon thread; ``run`` blocks the caller for a result."""

    def __init__(self, io_threads: int = 16) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop.set_default_executor(ThreadPoolExecutor(io_threads, thread_name_prefix="browserfleet-io"))
        self._thread = threading.Thread(target=self._serve, name="browserfleet-loop", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and block the calling (Celery) thread for its result."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


def io_threads_for(concurrency: int) -> int:
    """Default-executor threads for ``concurrency`` tasks: two calls in flight per task."""
    return max(16, 2 * concurrency)


_loop: PerProcess[EventLoopThread] = PerProcess(
    lambda: EventLoopThread(io_threads_for(get_settings().concurrency)), alive=lambda loop: loop.alive
)


def get_loop() -> EventLoopThread:
    """This process's loop (a forked child gets its own, and so does a caller after ``stop``)."""
    return _loop.get()
