"""Session records in Redis: a session groups tasks that share one browser state.

A session runs at most one task at a time. Claiming it for a new task is one Lua
script (unknown? someone else's? stopped? idle too long? busy?), so two racing
creates on one session have exactly one winner. The claimed task's own status is
the truth about "busy": once that task is terminal the session is free again, even
if nobody released it. A claim whose task record never appeared (the producer died
between claim and write) blocks the session for at most ``CLAIM_GRACE_S``.

Values are plain strings (times as epoch seconds) so the scripts can compare them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID, uuid4

import redis
from pydantic import BaseModel

from shared import keys, live_events, lua
from shared.models import (
    CreateSessionRequest,
    SessionItemView,
    SessionStatus,
    SessionView,
    TaskItemView,
)
from shared.proxies import stored_country_code
from shared.task_store import MAX_OFFSET

CLAIM_GRACE_S = 60

# session_stopped(key): an active session was just stopped; it moves to the ``stopped``
# listing indexes (``keys.sessions_by``) in the same step.
_SESSION_STOPPED = lua.Lua("""
local function session_stopped(key)
  local sid = record_id(key)
  local score = redis.call('ZSCORE', '@INDEX@', sid)
  if not score then return end
  relisted('@BY@', sid, score, redis.call('HGET', key, 'owner'), 'active', 'stopped')
end
""".replace("@BY@", keys.SESSIONS_BY).replace("@INDEX@", keys.SESSION_INDEX),
                           needs=(lua.LISTINGS, lua.RECORD_ID))

# Task statuses are stored JSON-encoded by shared.task_store, hence the quotes.
_BUSY = lua.Lua("""
local function busy(running, claimed_at, now, prefix, grace)
  if not running or running == '' then return false end
  local st = redis.call('HGET', prefix .. running, 'status')
  if st == '"created"' or st == '"started"' then return true end
  return (not st) and (now - tonumber(claimed_at or '0') < grace)
end
""")

# Stops an active, not busy session that is over: a keepAlive=false session whose task ended
# (normally its release already did that), or one idle for longer than the timeout.
_SETTLE = lua.Lua("""
local function settle(key, s, now, idle)
  if s[5] == '0' and s[2] and s[2] ~= '' then
    redis.call('HSET', key, 'status', 'stopped', 'finished_at', tostring(now), 'running_task', '')
    session_stopped(key)
    return true
  end
  if idle > 0 and now - tonumber(s[3]) > idle then
    redis.call('HSET', key, 'status', 'stopped', 'finished_at', tostring(tonumber(s[3]) + idle),
               'running_task', '')
    session_stopped(key)
    return true
  end
  return false
end
""", needs=(_SESSION_STOPPED,))
_FIELDS = "'status', 'running_task', 'last_active_at', 'claimed_at', 'keep_alive', 'owner'"

# KEYS[1] session hash. ARGV: task id, task-key prefix, now, idle timeout, ttl, owner ('' = any), grace.
_CLAIM = lua.script(f"""
local s = redis.call('HMGET', KEYS[1], {_FIELDS})
if not s[1] then return 'missing' end
if ARGV[6] ~= '' and s[6] ~= ARGV[6] then return 'missing' end
if s[1] == 'stopped' then return 'stopped' end
local now, idle = tonumber(ARGV[3]), tonumber(ARGV[4])
if busy(s[2], s[4], now, ARGV[2], tonumber(ARGV[7])) then return 'busy' end
if settle(KEYS[1], s, now, idle) then return 'stopped' end
redis.call('HSET', KEYS[1], 'running_task', ARGV[1], 'claimed_at', ARGV[3], 'last_active_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 'ok'
""", _BUSY, _SETTLE)

# KEYS[1] session hash. ARGV: task id, now, mode ('end': the task ended; 'undo': it was never sent).
_RELEASE = lua.script("""
if redis.call('HGET', KEYS[1], 'running_task') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'running_task', '', 'last_active_at', ARGV[2])
if ARGV[3] == 'end' and redis.call('HGET', KEYS[1], 'keep_alive') == '0'
   and redis.call('HGET', KEYS[1], 'status') == 'active' then
  redis.call('HSET', KEYS[1], 'status', 'stopped', 'finished_at', ARGV[2])
  session_stopped(KEYS[1])
  return 2
