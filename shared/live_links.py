"""Live-view links, public shares and the viewer registry, all in Redis.

A live link is ``/live/{token}``: the token is random (256 bits) and the URL itself is
the credential, like a presigned download URL, so a browser can open it with no API key.
What a token grants is stored under :func:`shared.keys.live_grant`:

- ``task``: that one task (its ``liveUrl``);
- ``session``: the tasks of that session (its ``liveUrl``);
- ``share``: the same, read-only, until it expires or is revoked (``publicShareUrl``).

Viewers register a heartbeat in a zset per task (and signal the task's run, which casts
only while one is unexpired). The frames themselves: :mod:`shared.live_frames` (the worker
publishes) and :mod:`shared.live_feed` (the API process subscribes).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import redis

from shared import control, keys, live_events

PATH = "/live"


@dataclass(frozen=True)
class Grant:
    """What a token lets its holder watch."""

    kind: str  # "task" | "session" | "share"
    id: str  # the task id or the session id

    @classmethod
    def parse(cls, raw: object) -> Grant | None:
        """The grant stored for a token (``None``: no such token, revoked or expired)."""
        if not raw:
            return None
        data = json.loads(str(raw))
        return cls(str(data["kind"]), str(data["id"]))


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


# The token of a liveUrl, created once, and only while its record exists: one step, so a
# token cannot be made for a task or session being deleted (the delete scripts revoke in one
# step too). KEYS: [1] the record, [2] where the token is kept. ARGV: [1] the grant keys'
# prefix, [2] a new token, [3] its grant (JSON), [4] TTL. Returns the token, or false.
_TOKEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local existing = redis.call('GET', KEYS[2])
if existing and redis.call('EXISTS', ARGV[1] .. existing) == 1 then return existing end
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'EX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[4])
return ARGV[2]
"""

# Revokes the token kept at each of KEYS (a liveUrl's, or a share's hash field ``token``) and
# tells the viewers holding them. ARGV: [1] the grant keys' prefix, [2] control channel.
_REVOKE = """
local ids = {}
for _, key in ipairs(KEYS) do
  local token
  if redis.call('TYPE', key).ok == 'hash' then token = redis.call('HGET', key, 'token')
  else token = redis.call('GET', key) end
  if token then
    redis.call('DEL', ARGV[1] .. token)
    ids[#ids + 1] = redis.sha1hex(token)
  end
  redis.call('DEL', key)
end
if #ids > 0 then redis.call('PUBLISH', ARGV[2], @REVOKED@) end
return #ids
""".replace("@REVOKED@", live_events.LUA_REVOKED)

# A session's share: the existing one while valid, else a new one; only while the session
# exists. KEYS: [1] the session, [2] its share hash. ARGV: [1] grant prefix, [2] new token,
# [3] grant JSON, [4] TTL, [5] expiry (epoch s), [6] now. Returns the share's token, or false.
_SHARE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local current = redis.call('HMGET', KEYS[2], 'token', 'expires_at')
if current[1] and tonumber(current[2] or '0') > tonumber(ARGV[6])
   and redis.call('EXISTS', ARGV[1] .. current[1]) == 1 then
  return current[1]
end
if current[1] then redis.call('DEL', ARGV[1] .. current[1]) end
redis.call('DEL', KEYS[2])
redis.call('SET', ARGV[1] .. ARGV[2], ARGV[3], 'EX', ARGV[4])
redis.call('HSET', KEYS[2], 'token', ARGV[2], 'expires_at', ARGV[5], 'view_count', 0)
redis.call('EXPIRE', KEYS[2], ARGV[4])
return ARGV[2]
"""

_COUNT_VIEW = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'view_count', 1)
redis.call('HSET', KEYS[1], 'last_viewed_at', ARGV[1])
return 1
"""


class LiveLinks:
    """Tokens, shares and viewer heartbeats over one Redis client (decoded strings)."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = max(1, ttl_s)
        self._token_script = client.register_script(_TOKEN)
        self._revoke = client.register_script(_REVOKE)
        self._share = client.register_script(_SHARE)
        self._count_view = client.register_script(_COUNT_VIEW)

    # -- liveUrl tokens ---------------------------------------------------------
    def task_token(self, task_id: str) -> str | None:
        """The task's live token, created on first use (stable until revoked); ``None`` when
        the task does not exist."""
        return self._token(keys.task(task_id), keys.live_token_of_task(task_id), Grant("task", task_id))

    def session_token(self, session_id: str) -> str | None:
        return self._token(keys.session(session_id), keys.live_token_of_session(session_id),
                           Grant("session", session_id))

    def _token(self, record: str, where: str, grant: Grant) -> str | None:
        new = secrets.token_urlsafe(32)
        data = json.dumps({"kind": grant.kind, "id": grant.id})
        token = self._token_script(keys=[record, where], args=[keys.LIVE_GRANT, new, data, self.ttl_s])
        return str(token) if token else None

    def revoke_task_url(self, task_id: str) -> bool:
        """The task's liveUrl stops working at once (open viewers are told); the next read of
        the task makes a new one."""
        return bool(self._revoke(keys=[keys.live_token_of_task(task_id)], args=self._revoke_args))

    def revoke_session_url(self, session_id: str) -> bool:
        return bool(self._revoke(keys=[keys.live_token_of_session(session_id)], args=self._revoke_args))

    @property
    def _revoke_args(self) -> list[str]:
        return [keys.LIVE_GRANT, keys.LIVE_CONTROL]

    def resolve(self, token: str) -> Grant | None:
        """The grant of a token; ``None`` for an unknown, expired or revoked one."""
        if not token or len(token) > 100:
            return None
        return Grant.parse(self._redis.get(keys.live_grant(token)))

    # -- public shares ----------------------------------------------------------
    def create_share(self, session_id: str, ttl_s: int) -> Share | None:
        """The session's share: the existing one while valid, else a new token (``None``: no
        such session)."""
        ttl = max(1, ttl_s)
        now = time.time()
        data = json.dumps({"kind": "share", "id": session_id})
        token_new = secrets.token_urlsafe(32)
        args: list[str | int] = [keys.LIVE_GRANT, token_new, data, ttl, repr(now + ttl), repr(now)]
        token = self._share(keys=[keys.session(session_id), keys.public_share(session_id)], args=args)
        if not token:
            return None
        return self.get_share(session_id) or Share(str(token), session_id, now + ttl)

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
        """Revoke the share: its token stops working at once, and open viewers are told."""
        return bool(self._revoke(keys=[keys.public_share(session_id)], args=self._revoke_args))

    def count_view(self, session_id: str) -> None:
        """One more view of the share (never recreates a share revoked meanwhile)."""
        self._count_view(keys=[keys.public_share(session_id)], args=[repr(time.time())])

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
