"""Session recordings (``enableRecording``): the context's pages, as one WebM file.

Chromium's screencast (CDP ``Page.startScreencast``) sends a JPEG whenever a page
repaints; each is encoded by :class:`workers.watch.video.WebmEncoder`. (Playwright's
own video recording needs a Playwright-built FFmpeg that Debian's Chromium setup
lacks.) Frames are processed one at a time and acknowledged afterwards, so Chromium
never runs ahead of the encoder, and at most ``max_fps`` frames a second are kept.

Masking follows the screenshot rule (:mod:`workers.secrets.exposure`): before a frame
is kept, the page's visible text and field values are checked against the task's
secrets. The check runs after the paint, so a frame is withheld when that check or the
one before it finds a secret (the secret may have left the DOM in between), and when
the page navigated after the frame was painted (the check then read another document
than the frame shows: a page with a secret visited briefly under load would slip
through). The video holds the last clean frame instead; at the end, the last page is
shot once more (checked before and after) so a static page is not lost to the rules.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

from workers.secrets.exposure import page_shows_secret
from workers.secrets.vault import SecretVault
from workers.watch.video import CONTENT_TYPE, WebmEncoder

log = logging.getLogger(__name__)

FILE_NAME = "recording.webm"
FINAL_SHOT_MS = 5000
MAX_SIDE = 1280  # frames are scaled down to fit this box (aspect kept): file size and encode time


@dataclass
class Recording:
    """A finished recording and how it was made."""

    data: bytes
    frames: int
    withheld: int
    truncated: bool
    file_name: str = FILE_NAME
    content_type: str = CONTENT_TYPE


@dataclass
class _Frame:
    page: Page
    cdp: CDPSession
    data: str
    ack: int
    painted_at: float  # Chromium's timestamp of the paint (epoch seconds)


class Recorder:
    """Records every page of one browser context from :meth:`start` until :meth:`finish`."""

    def __init__(self, vault: SecretVault, max_bytes: int, max_fps: float = 5.0, quality: int = 60) -> None:
        self.vault = vault
        self.quality = quality
        self.min_gap_s = 1.0 / max_fps if max_fps > 0 else 0.0
        self.withheld = 0
        self._encoder = WebmEncoder(max_bytes)
        self._frames: asyncio.Queue[_Frame | None] = asyncio.Queue()
        self._sessions: list[CDPSession] = []
        self._consumer: asyncio.Task[None] | None = None
        self._context: BrowserContext | None = None
        self._exposed = False
        self._last_kept = -1e9  # time.monotonic() of the last frame encoded
        self._last_page: Page | None = None
        self._attaching: set[asyncio.Future[None]] = set()
        self._navigated: dict[Page, float] = {}  # page -> time.time() its last navigation was seen

    async def start(self, context: BrowserContext) -> None:
        """Record the context's open pages and every page it opens from now on."""
        self._context = context
        self._consumer = asyncio.create_task(self._consume())
        context.on("page", self._on_page)
        context.on("close", self._abandon)  # the task died with its browser: no finish() comes
        for page in context.pages:
            await self._attach(page)

    async def finish(self) -> Recording | None:
        """Stop recording; the file (None when no frame could be kept)."""
        if self._context is not None:
            self._context.remove_listener("page", self._on_page)
            self._context.remove_listener("close", self._abandon)
        if self._attaching:
            await asyncio.gather(*self._attaching, return_exceptions=True)
        for cdp in self._sessions:
            with contextlib.suppress(PlaywrightError):
                await cdp.send("Page.stopScreencast")
                await cdp.detach()
        await self._frames.put(None)
        if self._consumer is not None:  # (cancelled if the context closed first)
            await asyncio.gather(self._consumer, return_exceptions=True)
        await self._final_frame()
        encoder = self._encoder
        data = await asyncio.to_thread(encoder.finish, time.time())
        if data is None:
            return None
        return Recording(data, encoder.frames, self.withheld, encoder.full)

    def _stale(self, frame: _Frame) -> bool:
        """Did the page navigate since the frame was painted? Then the check read another
        document than the frame shows (a secret page left behind under load, say)."""
        return bool(self.vault) and self._navigated.get(frame.page, 0.0) >= frame.painted_at

    async def _final_frame(self) -> None:
        """The last page as it looks now: a static page sends no frame after one the rules
        withheld or the rate cap dropped. Kept only if the page shows no secret before and after."""
        page = self._last_page
        if page is None or page.is_closed() or self._encoder.full:
            return
        try:
            if await page_shows_secret(page, self.vault):
                return
            shot = await page.screenshot(type="jpeg", quality=self.quality, timeout=FINAL_SHOT_MS)
            if await page_shows_secret(page, self.vault):
                return
        except PlaywrightError as exc:
            log.debug("recording: no final frame: %s", exc.message)
            return
        await asyncio.to_thread(self._encoder.add, shot, time.time())

    def _abandon(self, _: object = None) -> None:
        if self._consumer is not None and not self._consumer.done():
            self._consumer.cancel()

    def _on_page(self, page: Page) -> None:
        task = asyncio.ensure_future(self._attach(page))
        self._attaching.add(task)
        task.add_done_callback(self._attaching.discard)

    async def _attach(self, page: Page) -> None:
        assert self._context is not None
        page.on("framenavigated", lambda _: self._navigated.__setitem__(page, time.time()))
        try:
            cdp = await self._context.new_cdp_session(page)
            cdp.on("Page.screencastFrame", lambda event: self._on_frame(page, cdp, event))
            viewport = page.viewport_size or {"width": 1280, "height": 720}
            await cdp.send("Page.startScreencast", {
                "format": "jpeg", "quality": self.quality,
                "maxWidth": min(viewport["width"], MAX_SIDE), "maxHeight": min(viewport["height"], MAX_SIDE),
            })
        except PlaywrightError as exc:  # the page closed meanwhile
            log.debug("recording: page not attached: %s", exc.message)
            return
        self._sessions.append(cdp)

    def _on_frame(self, page: Page, cdp: CDPSession, event: dict[str, Any]) -> None:
        painted = float(event.get("metadata", {}).get("timestamp") or time.time())
        self._frames.put_nowait(_Frame(page, cdp, event["data"], event["sessionId"], painted))

    async def _consume(self) -> None:
        while (frame := await self._frames.get()) is not None:
            try:
                await self._keep(frame)
            finally:
                with contextlib.suppress(PlaywrightError):
                    await frame.cdp.send("Page.screencastFrameAck", {"sessionId": frame.ack})

    async def _keep(self, frame: _Frame) -> None:
        """Encode the frame unless it may show a secret; first wait out the rate cap (the frame
        is not yet acknowledged, so Chromium holds newer ones meanwhile and drops what it skips)."""
        self._last_page = frame.page
        if self._encoder.full:
            return
        wait = self._last_kept + self.min_gap_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        exposed_before, self._exposed = self._exposed, await page_shows_secret(frame.page, self.vault)
        if exposed_before or self._exposed or self._stale(frame):
            self.withheld += 1
            return
        self._last_kept = time.monotonic()
        if not await asyncio.to_thread(self._encoder.add, base64.b64decode(frame.data), time.time()):
            log.info("recording: size limit reached; the rest of the session is not recorded")
