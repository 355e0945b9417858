"""Chromium's DevTools screencast of a task's current tab, only while someone watches.

Every ``poll_s`` the caster asks how many viewers the task has (one cheap Redis read,
done by the caller's ``viewers``); with none it casts nothing. While watched it runs
``Page.startScreencast`` (JPEG, scaled down) on the current tab, follows tab switches,
and hands frames to a sink at most ``fps`` times a second and within a byte budget
(the newest frame wins; older ones waiting are skipped).

Frames follow the screenshot rule of :mod:`workers.secrets.exposure`: a frame is
withheld while the page shows a secret, and while an action types one (plus a grace
period, see :meth:`BrowserTabs.sealed`). The page is checked after the frame was painted,
so the recorder's rule applies too (:mod:`workers.watch.task_recording`): a frame is withheld
when that check *or the one before it* finds a secret (the secret may have left the page
between the paint and the check), and when the page navigated after the frame was painted
(the check then read another document than the frame shows).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from playwright.async_api import CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from workers.browser.tabs import BrowserTabs
from workers.secrets.exposure import page_shows_secret
from workers.secrets.vault import SecretVault

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CastLimits:
    fps: float = 4.0
    max_bytes_per_s: int = 400_000
    quality: int = 60
    max_width: int = 1024
    max_height: int = 768
    poll_s: float = 1.0


class FrameSink(Protocol):
    """Where frames go (the worker publishes them to Redis)."""

    async def frame(self, data_b64: str, size: int) -> None: ...

    async def withheld(self) -> None: ...

    async def dropped(self) -> None: ...


@dataclass
class CastCounters:
    received: int = 0
    sent: int = 0
    withheld: int = 0
    dropped: int = 0


class Screencast:
    """Casts ``tabs``'s current tab to ``sink`` while ``viewers()`` is positive."""

    def __init__(
        self,
        tabs: BrowserTabs,
        vault: SecretVault,
        sink: FrameSink,
        viewers: Callable[[], Awaitable[int]],
        limits: CastLimits,
    ) -> None:
        self.tabs = tabs
        self.vault = vault
        self.sink = sink
        self.viewers = viewers
        self.limits = limits
        self.counters = CastCounters()
        self._page: Page | None = None
        self._cdp: CDPSession | None = None
        self._pending: tuple[str, Page, float] | None = None  # data, page, painted at (epoch s)
        self._exposed = False  # the last check found a secret (or could not tell)
        self._refresh_at: float | None = None  # when to shoot the page again (see _refresh)
        self._navigated: dict[Page, float] = {}  # page -> time.time() of its last navigation
        self._wake = asyncio.Event()
        self._allowance = float(limits.max_bytes_per_s)
        self._refilled = time.monotonic()
        self._last_sent = 0.0

    async def run(self) -> None:
        """Poll for viewers and cast while there are some; runs until cancelled."""
        deliver = asyncio.get_running_loop().create_task(self._deliver())
        try:
            while True:
                await self._tick()
                await asyncio.sleep(self.limits.poll_s)
        finally:
            deliver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await deliver
            await asyncio.shield(self._stop())

    async def _tick(self) -> None:
        try:
            watching = await self.viewers() > 0
        except Exception as exc:  # Redis hiccup: better no frames than a failed task
            log.debug("live viewers unknown: %s", exc)
            watching = False
        page = self.tabs.current_page() if watching else None
        if page is None or page.is_closed():
            await self._stop()
        elif page is not self._page:
            await self._stop()
            await self._start(page)

    async def _start(self, page: Page) -> None:
        if page not in self._navigated:
            self._navigated[page] = 0.0
            page.on("framenavigated", lambda _: self._navigated.__setitem__(page, time.time()))
            page.on("close", lambda _: self._forget(page))
        try:
            cdp = await page.context.new_cdp_session(page)
            cdp.on("Page.screencastFrame", lambda params: self._on_frame(cdp, page, params))
            await cdp.send("Page.startScreencast", {
                "format": "jpeg",
                "quality": max(1, min(100, self.limits.quality)),
                "maxWidth": self.limits.max_width,
                "maxHeight": self.limits.max_height,
            })
        except PlaywrightError as exc:  # the tab closed under us: next tick tries again
            log.debug("screencast not started: %s", exc)
            return
        self._page, self._cdp = page, cdp

    def _forget(self, page: Page) -> None:
        self._navigated.pop(page, None)

    async def _stop(self) -> None:
        cdp, self._cdp, self._page, self._pending = self._cdp, None, None, None
        self._refresh_at = None
        if cdp is None:
            return
        with contextlib.suppress(PlaywrightError):
            await cdp.send("Page.stopScreencast")
            await cdp.detach()

    def _on_frame(self, cdp: CDPSession, page: Page, params: dict[str, Any]) -> None:
        """Ack at once (Chromium waits for it), keep only the newest frame for delivery."""
        self.counters.received += 1
        ack = cdp.send("Page.screencastFrameAck", {"sessionId": params.get("sessionId")})
        asyncio.get_running_loop().create_task(_quiet(ack))
        if cdp is not self._cdp:
            return
        if self._pending is not None:
            self.counters.dropped += 1
            asyncio.get_running_loop().create_task(_quiet(self.sink.dropped()))
        painted = float((params.get("metadata") or {}).get("timestamp") or time.time())
        self._pending = (str(params.get("data", "")), page, painted)
        self._wake.set()

    @property
    def _interval(self) -> float:
        return 1.0 / self.limits.fps if self.limits.fps > 0 else 1.0

    async def _deliver(self) -> None:
        """Send the newest pending frame, no faster than ``fps`` and within the byte budget; after
        a frame withheld only by the rule's earlier check, shoot the page again (see :meth:`_refresh`)."""
        while True:
            timeout = None if self._refresh_at is None else max(0.0, self._refresh_at - time.monotonic())
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                refresh = True
            else:
                self._wake.clear()
                refresh = False
            try:
                await (self._refresh() if refresh else self._deliver_one())
            except Exception as exc:  # a Redis or browser hiccup loses a frame, not the live view
                log.warning("live frame not delivered: %s", exc)

    async def _refresh(self) -> None:
        """The page as it is now, when the last frame was withheld although the page no longer
        showed a secret: a static page sends no new frame, and the viewer would keep the
        placeholder. Checked before and after the shot (no navigation between), as the
        recorder's final frame is."""
        self._refresh_at = None
        page, cdp = self._page, self._cdp
        if page is None or cdp is None or page.is_closed() or self._pending is not None:
            return
        started = time.time()
        if await self._secret_on_screen(page):
            self._exposed = True  # still there: its leaving repaints, and that frame is decided then
            return
        limits = self.limits
        size_of = page.viewport_size or {"width": limits.max_width, "height": limits.max_height}
        width, height = size_of["width"], size_of["height"]
        scale = min(1.0, limits.max_width / width, limits.max_height / height)
        shot = await cdp.send("Page.captureScreenshot", {
            "format": "jpeg", "quality": max(1, min(100, limits.quality)),
            "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": scale},
        })
        self._exposed = await self._secret_on_screen(page)
        if self._exposed or self._navigated.get(page, 0.0) >= started or self._pending is not None:
            return
        data = str(shot.get("data", ""))
        size = len(data) * 3 // 4
        if size > self.limits.max_bytes_per_s or self._wait_for_budget(size) > 0:
            self._refresh_at = time.monotonic() + self._interval  # over budget now: later
            return
        self._allowance -= size
        self._last_sent = time.monotonic()
        self.counters.sent += 1
        await self.sink.frame(data, size)

    async def _deliver_one(self) -> None:
        interval = self._interval
        await asyncio.sleep(max(0.0, self._last_sent + interval - time.monotonic()))
        while True:  # until the newest frame fits the byte budget (a newer one may replace it meanwhile)
            pending = self._pending
            if pending is None:
                return
            size = len(pending[0]) * 3 // 4
            if size > self.limits.max_bytes_per_s:  # one frame over the whole budget: never sent
                self._pending = None
                self.counters.dropped += 1
                await self.sink.dropped()
                return
            wait = self._wait_for_budget(size)
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        self._pending = None
        data, page, painted = pending
        self._last_sent = time.monotonic()
        exposed_before, self._exposed = self._exposed, await self._secret_on_screen(page)
        stale = bool(self.vault) and self._navigated.get(page, 0.0) >= painted
        if exposed_before or self._exposed or stale:
            self.counters.withheld += 1
            # Withheld by the earlier check (or a navigation) only: shoot the page again soon.
            self._refresh_at = None if self._exposed else time.monotonic() + interval
            await self.sink.withheld()
            return
        self._refresh_at = None
        self._allowance -= size
        self.counters.sent += 1
        await self.sink.frame(data, size)

    def _wait_for_budget(self, size: int) -> float:
        now = time.monotonic()
        rate = float(self.limits.max_bytes_per_s)
        self._allowance = min(rate, self._allowance + (now - self._refilled) * rate)
        self._refilled = now
        return max(0.0, (size - self._allowance) / rate)

    async def _secret_on_screen(self, page: Page) -> bool:
        if self.tabs.is_sealed:
            return True
        if page.is_closed():
            return True  # nothing to check it against: do not show it
        shows = await page_shows_secret(page, self.vault)
        return shows or self.tabs.is_sealed


async def _quiet(awaitable: Awaitable[Any]) -> None:
    try:
        await awaitable
    except Exception as exc:  # an ack or a counter for a closed tab or a Redis hiccup
        log.debug("live: %s", exc)
