"""A browser session's recording (``enableRecording`` on ``POST /browsers``): its screencast as WebM.

Frames come from the session's screencast (:class:`workers.watch.session_cast.PageCast`, which
casts while recording even with no viewer), at most ``max_fps`` a second, and are encoded off
the event loop, one at a time, up to ``max_bytes`` (then the file is full and the session goes
on). The file is kept with the session and offered as its ``recordingUrl`` once it ended.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time

from workers.watch.video import WebmEncoder

log = logging.getLogger(__name__)


class PageRecording:
    def __init__(self, max_bytes: int, max_fps: float) -> None:
        self.max_fps = max(0.1, max_fps)
        self._encoder = WebmEncoder(max_bytes)
        self._lock = asyncio.Lock()
        self._start = time.monotonic()
        self._last = -1e9
        self.full = False

    def wants(self) -> bool:
        """Whether the next frame would be kept (the rate limit; the file not full)."""
        return not self.full and time.monotonic() - self._last >= 1.0 / self.max_fps

    async def add(self, data_b64: str) -> None:
        self._last = time.monotonic()
        jpeg, at = base64.b64decode(data_b64), self._last - self._start
        async with self._lock:
            self.full = not await asyncio.to_thread(self._encoder.add, jpeg, at)

    async def finish(self) -> bytes | None:
        async with self._lock:
            return await asyncio.to_thread(self._encoder.finish, time.monotonic() - self._start)
