"""Live frames, the worker's side: publish a task's screencast frames and count them.

Frames go worker -> Redis ``PUBLISH`` on the task's live channel (:func:`shared.keys.live_frames`)
-> the API process's :class:`shared.live_feed.LiveFeed` -> the viewers' browsers. The last frame
is kept a few seconds so a new viewer sees the page at once; counts go to
:func:`shared.keys.live_stats`, so "no viewer, no frames" is checkable.
"""

from __future__ import annotations

import redis

from shared import keys, live_events

LAST_FRAME_TTL_S = 30  # a new viewer sees the last frame at once, if it is this recent


class LiveFrames:
    """The worker's side: publish a task's frames (``PUBLISH``) and count them."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def frame(self, task_id: str, message: str, size: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.publish(keys.live_frames(task_id), message)
        pipe.set(keys.live_last_frame(task_id), message, ex=LAST_FRAME_TTL_S)
        pipe.hincrby(keys.live_stats(task_id), "sent", 1)
        pipe.hincrby(keys.live_stats(task_id), "bytes", size)
        pipe.execute()

    def withheld(self, task_id: str) -> None:
        """A frame was not sent (a secret on screen): viewers blank, a new one must not see the page."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.publish(keys.live_frames(task_id), live_events.sealed())
        pipe.delete(keys.live_last_frame(task_id))
        pipe.hincrby(keys.live_stats(task_id), "withheld", 1)
        pipe.execute()

    def dropped(self, task_id: str) -> None:
        self._redis.hincrby(keys.live_stats(task_id), "dropped", 1)

    def ended(self, task_id: str) -> None:
        self._redis.delete(keys.live_last_frame(task_id))
