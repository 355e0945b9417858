"""Profile records in Redis: a browser storage state that outlives sessions.

A profile belongs to the API key that created it (like a session). A session created
with a profile starts from the profile's storage state (cookies, localStorage); every
task of that session that ends writes its context's state back to the profile. That
write is one Lua script (the record's ``state_version`` goes up by one, the state and
the record change together), so two sessions of one profile ending at once leave one
of the two states whole: last writer wins, and the version says how many writes there
were. The state is a credential: it rests encrypted (:mod:`shared.crypto`), and only
its cookie domains are kept in the clear, for the profile view.

Profiles have no TTL: they last until deleted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID, uuid4

import redis
from pydantic import BaseModel

from shared import keys
from shared.models import ProfileCreateRequest, ProfileView
from shared.task_store import MAX_OFFSET

# KEYS[1] profile hash, KEYS[2] state key. ARGV: token, now, cookie domains JSON.
_SAVE_STATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local version = redis.call('HINCRBY', KEYS[1], 'state_version', 1)
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[1], 'updated_at', ARGV[2], 'last_used_at', ARGV[2], 'cookie_domains', ARGV[3])
return version
"""

# KEYS[1] profile hash. ARGV: field, value, field, value... Never recreates a deleted profile.
_UPDATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""


# KEYS[1] profile hash, KEYS[2] the index of all profiles, KEYS[3] the owner's index (or '').
# ARGV: created score, id, limit (0: none), then the hash's field/value pairs. Returns the
# owner's profile count before, or -1 when the owner already holds ``limit`` profiles.
_CREATE = """
if KEYS[3] ~= '' then
  local held = redis.call('ZCARD', KEYS[3])
  if tonumber(ARGV[3]) > 0 and held >= tonumber(ARGV[3]) then return -1 end
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[2])
end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
return 0
"""


class ProfileLimitError(RuntimeError):
    """The owner already holds as many profiles as it may."""


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


def cookie_domains(storage_state: dict[str, object]) -> list[str]:
    """The sorted, distinct domains a storage state holds cookies for (leading dot dropped)."""
    cookies = storage_state.get("cookies")
    domains = {
        str(c.get("domain", "")).lstrip(".")
        for c in (cookies if isinstance(cookies, list) else [])
        if isinstance(c, dict)
    }
    return sorted(d for d in domains if d)


class ProfileRecord(BaseModel):
    """A profile as stored: the public view plus its owner and state version."""

    id: UUID
    owner: str | None = None
    name: str | None = None
    user_id: str | None = None
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None = None
    cookie_domains: list[str] = []
    state_version: int = 0

    @classmethod
    def new(cls, request: ProfileCreateRequest, owner: str | None = None) -> ProfileRecord:
        now = datetime.now(UTC)
        return cls(
            id=uuid4(), owner=owner, name=request.name, user_id=request.user_id,
            created_at=now, updated_at=now,
        )

    def view(self) -> ProfileView:
        return ProfileView(
            id=self.id,
            user_id=self.user_id,
            name=self.name,
            last_used_at=self.last_used_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            cookie_domains=self.cookie_domains,
        )

    def fields(self) -> dict[str, str]:
        return {
            "id": str(self.id),
            "owner": self.owner or "",
            "name": json.dumps(self.name),
            "user_id": json.dumps(self.user_id),
            "created_at": repr(self.created_at.timestamp()),
            "updated_at": repr(self.updated_at.timestamp()),
            "last_used_at": repr(self.last_used_at.timestamp()) if self.last_used_at else "",
            "cookie_domains": json.dumps(self.cookie_domains),
            "state_version": str(self.state_version),
        }

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> ProfileRecord:
        return cls(
            id=UUID(raw["id"]),
            owner=raw.get("owner") or None,
            name=json.loads(raw.get("name") or "null"),
            user_id=json.loads(raw.get("user_id") or "null"),
            created_at=_time(raw["created_at"]),
            updated_at=_time(raw["updated_at"]),
            last_used_at=_time(raw.get("last_used_at")),
            cookie_domains=json.loads(raw.get("cookie_domains") or "[]"),
            state_version=int(raw.get("state_version") or 0),
        )


