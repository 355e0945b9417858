"""Task status events, written by the same Lua scripts that change a task's status.

Every status change of a task goes through a script (creation in :mod:`shared.task_queue`,
every later change in :mod:`shared.task_store`), and each of those scripts calls
``status_changed`` from :data:`STATUS_EVENT` in the same step. So no path can change a
status without:

- keeping the account's active/queued sets exact (the per-key quotas count them), and
- when the record asks for webhooks (``webhook`` true, decided by the producer at creation),
  appending the event to the task's webhook outbox and marking the task due for delivery
  (``keys.WEBHOOKS_DUE``), atomically with the change: a process that dies right after the
  change loses no event. :mod:`shared.webhook_store` delivers from there.

An outbox entry is a JSON array of the record's raw (JSON-encoded) fields, decoded by
:func:`shared.webhook_store.decode_event`: task id, sequence number (per task, from 1),
event time ("seconds.micros", Redis's clock), status, then the record's ``session_id``,
``metadata``, ``account``, ``is_success``, ``cost`` and ``error`` as stored.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared import keys
from shared.lua import ACCOUNT_TASKS, Lua

# status_changed(key, tid, status, ttl): call after the record's new status is written.
# ``status`` is the raw status ('created', 'started', ...); ``ttl`` the outbox's expiry.
STATUS_EVENT = Lua("""
local function status_changed(key, tid, status, ttl)
  local f = redis.call('HMGET', key, 'webhook', 'account', 'session_id', 'metadata', 'is_success',
                       'cost', 'error')
  if f[2] and f[2] ~= 'null' then
    local acct = cjson.decode(f[2])
    if status ~= 'created' then redis.call('ZREM', account_tasks(acct, 'queued'), tid) end
    if status ~= 'created' and status ~= 'started' then
      redis.call('ZREM', account_tasks(acct, 'active'), tid)
    end
  end
  if f[1] ~= 'true' then return end
  local seq = redis.call('HINCRBY', key, 'webhook_seq', 1)
  local now = redis.call('TIME')
  local event = cjson.encode({tid, seq, now[1] .. '.' .. string.format('%06d', tonumber(now[2])), status,
                              f[3] or 'null', f[4] or 'null', f[2] or 'null', f[5] or 'null',
                              f[6] or 'null', f[7] or 'null'})
  redis.call('RPUSH', '@OUTBOX@' .. tid, event)
  redis.call('EXPIRE', '@OUTBOX@' .. tid, ttl)
  redis.call('ZADD', '@DUE@', 'NX', now[1], tid)
end
""".replace("@OUTBOX@", keys.WEBHOOK_OUTBOX).replace("@DUE@", keys.WEBHOOKS_DUE), needs=(ACCOUNT_TASKS,))


# -- reading them back: outbox entries as Browser Use Cloud webhook events ----------------

STATUS_UPDATE = "agent.task.status_update"
TEST = "test"
# Browser Use Cloud's status literal (the official SDK's verify function parses only these);
# the task's own status rides along in ``task_status`` (extra fields are tolerated).
CLOUD_STATUS = {"created": "initializing", "started": "started", "finished": "finished",
                "stopped": "stopped", "failed": "stopped"}
_IDS = uuid.UUID("6f0e4b8e-7c1a-4f0b-9a57-1c2d3e4f5a6b")  # namespace of delivery ids


@dataclass(frozen=True)
class Event:
    """One event to deliver: its body (what is signed and sent) and what the delivery log shows."""

    raw: str  # the outbox entry as stored (acknowledged by value)
    delivery_id: str  # the same for every attempt: receivers deduplicate on it
    account: str | None
    at: float  # when it happened (epoch seconds)
    body: dict[str, Any]
    task_id: str | None = None
    status: str | None = None  # the task's own status (None: a test event)

    @property
    def type(self) -> str:
        return str(self.body["type"])


def _iso(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).isoformat()


def test_entry(account: str | None) -> tuple[str, str]:
    """A ``test`` event for ``account``'s webhook: (delivery id, outbox entry)."""
    delivery_id = str(uuid.uuid4())
    return delivery_id, json.dumps({"test": delivery_id, "at": time.time(), "account": account})


def decode_event(raw: str) -> Event:
    """An outbox entry (a status change from :data:`STATUS_EVENT`, or a test) as an event."""
    data = json.loads(raw)
    if isinstance(data, dict):
        at = float(data["at"])
        body = {"type": TEST, "timestamp": _iso(at), "payload": {"test": "ok"}}
        return Event(raw, str(data["test"]), data.get("account"), at, body)
    tid, seq, at_text, status, sid, meta, account, success, cost, error = data
    at = float(at_text)
    payload: dict[str, Any] = {
        "task_id": tid,
        "session_id": json.loads(sid),
        "status": CLOUD_STATUS.get(status, "stopped"),
        "metadata": json.loads(meta) or {},
        "task_status": status,
    }
    if status in ("finished", "failed", "stopped"):
        payload["is_success"] = json.loads(success)
        payload["cost"] = json.loads(cost)
        payload["error"] = json.loads(error)
    body = {"type": STATUS_UPDATE, "timestamp": _iso(at), "payload": payload}
    delivery_id = str(uuid.uuid5(_IDS, f"{tid}:{seq}"))
    return Event(raw, delivery_id, json.loads(account), at, body, tid, status)
