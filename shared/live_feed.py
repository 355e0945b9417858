"""Live feed, the API process's side: what its viewers are pushed, on its event loop.

One :class:`LiveFeed` holds one pub/sub connection for every task the process watches (and
the control channel), and makes the few reads its live hub needs per process, not per
viewer. The worker publishes (:mod:`shared.live_frames`, the task store's scripts); message
formats: :mod:`shared.live_events`; tokens: :mod:`shared.live_links`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis.asyncio

from shared import control, keys
from shared.live_links import Grant
from shared.models import TaskStepView


class LiveFeed:
    """The API process's side, on its event loop: one pub/sub connection for every watched task
    (and the control channel), and the few reads its live hub makes per process, not per viewer.

    Message formats: :mod:`shared.live_events`.
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._pubsub: Any = client.pubsub(ignore_subscribe_messages=True)

    # -- pub/sub --------------------------------------------------------------
    @staticmethod
    def task_channel(task_id: str) -> str:
        return keys.live_frames(task_id)

    @staticmethod
    def task_of(channel: str) -> str:
        """The task id of a task channel's name."""
        return channel.removeprefix(keys.task("")).removesuffix(keys.live_frames("")[len(keys.task("")):])

    CONTROL = keys.LIVE_CONTROL

    async def subscribe(self, *channels: str) -> None:
        await self._pubsub.subscribe(*channels)

    async def unsubscribe(self, *channels: str) -> None:
        await self._pubsub.unsubscribe(*channels)

    async def next_message(self, timeout_s: float) -> tuple[str, str] | None:
        """The next message of any subscribed channel as (channel, data); ``None`` after
        ``timeout_s`` (or while nothing is subscribed)."""
        if not self._pubsub.subscribed:
            await asyncio.sleep(timeout_s)
            return None
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
        if message and message.get("type") == "message":
            return str(message["channel"]), str(message["data"])
        return None

    # -- reads ----------------------------------------------------------------
    async def grants(self, tokens: list[str]) -> list[Grant | None]:
        """What each token grants now (``None``: revoked or expired), in one round trip."""
        if not tokens:
            return []
        return [Grant.parse(raw) for raw in await self._redis.mget([keys.live_grant(t) for t in tokens])]

    async def progress(self, task_ids: list[str]) -> dict[str, tuple[str | None, int]]:
        """Each task's status (``None``: no record) and step count, in one round trip."""
        pipe = self._redis.pipeline(transaction=False)
        for task_id in task_ids:
            pipe.hget(keys.task(task_id), "status")
            pipe.llen(keys.steps(task_id))
        raw = await pipe.execute()
        return {
            task_id: (json.loads(raw[2 * i]) if raw[2 * i] else None, int(raw[2 * i + 1]))
            for i, task_id in enumerate(task_ids)
        }

    async def steps(self, task_id: str, start: int) -> list[dict[str, Any]]:
        """The task's steps from ``start`` on, as wire dicts."""
        raw = await self._redis.lrange(keys.steps(task_id), start, -1)
        return [TaskStepView.model_validate_json(s).wire() for s in raw]

    async def last_frame(self, task_id: str) -> str | None:
        raw = await self._redis.get(keys.live_last_frame(task_id))
        return str(raw) if raw else None

    async def has_screenshot(self, task_id: str, number: int) -> bool:
        return bool(await self._redis.hexists(keys.step_screenshots(task_id), str(number)))

    async def beat(self, viewers: dict[str, list[str]], ttl_s: float) -> None:
        """Renew the heartbeats of every viewer of every watched task, in one round trip."""
        if not viewers:
            return
        now = time.time()
        pipe = self._redis.pipeline(transaction=False)
        for task_id, ids in viewers.items():
            key = keys.live_viewers(task_id)
            if ids:
                pipe.zadd(key, dict.fromkeys(ids, now + ttl_s))
                control.publish(pipe, task_id, control.watch_signal(now + ttl_s))  # the worker casts
            pipe.zremrangebyscore(key, "-inf", now)
            pipe.expire(key, max(1, int(ttl_s * 4)))
        await pipe.execute()

    async def leave(self, task_id: str, viewer: str) -> None:
        await self._redis.zrem(keys.live_viewers(task_id), viewer)

    async def close(self) -> None:
        """Give back this feed's pub/sub connection (the client is the process's: it stays)."""
        await self._pubsub.aclose()
