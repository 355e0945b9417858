"""What ``POST /sessions/{id}/purge`` removes beyond ``DELETE /sessions/{id}`` (zero data retention).

Delete removes the session and its tasks' records (steps, screenshots, output files and
recordings, live links and share). Purge runs that delete and then this: the keys a task
leaves outside its record (lease bookkeeping, the Celery results of its run and its judge,
presigned download tokens and live grants that name it), the files uploaded to the session, and the browser
state its tasks wrote back into the profile it started from. Download tokens are found
by a ``SCAN`` of their prefix (they live minutes): purge costs a pass over the keyspace,
which is why it is an explicit call and not part of every delete.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import redis

from shared import keys

SCAN_COUNT = 1000


class Traces:
    """Removes a purged session's traces that its delete leaves."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def purge(self, session_id: str, task_ids: Iterable[str], profile_id: str | None) -> None:
        tasks = list(task_ids)
        pipe = self._redis.pipeline()
        for task_id in tasks:
            pipe.delete(
                *keys.task_keys(task_id),
                keys.reaping(task_id),
                f"celery-task-meta-{task_id}",
                f"celery-task-meta-{task_id}-judge",
            )
            pipe.zrem(keys.RUNNING, task_id)
        pipe.delete(
            *keys.session_keys(session_id),
            keys.uploads("session", session_id),
            keys.upload_data("session", session_id),
        )
        if profile_id:
            pipe.delete(keys.profile_state(profile_id))
        pipe.execute()
        if profile_id and self._redis.exists(keys.profile(profile_id)):
            self._redis.hset(keys.profile(profile_id), "cookie_domains", "[]")
        self._drop_tokens(set(tasks) | {session_id})

    def _drop_tokens(self, ids: set[str]) -> None:
        """Presigned download and upload tokens, and live grants, that name one of ``ids``."""
        for pattern in (keys.download("*"), keys.upload_grant("*"), keys.live_grant("*")):
            for key in self._redis.scan_iter(match=pattern, count=SCAN_COUNT):
                raw = self._redis.get(key)
                try:
                    target = json.loads(str(raw)) if raw else {}
                except ValueError:
                    continue
                if ids & {str(target.get("task_id")), str(target.get("id"))}:
                    self._redis.delete(key)
