"""The worker process's shared objects: its stores, the lease holder, result views.

One home for what the Celery glue, the execution of a run and the judge all need, so none
of them imports another for it (and the judge worker imports no browser code).
"""

from __future__ import annotations

from typing import Any

from shared.accounts import Controls
from shared.settings import get_settings
from shared.stores import Stores
from shared.task_store import TaskStore
from workers.agent.limiter import FleetLimits, ModelLimiter, limits_by_model
from workers.lease import Leases

_stores: Stores | None = None
_leases: Leases | None = None
_limits: FleetLimits | None = None
_controls: Controls | None = None


def stores() -> Stores:
    """This process's stores (one Redis client, thread-safe)."""
    global _stores
    if _stores is None:
        _stores = Stores(get_settings())
    return _stores


def store() -> TaskStore:
    """This process's task store."""
    return stores().tasks


def leases() -> Leases:
    """This process's leases on the tasks it runs."""
    global _leases
    if _leases is None:
        _leases = Leases(stores().leases, stores().control)
    return _leases


def limiter_for(model: str) -> ModelLimiter:
    """A client's view of ``model``'s fleet-wide rate limit (``BROWSERFLEET_LLM_LIMITS``)."""
    global _limits
    if _limits is None:
        s = get_settings()
        configured = limits_by_model(s.llm_limits, s.default_model, s.models)
        _limits = FleetLimits(stores().llm_limits, configured, s.llm_limit_window_s, s.llm_limit_max_wait_s)
    return _limits.for_model(model)


def controls() -> Controls:
    """The fleet controls (per-key limits and webhooks) of this process's settings."""
    global _controls
    if _controls is None:
        _controls = Controls(get_settings())
    return _controls


def result_of(task_id: str) -> dict[str, Any]:
    """What the Celery result backend keeps: the status view plus the reason."""
    record = store().load(task_id)
    if record is None:
        return {"id": task_id, "status": "missing"}
    return {**record.status_view().wire(), "error": record.error}
