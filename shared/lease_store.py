"""Leases in Redis: which worker runs a task right now (see :mod:`workers.lease` for why).

A lease is a key holding its owner's name with a short expiry, renewed while the task
runs; ``keys.RUNNING`` (a zset scored by start time) lists the tasks that hold or held one,
so a reaper finds the tasks whose lease expired without scanning keys.
"""

from __future__ import annotations

import time

import redis

from shared import keys

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseStore:
    """Take, renew and give back leases of ``ttl_ms``; list the expired ones."""

    def __init__(self, client: redis.Redis, ttl_ms: int) -> None:
        self._redis = client
        self.ttl_ms = ttl_ms
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    def take(self, task_id: str, owner: str) -> bool:
        """Claim ``task_id`` for ``owner``; False when another live owner holds it."""
        if not self._redis.set(keys.lease(task_id), owner, nx=True, px=self.ttl_ms):
            return False
        self._redis.zadd(keys.RUNNING, {task_id: time.time()})
        return True

    def renew(self, task_id: str, owner: str) -> bool:
        """Extend ``owner``'s lease; False when it no longer holds it (expired, or taken over)."""
        return bool(self._renew(keys=[keys.lease(task_id)], args=[owner, self.ttl_ms]))

    def give_back(self, task_id: str, owner: str) -> None:
        self._release(keys=[keys.lease(task_id)], args=[owner])
        self._redis.zrem(keys.RUNNING, task_id)

    def orphans(self, started_before: float) -> list[str]:
        """Tasks listed as running since before ``started_before`` whose lease has expired."""
        ids = [str(i) for i in self._redis.zrangebyscore(keys.RUNNING, "-inf", started_before)]
        if not ids:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for task_id in ids:
            pipe.exists(keys.lease(task_id))
        return [task_id for task_id, held in zip(ids, pipe.execute(), strict=True) if not held]

    def forget(self, task_id: str) -> None:
        """Drop the task from the running list (it is no longer running)."""
        self._redis.zrem(keys.RUNNING, task_id)

    def claim_reaping(self, task_id: str, owner: str, ttl_s: int) -> bool:
        """One reaper re-enqueues an orphan: the first to claim it for ``ttl_s``."""
        return bool(self._redis.set(keys.reaping(task_id), owner, nx=True, ex=ttl_s))
