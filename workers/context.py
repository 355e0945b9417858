"""The worker process's shared objects: the task store, the lease holder, result views.

One home for what the Celery glue, the execution of a run and the judge all need, so none
of them imports another for it (and the judge worker imports no browser code).
"""

from __future__ import annotations

from typing import Any

from shared.settings import get_settings
from shared.task_store import TaskStore
from workers.lease import Leases

_store: TaskStore | None = None
_leases: Leases | None = None


def store() -> TaskStore:
    """This process's task store (one Redis client, thread-safe)."""
    global _store
    if _store is None:
        settings = get_settings()
        _store = TaskStore.from_url(settings.redis_url, settings.record_ttl_s)
    return _store


def leases() -> Leases:
    """This process's leases on the tasks it runs."""
    global _leases
    if _leases is None:
        _leases = Leases(store().redis, get_settings().lease_ttl_s)
    return _leases


def result_of(task_id: str) -> dict[str, Any]:
    """What the Celery result backend keeps: the status view plus the reason."""
    record = store().load(task_id)
    if record is None:
        return {"id": task_id, "status": "missing"}
    return {**record.status_view().wire(), "error": record.error}
