"""The worker process's shared objects: its stores, the lease holder, the watchdog, the fleet
controls, result views.

One home for what the Celery glue, the execution of a run, the judge and the webhook worker
all need, so none of them imports another for it (and the judge worker imports no browser
code). Each is a :class:`~workers.process.per_process.PerProcess`: a forked child makes its own.
"""

from __future__ import annotations

from typing import Any

from shared.accounts import Controls
from shared.broker_leftovers import BrokerLeftovers
from shared.settings import get_settings
from shared.stores import Stores
from shared.task_store import TaskStore
from workers.process.lease import Leases
from workers.process.per_process import PerProcess
from workers.process.watchdog import Watchdog

_stores: PerProcess[Stores] = PerProcess(lambda: Stores(get_settings()))
_leases: PerProcess[Leases] = PerProcess(lambda: Leases(stores().leases, stores().control))
_controls: PerProcess[Controls] = PerProcess(lambda: Controls(get_settings()))
_watchdog: PerProcess[Watchdog] = PerProcess(lambda: Watchdog(get_settings().stall_timeout_s))


def stores() -> Stores:
    """This process's stores (one Redis client, thread-safe)."""
    return _stores.get()


def store() -> TaskStore:
    """This process's task store."""
    return stores().tasks


def leases() -> Leases:
    """This process's leases on the tasks it runs."""
    return _leases.get()


def watchdog() -> Watchdog:
    """This process's watchdog over its runs (``BROWSERFLEET_STALL_TIMEOUT_S``)."""
    return _watchdog.get()


def broker_leftovers() -> BrokerLeftovers | None:
    """Kombu's unacked store in the broker's Redis; None with RabbitMQ as the broker."""
    return stores().broker_leftovers


def controls() -> Controls:
    """The fleet controls (per-key limits and webhooks) of this process's settings."""
    return _controls.get()


def result_of(task_id: str) -> dict[str, Any]:
    """What the Celery result backend keeps: the status view plus the reason."""
    record = store().load(task_id)
    if record is None:
        return {"id": task_id, "status": "missing"}
    return {**record.status_view().wire(), "error": record.error}
