"""Browser-session records in Redis (``/browsers``): a Chromium a worker runs for one caller.

The producer writes the record (``active``, with its ``timeout_at`` and ``cdpUrl`` token);
the worker that picks the session up takes its lease, launches the browser and writes
where its CDP relay listens (``relay_url``); stopping is one compare-and-set script, by
the caller (PATCH), the worker (the browser ended) or a reader. Readers settle what can
only be seen from outside: a session past its ``timeout_at``, or one whose worker's lease
lapsed after it started (the worker died with it), reads as stopped, and is stopped.

Values are plain strings (times as epoch seconds), so the scripts can compare them.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import redis
from pydantic import BaseModel

from shared import keys, lua
from shared.browser_models import BrowserSessionItemView, BrowserSessionStatus
from shared.proxies import stored_country_code
from shared.task_store import MAX_OFFSET

WORKER_LOST = "the worker running this browser was lost"
TIMED_OUT = "the session reached its timeout"

# KEYS[1] browser hash. ARGV: now, finished_at, error, index prefix. 1 if it was active.
_STOP = lua.script("""
local s = redis.call('HMGET', KEYS[1], 'status', 'owner', 'created_score')
if s[1] ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'status', 'stopped', 'finished_at', ARGV[2])
if ARGV[3] ~= '' and (redis.call('HGET', KEYS[1], 'error') or '') == '' then
  redis.call('HSET', KEYS[1], 'error', ARGV[3])
