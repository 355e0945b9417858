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

import redis

from shared import keys
from shared.models import TaskStatus
from shared.task_store import TaskStore

log = logging.getLogger(__name__)

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

OWNER = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Leases:
    """This process's leases, renewed by one background thread."""

    def __init__(self, client: redis.Redis, ttl_s: float) -> None:
        self.redis = client
        self.ttl_ms = int(ttl_s * 1000)
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._thread: threading.Thread | None = None

    def acquire(self, task_id: str) -> bool:
        """Claim ``task_id``; False when another live worker holds it."""
        if not self.redis.set(keys.lease(task_id), OWNER, nx=True, px=self.ttl_ms):
            return False
        with self._lock:
            self._held.add(task_id)
        self.redis.zadd(keys.RUNNING, {task_id: time.time()})
        self._ensure_thread()
        return True

    def release(self, task_id: str) -> None:
        with self._lock:
            self._held.discard(task_id)
        self._release(keys=[keys.lease(task_id)], args=[OWNER])
        self.redis.zrem(keys.RUNNING, task_id)

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._renew_forever, name="lease-renew", daemon=True)
            self._thread.start()

    def _renew_forever(self) -> None:
        while True:
            time.sleep(self.ttl_ms / 3000)
            with self._lock:
                held = list(self._held)
            for task_id in held:
                try:
                    self._renew(keys=[keys.lease(task_id)], args=[OWNER, self.ttl_ms])
                except redis.RedisError as exc:  # Redis restarting: try again next round
                    log.warning("lease renewal for %s failed: %s", task_id, exc)


def reap(tasks: TaskStore, requeue: Callable[[str], None], grace_s: float) -> list[str]:
    """Re-enqueue started tasks whose lease has expired (their worker died); returns their ids."""
    client = tasks.redis
    revived = []
    cutoff = time.time() - grace_s
    for task_id in client.zrangebyscore(keys.RUNNING, "-inf", cutoff):
        task_id = str(task_id)
        if client.exists(keys.lease(task_id)):
            continue
        if tasks.status(task_id) != TaskStatus.started:
            client.zrem(keys.RUNNING, task_id)
            continue
        if not client.set(keys.reaping(task_id), OWNER, nx=True, ex=max(5, int(grace_s * 2))):
            continue
        log.warning("task %s lost its worker (lease expired); re-enqueueing", task_id)
        client.zrem(keys.RUNNING, task_id)
        requeue(task_id)
        revived.append(task_id)
    return revived


class Reaper(threading.Thread):
    """Runs :func:`reap` every ``interval_s`` in a worker process."""

    def __init__(self, tasks: TaskStore, requeue: Callable[[str], None], interval_s: float) -> None:
        super().__init__(name="lease-reaper", daemon=True)
        self.tasks, self.requeue, self.interval_s = tasks, requeue, interval_s
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                reap(self.tasks, self.requeue, self.interval_s)
            except redis.RedisError as exc:
                log.warning("reaper: Redis unavailable: %s", exc)

    def stop(self) -> None:
        self._stop.set()
