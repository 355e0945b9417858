"""A small pool of Chromium processes per worker process; each task gets its own context.

Contexts are cheap (~28 ms, ~70 MB) and isolated (cookies, storage), browsers are
not (~150-250 MB): so many concurrent tasks share a few browsers. A browser is
recycled after ``tasks_per_browser`` contexts (memory creep) and replaced when it
disconnects (crash); a context on a crashed browser fails only its own task.

Opening the first page of a context costs ~120-170 ms idle and ~0.5 s when 16 tasks start
at once, the largest part of a task's start. So the pool keeps ``spares`` contexts (init
scripts added, one blank page open) and refills them in the background, one at a time,
while tasks wait on their model: slots freed together (a batch, tasks stepping in lockstep)
each find one ready. Contexts made with different options (viewport, proxy) are not
interchangeable, so each shape gets its share of the spares by what recent tasks asked
for (at least one for the latest), and a shape nobody asks for any more is closed.

Nothing here waits unbounded (issue 22: a task whose browser was killed while its context
opened stayed ``started`` for good): handing out a context (a launch, a spare, a new context
and its page) is bounded by ``setup_timeout_s`` (:class:`BrowserSetupError`, and the browser
it waited on is retired: a frozen browser is not handed out again), closing one by
``CLOSE_S``. A browser that does not close within ``CLOSE_S`` is frozen: its process is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from workers.browser.launcher import browser_processes, launch_chromium, process_alive

log = logging.getLogger(__name__)
SPARE_WAIT_S = 5.0  # how long a task waits for an in-flight spare before opening its own
SPARE_OPEN_S = 30.0  # a spare that takes longer is abandoned
CLOSE_S = 10.0  # closing a context or a browser; longer: the browser is frozen


class BrowserSetupError(RuntimeError):
    """No context could be opened for a task in time, or its browser died while it opened: an
    infrastructure fault (the task is retried on a fresh browser)."""


@dataclass
class _Slot:
    browser: Browser
    pid: int | None = None  # the browser's main process (killed if it will not close)
    served: int = 0
    active: int = 0
    retiring: bool = False
    suspect: bool = False  # frozen or stuck: not even its spares are handed out

    @property
    def alive(self) -> bool:
        """Connected, and its process not dead (Playwright learns of a killed browser a moment late)."""
        return self.browser.is_connected() and (self.pid is None or process_alive(self.pid))

    @property
    def usable(self) -> bool:
        return self.alive and not self.retiring


@dataclass
class _Spare:
    key: str
    slot: _Slot
    context: BrowserContext


class BrowserPool:
    """Hands out fresh browser contexts over at most ``size`` browsers."""

    def __init__(
        self,
        size: int = 1,
        tasks_per_browser: int = 50,
        executable: str | None = None,
        headless: bool = True,
        init_scripts: tuple[str, ...] = (),
        spares: int = 0,
        warm_up: Callable[[Page], Awaitable[object]] | None = None,
        setup_timeout_s: float = 30.0,
    ) -> None:
        self.size = max(1, size)
        self.tasks_per_browser = max(1, tasks_per_browser)
        self.executable = executable
        self.headless = headless
        self.init_scripts = init_scripts
        self.spares = max(0, spares)
        self.warm_up = warm_up  # run once on a spare's page, so its first real use is fast
        self.setup_timeout_s = setup_timeout_s
        self._playwright: Playwright | None = None
        self._slots: list[_Slot] = []
        self._spares: list[_Spare] = []
        self._refilling: dict[str, asyncio.Task[None]] = {}
        self._awaited: set[str] = set()  # keys whose in-flight spare a task is already waiting for
        self._recent: deque[str | None] = deque(maxlen=max(8, 4 * self.spares))  # what tasks asked for
        self.discarded = 0  # spares closed unused (a shape fewer tasks ask for now; monotonic)
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()  # distrusted browsers being probed and emptied
        self.recycles = 0  # browsers closed after their quota (monotonic, for metrics)
        self.crashes = 0  # browsers found disconnected

    async def _driver(self) -> Playwright:
        if self._playwright is None:
            self._playwright = await async_playwright().start()
        return self._playwright

    async def _acquire(self) -> _Slot:
        async with self._lock:
            lost = [s for s in self._slots if not s.alive]
            self.crashes += sum(1 for s in lost if not s.retiring)
            for slot in lost:
                slot.retiring = True  # counted once; dropped once no task uses it
            self._slots = [s for s in self._slots if s.alive or s.active]
            usable = [s for s in self._slots if s.usable]
            if len(usable) < self.size:
                playwright = await self._driver()
                before = browser_processes(os.getpid())
                browser = await launch_chromium(playwright, self.executable, self.headless)
                launched = browser_processes(os.getpid()) - before  # launches are serial (the lock)
                slot = _Slot(browser, pid=launched.pop() if len(launched) == 1 else None)
                self._slots.append(slot)
                log.info("browser launched (pid pool size %d)", len(self._slots))
            else:
                slot = min(usable, key=lambda s: s.active)
            slot.served += 1
            slot.active += 1
            if slot.served >= self.tasks_per_browser:
                slot.retiring = True
            return slot

    async def _release(self, slot: _Slot) -> None:
        slot.active -= 1
        if slot.retiring and slot.active == 0:
            self._slots = [s for s in self._slots if s is not slot]
            self.recycles += slot.browser.is_connected()
            if not await _quietly(slot.browser.close()) and slot.pid is not None:
                _kill(slot.pid)  # frozen (it did not close): no Chromium may outlive its use
            log.info("browser recycled after %d contexts", slot.served)

    async def _open(self, options: dict[str, Any]) -> tuple[_Slot, BrowserContext]:
        """A new context with the init scripts and one blank page, on the least busy browser."""
        slot = await self._acquire()
        try:
            context = await slot.browser.new_context(**options)
            for script in self.init_scripts:
                await context.add_init_script(script=script)
            await context.new_page()
        except BaseException:  # cancelled too: the slot must not stay counted as busy
            self._distrust(slot)
            await self._release(slot)
            raise
        return slot, context

    async def _take_spare(self, key: str | None) -> _Spare | None:
        for spare in list(self._spares):
            if spare.key != key:
                continue
            self._spares.remove(spare)
            if spare.slot.alive and not spare.slot.suspect:
                return spare  # a retiring browser's spare already counts in its quota
            await _quietly(spare.context.close())
            await self._release(spare.slot)
        return None

    def _target(self, key: str) -> int:
        """Spares to keep for ``key``: its share of recent tasks (at least one for the latest)."""
        if not self._recent:
            return 0
        share = round(self.spares * self._recent.count(key) / len(self._recent))
        return max(share, 1) if key == self._recent[-1] else share

    def _refill(self, key: str | None, options: dict[str, Any]) -> None:
        if key is None or not self.spares or key in self._refilling:
            return
        if sum(1 for s in self._spares if s.key == key) >= self._target(key):
            return

        async def refill() -> None:
            try:
                slot, context = await asyncio.wait_for(self._open(options), SPARE_OPEN_S)
                if self.warm_up is not None:
                    await asyncio.wait_for(self.warm_up(context.pages[0]), SPARE_OPEN_S)
                self._spares.append(_Spare(key, slot, context))
                await self._trim()
            except Exception as exc:  # a spare is an optimisation: the next task opens its own
                log.warning("could not prepare a spare browser context: %s", exc)
                return
            finally:
                self._refilling.pop(key, None)
            self._refill(key, options)  # one at a time, until this shape has its share

        self._refilling[key] = asyncio.get_running_loop().create_task(refill())

    async def _trim(self) -> None:
        """Close spares beyond ``spares`` in all, oldest first of the shapes over their share."""
        while len(self._spares) > self.spares or any(
            self._target(s.key) == 0 for s in self._spares
        ):
            counts = Counter(s.key for s in self._spares)
            over = [s for s in self._spares if counts[s.key] > self._target(s.key)]
            victim = (over or self._spares)[0]
            self._spares.remove(victim)
            self.discarded += 1
            await _quietly(victim.context.close())
            await self._release(victim.slot)

    @asynccontextmanager
    async def context(self, **options: Any) -> AsyncIterator[BrowserContext]:
        """A fresh, isolated context with one blank page; closed (browser maybe recycled) on exit.

        Raises :class:`BrowserSetupError` when none could be had within ``setup_timeout_s`` or
        the browser died meanwhile."""
        key = _key(options)
        self._recent.append(key)
        try:
            async with asyncio.timeout(self.setup_timeout_s):
                slot, context = await self._hand_out(key, options)
        except TimeoutError as exc:
            raise BrowserSetupError(f"no browser context within {self.setup_timeout_s:g}s") from exc
        except PlaywrightError as exc:
            raise BrowserSetupError(f"the browser failed while opening a context: "
                                    f"{exc.message.splitlines()[0]}") from exc
        self._refill(key, options)
        try:
            yield context
        except asyncio.CancelledError:  # ended from outside (the watchdog, the task budget): what held
            self._distrust(slot)  # the run up may be its browser, so no new task is given to it
            raise
        finally:
            if not await _quietly(context.close()) and slot.browser.is_connected():
                log.warning("a browser context did not close within %gs: browser retired", CLOSE_S)
                self._distrust(slot)  # frozen or starved: no new task on it; killed if it does not answer
            await self._release(slot)

    def distrust(self, context: BrowserContext) -> None:
        """The run using ``context`` is stuck (the watchdog): its browser gets no new task."""
        for slot in self._slots:
            if slot.browser is context.browser:
                log.warning("a run on this browser made no progress: browser retired")
                self._distrust(slot)

    def _distrust(self, slot: _Slot) -> None:
        """No new context on ``slot``'s browser, nor its spares: it may be frozen. In the
        background its spares are closed, and it is asked one CDP round trip: a browser that does
        not answer within ``CLOSE_S`` is killed (which also frees whatever still waits on it)."""
        if slot.suspect:
            return
        slot.retiring = slot.suspect = True
        doomed = [s for s in self._spares if s.slot is slot]
        self._spares = [s for s in self._spares if s.slot is not slot]

        async def settle() -> None:
            if slot.pid is not None and slot.alive and not await _answers(slot.browser):
                _kill(slot.pid)
            for spare in doomed:
                await _quietly(spare.context.close())
                await self._release(spare.slot)

        task = asyncio.get_running_loop().create_task(settle())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _hand_out(self, key: str | None, options: dict[str, Any]) -> tuple[_Slot, BrowserContext]:
        spare = await self._take_spare(key)
        if spare is None and key is not None and key in self._refilling and key not in self._awaited:
            # A spare is being made for exactly these options: it started earlier than a
            # fresh context would, so waiting for it is the faster way to a ready page. Only
            # for one task: it is one context, and tasks queued behind it (16 starting at
            # once) took ~1.3 s each to get a page, most of it this wait before their own.
            self._awaited.add(key)
            try:
                with contextlib.suppress(TimeoutError):  # a stuck refill must not hold the task
                    await asyncio.wait_for(asyncio.shield(self._refilling[key]), SPARE_WAIT_S)
            finally:
                self._awaited.discard(key)
            spare = await self._take_spare(key)
        return (spare.slot, spare.context) if spare else await self._open(options)

    def stats(self) -> dict[str, int]:
        """Gauges and counters for metrics (read from another thread: approximate is fine)."""
        slots = list(self._slots)
        return {
            "browsers": sum(1 for s in slots if s.browser.is_connected()),
            "contexts_in_use": sum(s.active for s in slots) - len(self._spares),
            "spare_contexts": len(self._spares),
            "spares_discarded": self.discarded,
            "recycles": self.recycles,
            "crashes": self.crashes,
        }

    async def close(self) -> None:
        """Close every browser and the Playwright driver."""
        spares, self._spares = self._spares, []
        for spare in spares:
            await _quietly(spare.context.close())
        slots, self._slots = self._slots, []
        for slot in slots:
            await _quietly(slot.browser.close())
        if self._playwright is not None:
            await _quietly(self._playwright.stop())
            self._playwright = None


def _key(options: dict[str, Any]) -> str | None:
    """Contexts made with equal options are interchangeable; ``None``: never share."""
    if options.get("storage_state"):
        return None
    try:
        return json.dumps(options, sort_keys=True)
    except TypeError:
        return None


async def _quietly(awaitable: Any) -> bool:
    """Close something within ``CLOSE_S``; False when it did not answer in time."""
    try:
        await asyncio.wait_for(awaitable, timeout=CLOSE_S)
    except TimeoutError:
        return False
    except Exception as exc:  # closing something already gone is fine
        log.debug("ignored while closing: %s", exc)
    return True


async def _answers(browser: Browser) -> bool:
    """Whether ``browser`` answers one CDP round trip within ``CLOSE_S`` (errors: it is gone)."""

    async def ask() -> None:
        session = await browser.new_browser_cdp_session()
        await session.send("Browser.getVersion")
        await session.detach()

    try:
        await asyncio.wait_for(ask(), CLOSE_S)
    except TimeoutError:
        return False
    except Exception as exc:  # disconnected meanwhile: nothing to kill
        log.debug("browser probe: %s", exc)
    return True


def _kill(pid: int) -> None:
    if not process_alive(pid):
        return
    log.warning("browser process %d did not answer within %gs: killed", pid, CLOSE_S)
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGKILL)