end
return 1
""", _SESSION_STOPPED)

# KEYS[1] session hash. ARGV: now, idle timeout, task-key prefix, grace.
_EXPIRE = lua.script(f"""
local s = redis.call('HMGET', KEYS[1], {_FIELDS})
if s[1] ~= 'active' then return 0 end
local now = tonumber(ARGV[1])
if busy(s[2], s[4], now, ARGV[3], tonumber(ARGV[4])) then return 0 end
if settle(KEYS[1], s, now, tonumber(ARGV[2])) then return 1 end
return 0
""", _BUSY, _SETTLE)

# KEYS[1] session hash. ARGV: now. Returns the task that was claimed ('' if none), or false if missing.
_STOP = lua.script("""
local s = redis.call('HMGET', KEYS[1], 'status', 'running_task')
if not s[1] then return false end
if s[1] == 'active' then
  redis.call('HSET', KEYS[1], 'status', 'stopped', 'finished_at', ARGV[1])
  session_stopped(KEYS[1])
end
return s[2] or ''
""", _SESSION_STOPPED)


class Claim(StrEnum):
    """What claiming a session for a new task found."""

    ok = "ok"
    missing = "missing"
    stopped = "stopped"
    busy = "busy"


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


class SessionRecord(BaseModel):
    """A session as stored: the public view plus what only the fleet reads."""

    id: UUID
    owner: str | None = None
    status: SessionStatus = SessionStatus.active
    started_at: datetime
    finished_at: datetime | None = None
    last_active_at: datetime
    running_task: str | None = None
    persist_memory: bool = True
    keep_alive: bool = True
    one_off: bool = False
    start_url: str | None = None
    screen_width: int | None = None
    screen_height: int | None = None
    profile_id: UUID | None = None
    enable_recording: bool = False
    proxy_country_code: str | None = None  # its tasks' upstream proxy country (None: none)

    @classmethod
    def new(
        cls,
        request: CreateSessionRequest | None = None,
        *,
        owner: str | None = None,
        one_off: bool = False,
        running_task: str | None = None,
        proxy_country_code: str | None = None,
    ) -> SessionRecord:
        request = request or CreateSessionRequest()
        now = datetime.now(UTC)
        return cls(
            id=uuid4(),
            owner=owner,
            started_at=now,
            last_active_at=now,
            running_task=running_task,
            persist_memory=request.persist_memory,
            keep_alive=request.keep_alive and not one_off,
            one_off=one_off,
            start_url=request.start_url,
            screen_width=request.browser_screen_width,
            screen_height=request.browser_screen_height,
            profile_id=request.profile_id,
            enable_recording=request.enable_recording,
            proxy_country_code=proxy_country_code,
        )

    def item(self) -> SessionItemView:
        return SessionItemView(
            id=self.id,
            status=self.status,
            started_at=self.started_at,
            finished_at=self.finished_at,
            persist_memory=self.persist_memory,
            keep_alive=self.keep_alive,
        )

    def view(self, tasks: list[TaskItemView]) -> SessionView:
        return SessionView(**self.item().model_dump(), tasks=tasks)

    def fields(self) -> dict[str, str]:
        """The Redis hash of this record (plain strings)."""
        return {
            "id": str(self.id),
            "owner": self.owner or "",
            "status": self.status.value,
            "started_at": repr(self.started_at.timestamp()),
            "finished_at": repr(self.finished_at.timestamp()) if self.finished_at else "",
            "last_active_at": repr(self.last_active_at.timestamp()),
            "claimed_at": repr(self.last_active_at.timestamp()),
            "running_task": self.running_task or "",
            "persist_memory": "1" if self.persist_memory else "0",
            "keep_alive": "1" if self.keep_alive else "0",
            "one_off": "1" if self.one_off else "0",
            "start_url": self.start_url or "",
            "screen_width": str(self.screen_width or ""),
            "screen_height": str(self.screen_height or ""),
            "profile_id": str(self.profile_id or ""),
            "enable_recording": "1" if self.enable_recording else "0",
            "proxy_country_code": self.proxy_country_code or "",
        }

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> SessionRecord:
        return cls(
            id=UUID(raw["id"]),
            owner=raw.get("owner") or None,
            status=SessionStatus(raw["status"]),
            started_at=_time(raw["started_at"]),
            finished_at=_time(raw.get("finished_at")),
            last_active_at=_time(raw["last_active_at"]),
            running_task=raw.get("running_task") or None,
            persist_memory=raw.get("persist_memory") == "1",
            keep_alive=raw.get("keep_alive") == "1",
            one_off=raw.get("one_off") == "1",
            start_url=raw.get("start_url") or None,
            screen_width=int(raw["screen_width"]) if raw.get("screen_width") else None,
            screen_height=int(raw["screen_height"]) if raw.get("screen_height") else None,
            profile_id=UUID(raw["profile_id"]) if raw.get("profile_id") else None,
            enable_recording=raw.get("enable_recording") == "1",
            proxy_country_code=stored_country_code(raw),
        )


# KEYS[1] session hash, KEYS[2] state key. ARGV: token, ttl. Never revive a stopped session's state.
_SAVE_STATE = """
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
return 1
"""


# KEYS: ``keys.session_keys`` ([1] the record, [4] its live-token key, [5] its share hash).
# ARGV: [1] session id, [2] the listing indexes' prefix, [3] the index of all sessions,
# [4] the grant keys' prefix, [5] the control channel.
_DELETE = lua.script("""
local sid = ARGV[1]
local s = redis.call('HMGET', KEYS[1], 'owner', 'status')
local ids = {}
for _, token in ipairs({redis.call('GET', KEYS[4]), redis.call('HGET', KEYS[5], 'token')}) do
  if token then
    redis.call('DEL', ARGV[4] .. token)
    ids[#ids + 1] = redis.sha1hex(token)
  end
end
redis.call('DEL', unpack(KEYS))
redis.call('ZREM', ARGV[3], sid)
unlisted(ARGV[2], sid, s[1], s[2])
if #ids > 0 then redis.call('PUBLISH', ARGV[5], @REVOKED@) end
return 1
""".replace("@REVOKED@", live_events.LUA_REVOKED), lua.LISTINGS)


class SessionStore:
    """Reads and writes session records; thread-safe, one per process is enough."""

    def __init__(self, client: redis.Redis, ttl_s: int, idle_timeout_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self.idle_timeout_s = idle_timeout_s
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._expire_script = client.register_script(_EXPIRE)
        self._stop = client.register_script(_STOP)
        self._save_state = client.register_script(_SAVE_STATE)
        self._delete = client.register_script(_DELETE)

    # -- writes -----------------------------------------------------------
    def create(self, record: SessionRecord) -> None:
        sid = str(record.id)
        pipe = self._redis.pipeline()
        pipe.hset(keys.session(sid), mapping=record.fields())  # type: ignore[arg-type]
        pipe.expire(keys.session(sid), self.ttl_s)
        score = record.started_at.timestamp()
        for index in keys.listings(keys.SESSION_INDEX, keys.SESSIONS_BY, record.owner, record.status.value):
            pipe.zadd(index, {sid: score})
        pipe.execute()

    def claim(self, session_id: str, task_id: str, owner: str | None = None) -> Claim:
        """Make ``task_id`` the session's running task, atomically (see the module doc)."""
        args: list[str | float] = [
            task_id, keys.task(""), time.time(), self.idle_timeout_s, self.ttl_s, owner or "", CLAIM_GRACE_S
        ]
        return Claim(self._claim(keys=[keys.session(session_id)], args=args))

    def release(self, session_id: str, task_id: str, *, ended: bool = True) -> None:
        """The task ended (a one-off session stops) or, with ``ended=False``, was never sent."""
        args: list[str | float] = [task_id, time.time(), "end" if ended else "undo"]
        self._release(keys=[keys.session(session_id)], args=args)

    def stop(self, session_id: str) -> str | None:
        """Stop the session and drop its browser state; returns the task it had claimed, if any."""
        running = self._stop(keys=[keys.session(session_id)], args=[time.time()])
        self._redis.delete(keys.session_state(session_id))
        return str(running) if running else None

    def delete(self, session_id: str) -> None:
        """Remove the session's keys and index entries and revoke its liveUrl and public share,
        in one step (a link can neither outlive the session nor be made for it meanwhile)."""
        self._delete(keys=keys.session_keys(session_id), args=[
            session_id, keys.SESSIONS_BY, keys.SESSION_INDEX, keys.LIVE_GRANT, keys.LIVE_CONTROL,
        ])

    def save_state(self, session_id: str, token: str, ttl_s: int) -> bool:
        """Keep the encrypted browser state for the session's next task (not if it stopped meanwhile)."""
        return bool(self._save_state(keys=[keys.session(session_id), keys.session_state(session_id)],
                                     args=[token, ttl_s]))

    def state_token(self, session_id: str) -> str | None:
        """The encrypted browser state its last task left, if any."""
        token = self._redis.get(keys.session_state(session_id))
        return str(token) if token else None

    # -- reads ------------------------------------------------------------
    def load(self, session_id: str, owner: str | None = None) -> SessionRecord | None:
        """The record (idle sessions come back stopped), or None if unknown or not ``owner``'s."""
        records = self.load_many([session_id])
        record = records[0] if records else None
        if record is None or (owner is not None and record.owner != owner):
            return None
        return record

    def load_many(self, session_ids: Iterable[str]) -> list[SessionRecord]:
        ids = list(session_ids)
        pipe = self._redis.pipeline()
        for sid in ids:
            pipe.hgetall(keys.session(sid))
        raws = pipe.execute()
        records, gone = [], []
        for sid, raw in zip(ids, raws, strict=True):
            if not raw:
                gone.append(sid)
                continue
            record = SessionRecord.from_fields(raw)
            if record.status == SessionStatus.active and self._maybe_over(record) and self._expire(sid):
                record = SessionRecord.from_fields(self._fields(sid))
            records.append(record)
        if gone:
            self._redis.zrem(keys.SESSION_INDEX, *gone)
        return records

    def _fields(self, session_id: str) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._redis.hgetall(keys.session(session_id)).items()}

    def page_ids(
        self, page_size: int, page_number: int, *, owner: str | None = None, status: str | None = None
    ) -> tuple[list[str], int]:
        """One page of session ids, newest first, and the total: O(log n + page), one round trip."""
        index = keys.sessions_by(owner=owner, status=status)
        expired = time.time() - self.ttl_s
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(index, "-inf", f"({expired}")
        pipe.zcard(index)
        start = min(max(page_number - 1, 0) * page_size, MAX_OFFSET)  # past the end: an empty page
        pipe.zrevrange(index, start, start + page_size - 1)
        _, total, ids = pipe.execute()
        return [str(i) for i in ids], int(total)

    def active_ids(self, owner: str | None = None) -> list[str]:
        """Every session filed as active (of ``owner``); bounded by the active-session limit."""
        return [str(i) for i in self._redis.zrange(keys.sessions_by(owner=owner, status="active"), 0, -1)]

    def task_ids(self, session_id: str) -> list[str]:
        """The session's task ids, oldest first."""
        return [str(i) for i in self._redis.zrange(keys.session_tasks(session_id), 0, -1)]

    def _maybe_over(self, record: SessionRecord) -> bool:
        """Cheap pre-check for :data:`_EXPIRE` (which re-checks atomically)."""
        if not record.keep_alive and record.running_task:
            return True
        idle = time.time() - record.last_active_at.timestamp()
        return self.idle_timeout_s > 0 and idle > self.idle_timeout_s

    def _expire(self, session_id: str) -> bool:
        args: list[str | float] = [time.time(), self.idle_timeout_s, keys.task(""), CLAIM_GRACE_S]
        stopped = bool(self._expire_script(keys=[keys.session(session_id)], args=args))
        if stopped:
            self._redis.delete(keys.session_state(session_id))
        return stopped
