"""Live-view links, public shares and the viewer registry, all in Redis.

A live link is ``/live/{token}``: the token is random (256 bits) and the URL itself is
the credential, like a presigned download URL, so a browser can open it with no API key.
What a token grants is stored under :func:`shared.keys.live_grant`:

- ``task``: that one task (its ``liveUrl``);
- ``session``: the tasks of that session (its ``liveUrl``);
- ``share``: the same, read-only, until it expires or is revoked (``publicShareUrl``).

Viewers register a heartbeat in a zset per task; the worker running the task counts
the unexpired entries (one ``ZCOUNT``) to decide whether to screencast at all.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
import redis.asyncio

from shared import control, keys
from shared.redis_client import connect_async

PATH = "/live"


@dataclass(frozen=True)
class Grant:
    """What a token lets its holder watch."""

    kind: str  # "task" | "session" | "share"
    id: str  # the task id or the session id


@dataclass(frozen=True)
class Share:
    """A session's public share (the v2 ``ShareView``)."""

    token: str
    session_id: str
    expires_at: float
    view_count: int = 0
    last_viewed_at: float | None = None

    @property
    def last_viewed(self) -> datetime | None:
        return datetime.fromtimestamp(self.last_viewed_at, UTC) if self.last_viewed_at else None


def live_url(base: str, token: str) -> str:
    return f"{base.rstrip('/')}{PATH}/{token}"


