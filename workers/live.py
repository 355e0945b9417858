"""The live view of a running task: screencast frames to Redis pub/sub, for the HTTP API's viewers.

No worker port is exposed: frames go worker -> Redis (``PUBLISH``) -> API -> browser.
The worker casts only while a viewer's heartbeat is unexpired (one ``ZCOUNT`` per
``live_poll_s``); counts of frames sent, withheld and dropped go to
:func:`shared.keys.live_stats`, so "no viewer, no frames" is checkable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis

from shared import keys
from shared.live import LiveLinks
from shared.settings import Settings
from workers.browser.screencast import CastLimits, Screencast
from workers.browser.tabs import BrowserTabs
from workers.policy.secrets import SecretVault

LAST_FRAME_TTL_S = 30


class RedisFrameSink:
    """Publishes frames and counts them, per task."""

    def __init__(self, client: redis.Redis, task_id: str) -> None:
        self.redis = client
        self.task_id = task_id

    async def frame(self, data_b64: str, size: int) -> None:
        message = json.dumps({"type": "frame", "data": data_b64, "at": time.time()})  # "at": lag for viewers
        await asyncio.to_thread(self._frame, message, size)

    def _frame(self, message: str, size: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.publish(keys.live_frames(self.task_id), message)
        pipe.set(keys.live_last_frame(self.task_id), message, ex=LAST_FRAME_TTL_S)
        pipe.hincrby(keys.live_stats(self.task_id), "sent", 1)
        pipe.hincrby(keys.live_stats(self.task_id), "bytes", size)
        pipe.execute()

    async def withheld(self) -> None:
        await asyncio.to_thread(self._withheld)

    def _withheld(self) -> None:
        pipe = self.redis.pipeline(transaction=False)
        pipe.publish(keys.live_frames(self.task_id), json.dumps({"type": "sealed"}))
        pipe.delete(keys.live_last_frame(self.task_id))  # a new viewer must not see the page before it
        pipe.hincrby(keys.live_stats(self.task_id), "withheld", 1)
        pipe.execute()

    async def dropped(self) -> None:
        await asyncio.to_thread(self.redis.hincrby, keys.live_stats(self.task_id), "dropped", 1)


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
    client: redis.Redis, task_id: str, session: BrowserTabs, vault: SecretVault, settings: Settings
) -> AsyncIterator[Screencast]:
    """Cast ``session`` while the block runs and someone watches."""
    links = LiveLinks(client, settings.record_ttl_s)

    async def viewers() -> int:
        return await asyncio.to_thread(links.viewers, task_id)

    cast = Screencast(session, vault, RedisFrameSink(client, task_id), viewers, limits(settings))
    runner = asyncio.get_running_loop().create_task(cast.run())
    try:
        yield cast
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await runner
        with contextlib.suppress(Exception):
            await asyncio.to_thread(client.delete, keys.live_last_frame(task_id))
