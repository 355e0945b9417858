"""The screencast of a browser session (its ``liveUrl``), over the worker's own CDP connection.

A browser session has no agent and no Playwright: the caller drives it. While someone
watches (a viewer heartbeat, checked every ``poll_s``), the worker attaches to the
session's first page and runs ``Page.startScreencast`` on it, scaled down, handing frames
to a sink at most ``fps`` a second and within a byte budget (others are dropped and
acknowledged). Nobody watching: nothing is cast. A browser session holds no secrets of
ours, so no frame is sealed (the caller sees its own pages anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from workers.browser.cdp_client import CdpClient, CdpError
from workers.watch.screencast import CastLimits, FrameSink
from workers.watch.session_recording import PageRecording

log = logging.getLogger(__name__)


class PageCast:
    """Casts the session's first page while ``viewers()`` says someone watches."""

    def __init__(
        self,
        control: CdpClient,
        sink: FrameSink,
        viewers: Callable[[], Awaitable[int]],
        limits: CastLimits,
        recording: PageRecording | None = None,
    ) -> None:
        self.control, self.sink, self.viewers, self.limits = control, sink, viewers, limits
        self.recording = recording  # when set, cast even unwatched: every frame may be recorded
        self._watched = False
        self._session: str | None = None
        self._target: str | None = None
        self._window = (0.0, 0)  # start of the current second, bytes sent in it
        self._last = 0.0
        self._pending: set[asyncio.Task[Any]] = set()
        control.on("Page.screencastFrame", self._on_frame)
        control.on("Target.detachedFromTarget", self._on_detached)

    async def run(self) -> None:
        while True:
            try:
                self._watched = await self.viewers() > 0
                if self._watched or self.recording is not None:
                    await self._follow()
                elif self._session is not None:
                    await self._stop()
            except (CdpError, OSError) as exc:  # the page went away: the next round picks another
                log.debug("browser screencast: %s", exc)
                self._session = self._target = None
            await asyncio.sleep(self.limits.poll_s)

    async def _follow(self) -> None:
        """Cast the first page; move to another when it is gone."""
        targets = (await self.control.send("Target.getTargets")).get("targetInfos", [])
        pages = [
            t["targetId"]
            for t in targets
            if t.get("type") == "page" and not str(t.get("url", "")).startswith(("chrome:", "devtools:"))
        ]
        if self._target in pages:
            return
        await self._stop()
        if not pages:
            return
        self._target = pages[0]
        attached = await self.control.send(
            "Target.attachToTarget", {"targetId": self._target, "flatten": True}
        )
        self._session = str(attached["sessionId"])
        limits = self.limits
        await self.control.send(
            "Page.startScreencast",
            {
                "format": "jpeg",
                "quality": limits.quality,
                "maxWidth": limits.max_width,
                "maxHeight": limits.max_height,
            },
            self._session,
        )

    async def _stop(self) -> None:
        session, self._session, self._target = self._session, None, None
        if session is not None:
            with contextlib.suppress(CdpError):
                await self.control.send("Target.detachFromTarget", {"sessionId": session})

    def _on_detached(self, message: dict[str, Any]) -> None:
        if message.get("params", {}).get("sessionId") == self._session:
            self._session = self._target = None

    def _on_frame(self, message: dict[str, Any]) -> None:
        params, session = message.get("params", {}), message.get("sessionId")
        self._spawn(
            self.control.send("Page.screencastFrameAck", {"sessionId": params.get("sessionId")}, session)
        )
        data = str(params.get("data", ""))
        if self.recording is not None and self.recording.wants():
            self._spawn(self.recording.add(data))
        if not self._watched:
            return
        now = time.monotonic()
        start, sent = self._window
        if now - start >= 1.0:
            start, sent = now, 0
        size = len(data) * 3 // 4
        if now - self._last < 1.0 / max(self.limits.fps, 0.1) or sent + size > self.limits.max_bytes_per_s:
            self._spawn(self.sink.dropped())
            self._window = (start, sent)
            return
        self._last, self._window = now, (start, sent + size)
        self._spawn(self.sink.frame(data, size))

    def _spawn(self, awaitable: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(awaitable)
        self._pending.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.debug("browser screencast: %s", task.exception())