class LiveLinks:
    """Tokens, shares and viewer heartbeats over one Redis client (decoded strings)."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = max(1, ttl_s)

    # -- liveUrl tokens ---------------------------------------------------------
    def task_token(self, task_id: str) -> str:
        """The task's live token, created on first use (stable afterwards)."""
        return self._token(keys.live_token_of_task(task_id), Grant("task", task_id))

    def session_token(self, session_id: str) -> str:
        return self._token(keys.live_token_of_session(session_id), Grant("session", session_id))

    def _token(self, where: str, grant: Grant) -> str:
        existing = self._redis.get(where)
        if existing:
            return str(existing)
        token = secrets.token_urlsafe(32)
        pipe = self._redis.pipeline()
        pipe.set(keys.live_grant(token), json.dumps({"kind": grant.kind, "id": grant.id}), ex=self.ttl_s)
        pipe.set(where, token, nx=True, ex=self.ttl_s)
        _, won = pipe.execute()
        if not won:  # another request created one first: use it, drop ours
            self._redis.delete(keys.live_grant(token))
            return str(self._redis.get(where))
        return token

    def resolve(self, token: str) -> Grant | None:
        """The grant of a token; ``None`` for an unknown, expired or revoked one."""
        if not token or len(token) > 100:
            return None
        raw = self._redis.get(keys.live_grant(token))
        if not raw:
            return None
        data = json.loads(str(raw))
        return Grant(str(data["kind"]), str(data["id"]))

    # -- public shares ----------------------------------------------------------
    def create_share(self, session_id: str, ttl_s: int) -> Share:
        """The session's share: the existing one while valid, else a new token."""
        current = self.get_share(session_id)
        if current is not None:
            return current
        token = secrets.token_urlsafe(32)
        expires = time.time() + max(1, ttl_s)
        pipe = self._redis.pipeline()
        pipe.set(keys.live_grant(token), json.dumps({"kind": "share", "id": session_id}), ex=max(1, ttl_s))
        pipe.hset(keys.public_share(session_id), mapping={"token": token, "expires_at": repr(expires),
                                                          "view_count": 0})
        pipe.expire(keys.public_share(session_id), max(1, ttl_s))
        pipe.execute()
        return Share(token, session_id, expires)

    def get_share(self, session_id: str) -> Share | None:
        raw = self._redis.hgetall(keys.public_share(session_id))
        if not raw or float(raw.get("expires_at", 0)) <= time.time():
            return None
        last = raw.get("last_viewed_at")
        return Share(
            token=str(raw["token"]),
            session_id=session_id,
            expires_at=float(raw["expires_at"]),
            view_count=int(raw.get("view_count", 0)),
            last_viewed_at=float(last) if last else None,
        )

    def delete_share(self, session_id: str) -> bool:
        """Revoke the share: its token stops working at once (open viewers close on their next beat)."""
        token = self._redis.hget(keys.public_share(session_id), "token")
        self._redis.delete(keys.public_share(session_id), *([keys.live_grant(str(token))] if token else []))
        return bool(token)

    def count_view(self, session_id: str) -> None:
        pipe = self._redis.pipeline()
        pipe.hincrby(keys.public_share(session_id), "view_count", 1)
        pipe.hset(keys.public_share(session_id), "last_viewed_at", repr(time.time()))
        pipe.execute()

    def revoke_all(self, task_id: str | None = None, session_id: str | None = None) -> None:
        """Forget the tokens of a deleted task or session."""
        where = [keys.live_token_of_task(task_id)] if task_id else []
        where += [keys.live_token_of_session(session_id)] if session_id else []
        for key in where:
            token = self._redis.get(key)
            if token:
                self._redis.delete(keys.live_grant(str(token)), key)
        if session_id:
            self.delete_share(session_id)

    # -- viewers ----------------------------------------------------------------
    def beat(self, task_id: str, viewer: str, ttl_s: float) -> None:
        """Register (or renew) one viewer of a task for ``ttl_s`` seconds."""
        key = keys.live_viewers(task_id)
        now = time.time()
        pipe = self._redis.pipeline()
        pipe.zadd(key, {viewer: now + ttl_s})
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.expire(key, max(1, int(ttl_s * 4)))
        control.publish(pipe, task_id, control.watch_signal(now + ttl_s))  # the worker casts at once
        pipe.execute()

    def leave(self, task_id: str, viewer: str) -> None:
        self._redis.zrem(keys.live_viewers(task_id), viewer)

    def viewers(self, task_id: str) -> int:
        """Viewers with an unexpired heartbeat (what the worker polls)."""
        return int(self._redis.zcount(keys.live_viewers(task_id), time.time(), "+inf"))

    def stats(self, task_id: str) -> dict[str, int]:
        raw = self._redis.hgetall(keys.live_stats(task_id))
        return {name: int(raw.get(name, 0)) for name in ("sent", "withheld", "dropped", "bytes")}


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
        pipe.publish(keys.live_frames(task_id), json.dumps({"type": "sealed"}))
        pipe.delete(keys.live_last_frame(task_id))
        pipe.hincrby(keys.live_stats(task_id), "withheld", 1)
        pipe.execute()

    def dropped(self, task_id: str) -> None:
        self._redis.hincrby(keys.live_stats(task_id), "dropped", 1)

    def ended(self, task_id: str) -> None:
        self._redis.delete(keys.live_last_frame(task_id))


class LiveFeed:
    """The viewer's side, on the API's event loop: one task's frames as they are published."""

    def __init__(self, url: str) -> None:
        self._redis: redis.asyncio.Redis = connect_async(url)
        self._pubsub: Any = None

    async def watch(self, task_id: str) -> None:
        """Receive ``task_id``'s frames from now on (and no other task's)."""
        await self._unwatch()
        self._pubsub = self._redis.pubsub()
        await self._pubsub.subscribe(keys.live_frames(task_id))

    async def next_frame(self, timeout_s: float) -> str | None:
        """The next published message of the watched task, or ``None`` after ``timeout_s``."""
        message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout_s)
        if message and message.get("type") == "message":
            return str(message["data"])
        return None

    async def last_frame(self, task_id: str) -> str | None:
        raw = await self._redis.get(keys.live_last_frame(task_id))
        return str(raw) if raw else None

    async def has_screenshot(self, task_id: str, number: int) -> bool:
        return bool(await self._redis.hexists(keys.step_screenshots(task_id), str(number)))

    async def _unwatch(self) -> None:
        if self._pubsub is not None:
            pubsub, self._pubsub = self._pubsub, None
            await pubsub.aclose()

    async def close(self) -> None:
        try:
            await self._unwatch()
        finally:
            await self._redis.aclose()
