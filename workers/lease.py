"""Leases: which worker runs a task right now, and recovery when that worker dies.

A worker holds a short-lived Redis key per running task and renews it while the
task runs. If the process is killed (SIGKILL, OOM, node lost), the lease expires
within ``lease_ttl_s``; the reaper in any live worker then re-enqueues the task
(its delivery count caps how often). Without this, Redis would hold the dead
worker's unacked message until the visibility timeout (40 minutes by default).
A second delivery of a task whose lease is alive is dropped: it runs elsewhere.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from shared.lease_store import LeaseStore
from shared.models import TaskStatus
from shared.redis_client import StoreError
from shared.task_store import TaskStore

log = logging.getLogger(__name__)

OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leases:
    """This process's leases, renewed by one background thread."""

    def __init__(self, store: LeaseStore) -> None:
        self.store = store
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def acquire(self, task_id: str) -> bool:
        """Claim ``task_id``; False when another live worker holds it."""
        if not self.store.take(task_id, OWNER):
            return False
        with self._lock:
            self._held.add(task_id)
        self._ensure_thread()
        return True

    def release(self, task_id: str) -> None:
        with self._lock:
            self._held.discard(task_id)
        self.store.give_back(task_id, OWNER)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._renew_forever, name="lease-renew", daemon=True)
            self._thread.start()

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self.store.ttl_ms / 3000)
            with self._lock:
                held = list(self._held)
            for task_id in held:
                try:
                    self._keep(task_id)
                except StoreError as exc:  # Redis restarting: try again next round
                    log.warning("lease renewal for %s failed: %s", task_id, exc)

    def _keep(self, task_id: str) -> None:
        """Renew one lease. One that expired while this process was too starved to renew it is
        taken back at once, so the copy a reaper may have re-enqueued meanwhile is dropped as a
        duplicate instead of running beside this one."""
        if self.store.renew(task_id, OWNER):
            return
        if self.store.take(task_id, OWNER):
            log.warning("task %s: its lease had expired (renewal came too late); taken back", task_id)
        else:
            log.error("task %s: its lease is held by another worker; two runs may overlap", task_id)


def reap(
    leases: LeaseStore, tasks: TaskStore, requeue: Callable[[str], None], grace_s: float
) -> list[str]:
    """Re-enqueue started tasks whose lease has expired (their worker died); returns their ids."""
    revived = []
    for task_id in leases.orphans(time.time() - grace_s):
        if tasks.status(task_id) != TaskStatus.started:
            leases.forget(task_id)
            continue
        if not leases.claim_reaping(task_id, OWNER, max(5, int(grace_s * 2))):
            continue
        log.warning("task %s lost its worker (lease expired); re-enqueueing", task_id)
        leases.forget(task_id)
        requeue(task_id)
        revived.append(task_id)
    return revived


class Reaper(threading.Thread):
    """Runs :func:`reap` every ``interval_s`` in a worker process."""

    def __init__(
        self, leases: LeaseStore, tasks: TaskStore, requeue: Callable[[str], None], interval_s: float
    ) -> None:
        super().__init__(name="lease-reaper", daemon=True)
        self.leases, self.tasks, self.requeue, self.interval_s = leases, tasks, requeue, interval_s
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                reap(self.leases, self.tasks, self.requeue, self.interval_s)
            except StoreError as exc:
                log.warning("reaper: Redis unavailable: %s", exc)

    def stop(self) -> None:
        self._stop.set()
