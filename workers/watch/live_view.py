"""The live view of a running task: screencast frames to Redis pub/sub, for the HTTP API's viewers.

No worker port is exposed: frames go worker -> Redis (``PUBLISH``) -> API -> browser.
The worker casts only while a viewer's heartbeat is unexpired; it learns of heartbeats from
the task's control signals and its step replies (``workers.process.lease.Run.watched``), so an
unwatched task costs no Redis command for its live view; counts of frames sent, withheld and dropped go to
:func:`shared.keys.live_stats`, so "no viewer, no frames" is checkable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from shared import live_events
from shared.live_frames import LiveFrames
from shared.settings import Settings
from workers.browser.tabs import BrowserTabs
from workers.secrets.vault import SecretVault
from workers.watch.screencast import CastLimits, Screencast


class FrameSink:
    """Publishes one task's frames and counts them (off the event loop: the store is sync)."""

    def __init__(self, frames: LiveFrames, task_id: str) -> None:
        self.frames = frames
        self.task_id = task_id

    async def frame(self, data_b64: str, size: int) -> None:
        message = live_events.frame(data_b64, time.time())  # "at": lag for viewers
        await asyncio.to_thread(self.frames.frame, self.task_id, message, size)

    async def withheld(self) -> None:
        await asyncio.to_thread(self.frames.withheld, self.task_id)

    async def dropped(self) -> None:
        await asyncio.to_thread(self.frames.dropped, self.task_id)


def limits(settings: Settings) -> CastLimits:
    return CastLimits(
        fps=settings.live_fps,
        max_bytes_per_s=settings.live_max_bytes_per_s,
        quality=settings.live_jpeg_quality,
        max_width=settings.live_max_width,
        max_height=settings.live_max_height,
        poll_s=settings.live_poll_s,
    )


@asynccontextmanager
async def live_view(
    viewers: Callable[[], Awaitable[int]], frames: LiveFrames, task_id: str, tabs: BrowserTabs,
    vault: SecretVault, settings: Settings,
) -> AsyncIterator[Screencast]:
    """Cast the current tab of ``tabs`` while the block runs and ``viewers()`` is positive."""
    cast = Screencast(tabs, vault, FrameSink(frames, task_id), viewers, limits(settings))
    runner = asyncio.get_running_loop().create_task(cast.run())
    try:
        yield cast
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        if cast.counters.sent:  # the last frame must not outlive the task
            with contextlib.suppress(Exception):
                await asyncio.to_thread(frames.ended, task_id)