class ProfileStore:
    """Reads and writes profile records and their encrypted states; thread-safe."""

    def __init__(self, client: redis.Redis, max_per_owner: int = 0) -> None:
        self._redis = client
        self.max_per_owner = max_per_owner
        self._save_state = client.register_script(_SAVE_STATE)
        self._update = client.register_script(_UPDATE)
        self._create = client.register_script(_CREATE)
        self._indexed = False

    # -- writes -----------------------------------------------------------
    def create(self, record: ProfileRecord) -> None:
        """Write a new profile and index it; an owner at ``max_per_owner`` gets
        :class:`ProfileLimitError` (checked and written in one step: racing creates cannot pass it)."""
        self._ensure_owner_indexes()
        pid = str(record.id)
        pairs = [item for pair in record.fields().items() for item in pair]
        owner_index = keys.profiles_of(record.owner) if record.owner else ""
        args: list[str | int] = [repr(record.created_at.timestamp()), pid, self.max_per_owner, *pairs]
        if self._create(keys=[keys.profile(pid), keys.PROFILE_INDEX, owner_index], args=args) == -1:
            raise ProfileLimitError(self.max_per_owner)

    def update(self, profile_id: str, changes: dict[str, str | None]) -> bool:
        """Set ``name`` / ``user_id``; False if the profile is gone."""
        args: list[str] = []
        for name, value in changes.items():
            args += [name, json.dumps(value)]
        args += ["updated_at", repr(time.time())]
        return bool(self._update(keys=[keys.profile(profile_id)], args=args))

    def touch(self, profile_id: str) -> None:
        """Mark the profile used now (a session started from it)."""
        self._update(keys=[keys.profile(profile_id)], args=["last_used_at", repr(time.time())])

    def save_state(self, profile_id: str, token: str, domains: list[str]) -> int:
        """Replace the profile's state (encrypted ``token``); the new version, or 0 if it is gone."""
        args = [token, repr(time.time()), json.dumps(domains)]
        keys_ = [keys.profile(profile_id), keys.profile_state(profile_id)]
        return int(self._save_state(keys=keys_, args=args))

    def delete(self, profile_id: str) -> None:
        owner = self._redis.hget(keys.profile(profile_id), "owner")
        pipe = self._redis.pipeline()
        pipe.delete(keys.profile(profile_id), keys.profile_state(profile_id))
        pipe.zrem(keys.PROFILE_INDEX, profile_id)
        if owner:
            pipe.zrem(keys.profiles_of(str(owner)), profile_id)
        pipe.execute()

    # -- reads ------------------------------------------------------------
    def load(self, profile_id: str, owner: str | None = None) -> ProfileRecord | None:
        """The record, or None if unknown or not ``owner``'s (``None`` acts as an administrator)."""
        raw = self._redis.hgetall(keys.profile(profile_id))
        if not raw:
            return None
        record = ProfileRecord.from_fields({str(k): str(v) for k, v in raw.items()})
        return record if owner is None or record.owner == owner else None

    def load_many(self, profile_ids: Iterable[str]) -> list[ProfileRecord]:
        ids = list(profile_ids)
        pipe = self._redis.pipeline()
        for pid in ids:
            pipe.hgetall(keys.profile(pid))
        return [ProfileRecord.from_fields(raw) for raw in pipe.execute() if raw]

    def list_ids(self, owner: str | None = None) -> list[str]:
        """Profile ids (of ``owner``: its own index, never every tenant's), newest first."""
        self._ensure_owner_indexes()
        index = keys.profiles_of(owner) if owner is not None else keys.PROFILE_INDEX
        return [str(i) for i in self._redis.zrevrange(index, 0, -1)]

    def page_ids(self, page_size: int, page_number: int, owner: str | None = None) -> tuple[list[str], int]:
        """One page of profile ids, newest first, and the total: one round trip."""
        self._ensure_owner_indexes()
        index = keys.profiles_of(owner) if owner is not None else keys.PROFILE_INDEX
        start = min(max(page_number - 1, 0) * page_size, MAX_OFFSET)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zcard(index)
        pipe.zrevrange(index, start, start + page_size - 1)
        total, ids = pipe.execute()
        return [str(i) for i in ids], int(total)

    def _ensure_owner_indexes(self) -> None:
        """Profiles written before the per-owner indexes existed join them, once per Redis."""
        if self._indexed or self._redis.exists(keys.PROFILES_INDEXED):
            self._indexed = True
            return
        ids = [str(i) for i in self._redis.zrange(keys.PROFILE_INDEX, 0, -1, withscores=False)]
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            pipe = self._redis.pipeline(transaction=False)
            for pid in chunk:
                pipe.hmget(keys.profile(pid), ["owner", "created_at"])
            found = pipe.execute()
            pipe = self._redis.pipeline(transaction=False)
            for pid, (owner, created) in zip(chunk, found, strict=True):
                if owner and created:
                    pipe.zadd(keys.profiles_of(str(owner)), {pid: float(created)})
            pipe.execute()
        self._redis.set(keys.PROFILES_INDEXED, "1")
        self._indexed = True

    def state_token(self, profile_id: str) -> str | None:
        token = self._redis.get(keys.profile_state(profile_id))
        return str(token) if token else None