end
relisted(ARGV[4], record_id(KEYS[1]), s[3], s[2], 'active', 'stopped')
return 1
""", lua.LISTINGS, lua.RECORD_ID)

# KEYS[1] browser hash. ARGV: relay url, info JSON. Only while active (a stop may have won).
_STARTED = """
if redis.call('HGET', KEYS[1], 'status') ~= 'active' then return 0 end
redis.call('HSET', KEYS[1], 'relay_url', ARGV[1], 'browser_info', ARGV[2])
return 1
"""


def _time(value: str | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), UTC) if value else None


class BrowserRecord(BaseModel):
    """A browser session as stored: the public view plus what the fleet reads."""

    id: UUID
    owner: str | None = None
    status: BrowserSessionStatus = BrowserSessionStatus.active
    started_at: datetime
    timeout_at: datetime
    finished_at: datetime | None = None
    screen_width: int | None = None
    screen_height: int | None = None
    allow_resizing: bool = False
    profile_id: UUID | None = None
    proxy_country_code: str | None = None
    custom_proxy_token: str | None = None  # the customProxy, encrypted (shared.crypto); never shown
    ignore_cert_errors: bool = False
    enable_recording: bool = False
    cdp_token: str = ""
    live_token: str = ""  # the liveUrl's token (read-only view)
    relay_url: str | None = None  # where the worker's CDP relay serves this browser (set once started)
    browser_info: dict[str, Any] = {}
    error: str | None = None
    metadata: dict[str, str] = {}

    @classmethod
    def new(cls, *, owner: str | None, timeout_min: int, **fields: Any) -> BrowserRecord:
        now = datetime.now(UTC)
        return cls(
            id=fields.pop("id", None) or uuid4(),
            owner=owner,
            started_at=now,
            timeout_at=now + timedelta(minutes=timeout_min),
            cdp_token=secrets.token_urlsafe(32),
            live_token=secrets.token_urlsafe(32),
            **fields,
        )

    @property
    def started(self) -> bool:
        """A worker launched the browser (its relay is known)."""
        return bool(self.relay_url)

    def item(self) -> BrowserSessionItemView:
        return BrowserSessionItemView(
            id=self.id,
            status=self.status,
            timeout_at=self.timeout_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
            error=self.error,
            proxy_country_code=self.proxy_country_code,
        )

    def fields(self) -> dict[str, str]:
        return {
            "id": str(self.id),
            "owner": self.owner or "",
            "status": self.status.value,
            "created_score": repr(self.started_at.timestamp()),
            "started_at": repr(self.started_at.timestamp()),
            "timeout_at": repr(self.timeout_at.timestamp()),
            "finished_at": repr(self.finished_at.timestamp()) if self.finished_at else "",
            "screen_width": str(self.screen_width or ""),
            "screen_height": str(self.screen_height or ""),
            "allow_resizing": "1" if self.allow_resizing else "0",
            "profile_id": str(self.profile_id or ""),
            "proxy_country_code": self.proxy_country_code or "",
            "custom_proxy_token": self.custom_proxy_token or "",
            "ignore_cert_errors": "1" if self.ignore_cert_errors else "0",
            "enable_recording": "1" if self.enable_recording else "0",
            "cdp_token": self.cdp_token,
            "live_token": self.live_token,
            "relay_url": self.relay_url or "",
            "browser_info": json.dumps(self.browser_info),
            "error": self.error or "",
            "metadata": json.dumps(self.metadata),
        }

    @classmethod
    def from_fields(cls, raw: dict[str, str]) -> BrowserRecord:
        return cls(
            id=UUID(raw["id"]),
            owner=raw.get("owner") or None,
            status=BrowserSessionStatus(raw["status"]),
            started_at=_time(raw["started_at"]),
            timeout_at=_time(raw["timeout_at"]),
            finished_at=_time(raw.get("finished_at")),
            screen_width=int(raw["screen_width"]) if raw.get("screen_width") else None,
            screen_height=int(raw["screen_height"]) if raw.get("screen_height") else None,
            allow_resizing=raw.get("allow_resizing") == "1",
            profile_id=UUID(raw["profile_id"]) if raw.get("profile_id") else None,
            proxy_country_code=stored_country_code(raw),
            custom_proxy_token=raw.get("custom_proxy_token") or None,
            ignore_cert_errors=raw.get("ignore_cert_errors") == "1",
            enable_recording=raw.get("enable_recording") == "1",
            cdp_token=raw.get("cdp_token", ""),
            live_token=raw.get("live_token", ""),
            relay_url=raw.get("relay_url") or None,
            browser_info=json.loads(raw.get("browser_info") or "{}"),
            error=raw.get("error") or None,
            metadata=json.loads(raw.get("metadata") or "{}"),
        )


class BrowserStore:
    """Browser-session records, their cdpUrl tokens and the files their browsers downloaded."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s
        self._stop = client.register_script(_STOP)
        self._started = client.register_script(_STARTED)

    # -- writes -----------------------------------------------------------
    def create(self, record: BrowserRecord) -> None:
        bid = str(record.id)
        ttl = self.ttl_s + int((record.timeout_at - record.started_at).total_seconds())
        pipe = self._redis.pipeline()
        pipe.hset(keys.browser(bid), mapping=record.fields())  # type: ignore[arg-type]
        pipe.expire(keys.browser(bid), ttl)
        pipe.set(keys.cdp_grant(record.cdp_token), bid, ex=ttl)
        pipe.set(keys.browser_live(record.live_token), bid, ex=ttl)
        score = record.started_at.timestamp()
        for index in keys.listings(keys.BROWSER_INDEX, keys.BROWSERS_BY, record.owner, record.status.value):
            pipe.zadd(index, {bid: score})
        pipe.execute()

    def stop(self, browser_id: str, error: str | None = None, at: float | None = None) -> bool:
        """Stop the session (True if this call stopped it); the worker tears the browser down."""
        args: list[str | float] = [time.time(), repr(at if at is not None else time.time()), error or "",
                                   keys.BROWSERS_BY]
        return bool(self._stop(keys=[keys.browser(browser_id)], args=args))

    def started(self, browser_id: str, relay_url: str, info: dict[str, Any]) -> bool:
        """The worker's browser is up and its relay serves it at ``relay_url`` (False: stopped meanwhile)."""
        return bool(self._started(keys=[keys.browser(browser_id)], args=[relay_url, json.dumps(info)]))

    def delete(self, browser_id: str) -> None:
        """Every key of the session, its cdpUrl token and its index entries."""
        raw = self._redis.hmget(keys.browser(browser_id), ["owner", "status", "cdp_token", "live_token"])
        owner, status, token, live = (str(v) if v else None for v in raw)
        pipe = self._redis.pipeline()
        grants = ([keys.cdp_grant(token)] if token else []) + ([keys.browser_live(live)] if live else [])
        pipe.delete(*keys.browser_keys(browser_id), *grants)
        for st in (status, "active", "stopped"):
            for index in keys.listings(keys.BROWSER_INDEX, keys.BROWSERS_BY, owner, st):
                pipe.zrem(index, browser_id)
        pipe.execute()

    # -- leases -------------------------------------------------------------
    def take_lease(self, browser_id: str, owner: str, ttl_ms: int) -> bool:
        if not self._redis.set(keys.browser_lease(browser_id), owner, nx=True, px=ttl_ms):
            return False
        self._redis.zadd(keys.BROWSERS_RUNNING, {browser_id: time.time()})
        return True

    def renew_lease(self, browser_id: str, owner: str, ttl_ms: int) -> bool:
        key = keys.browser_lease(browser_id)
        if self._redis.get(key) != owner:
            return False
        return bool(self._redis.pexpire(key, ttl_ms))

    def give_back(self, browser_id: str, owner: str) -> None:
        key = keys.browser_lease(browser_id)
        if self._redis.get(key) == owner:
            self._redis.delete(key)
        self._redis.zrem(keys.BROWSERS_RUNNING, browser_id)

    def lease_held(self, browser_id: str) -> bool:
        return bool(self._redis.exists(keys.browser_lease(browser_id)))

    # -- reads ------------------------------------------------------------
    def load(self, browser_id: str, owner: str | None = None) -> BrowserRecord | None:
        """The record (settled: past its timeout, or its worker gone, it reads stopped); ``None``
        when unknown or not ``owner``'s."""
        found = self.load_many([browser_id])
        record = found[0] if found else None
        if record is None or (owner is not None and record.owner != owner):
            return None
        return record

    def load_many(self, browser_ids: Iterable[str]) -> list[BrowserRecord]:
        ids = list(browser_ids)
        pipe = self._redis.pipeline(transaction=False)
        for bid in ids:
            pipe.hgetall(keys.browser(bid))
            pipe.exists(keys.browser_lease(bid))
        raws = pipe.execute()
        records = []
        for bid, raw, leased in zip(ids, raws[::2], raws[1::2], strict=True):
            if not raw:
                continue
            record = BrowserRecord.from_fields(raw)
            if record.status == BrowserSessionStatus.active and self._settle(record, bool(leased)):
                record = BrowserRecord.from_fields(dict(self._redis.hgetall(keys.browser(bid))))  # type: ignore[arg-type]
            records.append(record)
        return records

    def _settle(self, record: BrowserRecord, leased: bool) -> bool:
        now = time.time()
        if now >= record.timeout_at.timestamp():
            return self.stop(str(record.id), TIMED_OUT, record.timeout_at.timestamp())
        if record.started and not leased:
            return self.stop(str(record.id), WORKER_LOST)
        return False

    def state(self, browser_id: str) -> tuple[BrowserSessionStatus | None, float]:
        """The stored status and ``timeout_at`` (what the worker polls; no settling)."""
        status, timeout_at = self._redis.hmget(keys.browser(browser_id), ["status", "timeout_at"])
        return (BrowserSessionStatus(str(status)) if status else None), float(timeout_at or 0)

    def by_token(self, token: str, live: bool = False) -> BrowserRecord | None:
        """The session a cdpUrl token (or, ``live``, a liveUrl token) opens; ``None``: unknown token."""
        if not token or len(token) > 100:
            return None
        bid = self._redis.get(keys.browser_live(token) if live else keys.cdp_grant(token))
        record = self.load(str(bid)) if bid else None
        expected = record.live_token if live and record else record.cdp_token if record else ""
        if record is None or not expected or not secrets.compare_digest(expected, token):
            return None
        return record

    def page_ids(
        self, page_size: int, page_number: int, *, owner: str | None = None, status: str | None = None
    ) -> tuple[list[str], int]:
        index = keys.browsers_by(owner=owner, status=status)
        pipe = self._redis.pipeline(transaction=False)
        pipe.zremrangebyscore(index, "-inf", f"({time.time() - self.ttl_s - 4 * 3600}")
        pipe.zcard(index)
        start = min(max(page_number - 1, 0) * page_size, MAX_OFFSET)
        pipe.zrevrange(index, start, start + page_size - 1)
        _, total, ids = pipe.execute()
        return [str(i) for i in ids], int(total)

    def active_ids(self, owner: str | None = None) -> list[str]:
        return [str(i) for i in self._redis.zrange(keys.browsers_by(owner=owner, status="active"), 0, -1)]

    # -- recording ------------------------------------------------------------
    def keep_recording(self, browser_id: str, video: bytes) -> None:
        self._redis.set(keys.browser_recording(browser_id), base64.b64encode(video).decode(), ex=self.ttl_s)

    def recording(self, browser_id: str) -> bytes | None:
        raw = self._redis.get(keys.browser_recording(browser_id))
        return None if raw is None else base64.b64decode(raw)

    def has_recording(self, browser_id: str) -> bool:
        return bool(self._redis.exists(keys.browser_recording(browser_id)))

    # -- downloads ------------------------------------------------------------
    def add_download(self, browser_id: str, name: str, data: bytes, modified: float) -> None:
        meta = {"path": name, "size": len(data), "lastModified": modified}
        ttl = self.ttl_s
        pipe = self._redis.pipeline()
        pipe.hset(keys.downloads(browser_id), name, json.dumps(meta))
        pipe.hset(keys.download_data(browser_id), name, base64.b64encode(data).decode())
        pipe.expire(keys.downloads(browser_id), ttl)
        pipe.expire(keys.download_data(browser_id), ttl)
        pipe.execute()

    def downloads(self, browser_id: str) -> list[dict[str, Any]]:
        """Every download's metadata, oldest first."""
        metas = [json.loads(v) for v in self._redis.hvals(keys.downloads(browser_id))]
        return sorted(metas, key=lambda m: (m["lastModified"], m["path"]))

    def download(self, browser_id: str, name: str) -> bytes | None:
        raw = self._redis.hget(keys.download_data(browser_id), name)
        return None if raw is None else base64.b64decode(raw)
