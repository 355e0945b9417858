"""Leases against a real Redis: taking, renewing, giving back, and what the reaper may requeue."""

from __future__ import annotations

import time
import uuid

import redis

from shared import keys
from shared.lease_store import LeaseStore
from workers.lease import OWNER, Leases


def _task() -> str:
    return str(uuid.uuid4())


def test_a_lease_is_exclusive_until_given_back(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    task_id = _task()
    assert store.take(task_id, "worker-a")
    assert not store.take(task_id, "worker-b")
    assert store.renew(task_id, "worker-a") and not store.renew(task_id, "worker-b")
    store.give_back(task_id, "worker-b")  # not its lease: nothing happens
    assert redis_client.get(keys.lease(task_id)) == "worker-a"
    store.give_back(task_id, "worker-a")
    assert redis_client.get(keys.lease(task_id)) is None
    assert redis_client.zscore(keys.RUNNING, task_id) is None


def test_only_tasks_whose_lease_expired_are_orphans(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    held, lost = _task(), _task()
    assert store.take(held, "worker-a") and store.take(lost, "worker-b")
    redis_client.delete(keys.lease(lost))  # as if worker-b died and its lease ran out
    orphans = store.orphans(time.time() + 1)
    assert lost in orphans and held not in orphans
    assert store.claim_reaping(lost, "reaper-1", 5) and not store.claim_reaping(lost, "reaper-2", 5)
    for task_id in (held, lost):
        store.give_back(task_id, "worker-a")
        store.forget(task_id)


def test_a_starved_renewal_takes_its_expired_lease_back_but_never_steals_one(
    redis_client: redis.Redis,
) -> None:
    leases = Leases(LeaseStore(redis_client, 5_000))
    mine, stolen = _task(), _task()
    assert leases.acquire(mine) and leases.acquire(stolen)
    redis_client.delete(keys.lease(mine))  # expired while this process could not renew it
    leases._keep(mine)
    assert redis_client.get(keys.lease(mine)) == OWNER  # a requeued copy now finds it held
    redis_client.set(keys.lease(stolen), "another-worker")  # the other copy got it first
    leases._keep(stolen)
    assert redis_client.get(keys.lease(stolen)) == "another-worker"
    leases.release(mine)
    leases.release(stolen)
