"""The watchdog: a run that makes no progress, or outlives its budget, is ended from outside.

Every await on a run's path is bounded (browser setup, actions, screenshots, steps, the task
budget), yet a bound can be missed: a Playwright call that waits for a browser event that
never comes, a coroutine that swallows its cancellation, a loop blocked by a hostile input.
Before this watchdog such a run stayed ``started`` for good while its worker renewed its
lease (issue 22). Now every run beats a :class:`Progress` as it goes (each phase of its set-up,
each model call, each action and step), and one thread per worker process checks them:

- **no progress** for ``stall_s`` (time inside a model call does not count: the call has its
  own timeout, and a model slow to answer is not a stuck browser) ends the run as ``stalled``:
  the caller retries it on a fresh browser (or fails it past the delivery limit);
- **over its budget** (the task budget plus a grace for the run's own teardown) ends it as
  ``overrun``: failed with the budget's reason, as the in-coroutine budget would have.

Ending a run cancels its future (``concurrent.futures``): the Celery thread waiting on it is
freed at once, whatever the coroutine does, and the coroutine is cancelled on its loop. A run
that ignores the cancellation is harmless: the caller hands its lease back under a new epoch
first, so every later write or action of the old run is fenced out (:mod:`workers.process.lease`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

STALLED = "stalled"
OVERRUN = "overrun"


@dataclass
class Progress:
    """A run's last sign of life (monotonic) and what it was doing then; thread-safe enough:
    one writer (the run's coroutine), one reader (the watchdog), plain attribute stores."""

    doing: str = "starting"
    last: float = field(default_factory=time.monotonic)
    calls: int = 0  # bounded calls in flight (a model call, an encoding): never a stall
    # Called (from the watchdog's thread) before a stalled run is ended: distrusts its browser,
    # so the retry, enqueued right after, is not handed the browser that held this run up.
    on_stall: Callable[[], object] | None = None

    def beat(self, doing: str | None = None) -> None:
        self.last = time.monotonic()
        if doing is not None:
            self.doing = doing

    @contextmanager
    def busy(self, doing: str | None = None) -> Iterator[None]:
        """Time inside a call with a bound of its own is progress: a model call (its timeout; a
        slow model is not a stuck browser), a recording's encoding (the task budget)."""
        self.calls += 1
        self.beat(doing)
        try:
            yield
        finally:
            self.calls -= 1
            self.beat()

    def model_call(self) -> AbstractContextManager[None]:
        return self.busy()

    def idle_s(self, now: float) -> float:
        """Seconds without progress (zero while a bounded call is in flight)."""
        return 0.0 if self.calls > 0 else now - self.last


@dataclass
class Watch:
    """One watched run: its progress, its future, when its budget runs out, and (once the
    watchdog ended it) why."""

    task_id: str
    progress: Progress
    future: Future[Any]
    deadline: float  # monotonic
    verdict: str | None = None  # STALLED or OVERRUN once ended by the watchdog
    reason: str = ""


class Watchdog:
    """Checks every watched run each ``interval_s`` and ends the stalled and the overrun."""

    def __init__(self, stall_s: float, interval_s: float | None = None) -> None:
        self.stall_s = stall_s
        self.interval_s = interval_s if interval_s is not None else max(0.2, min(5.0, stall_s / 4))
        self._watches: dict[int, Watch] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def watch(self, task_id: str, progress: Progress, future: Future[Any], budget_s: float) -> Watch:
        watch = Watch(task_id, progress, future, time.monotonic() + budget_s)
        with self._lock:
            self._watches[id(watch)] = watch
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="run-watchdog", daemon=True)
                self._thread.start()
        return watch

    def unwatch(self, watch: Watch) -> None:
        with self._lock:
            self._watches.pop(id(watch), None)

    def check(self, now: float | None = None) -> list[Watch]:
        """One round: end the runs that stalled or overran; returns them."""
        now = time.monotonic() if now is None else now
        with self._lock:
            watches = list(self._watches.values())
        ended = []
        for watch in watches:
            verdict, reason = self._judge(watch, now)
            if verdict is None or watch.verdict is not None:
                continue
            watch.verdict, watch.reason = verdict, reason
            hook = watch.progress.on_stall
            if hook is not None and not watch.future.done():
                try:
                    hook()
                except Exception:  # the run is ended all the same
                    log.exception("task %s: its browser could not be distrusted", watch.task_id)
            if watch.future.cancel():  # False: it finished meanwhile, and its own outcome stands
                log.warning("task %s %s; its run is ended", watch.task_id, reason)
                ended.append(watch)
            else:
                watch.verdict, watch.reason = None, ""
        return ended

    def _judge(self, watch: Watch, now: float) -> tuple[str | None, str]:
        if now > watch.deadline:
            return OVERRUN, "outlived its task budget (the run did not end itself)"
        idle = watch.progress.idle_s(now)
        if idle > self.stall_s:
            return STALLED, f"made no progress for {idle:.0f}s while {watch.progress.doing}"
        return None, ""

    def _serve(self) -> None:
        while True:
            time.sleep(self.interval_s)
            try:
                self.check()
            except Exception:  # the watchdog must outlive any one round
                log.exception("watchdog round failed")
