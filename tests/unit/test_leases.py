"""Leases against a real Redis: taking, renewing, giving back, fencing, and what the reaper may requeue."""

from __future__ import annotations

import json
import threading
import time
import uuid

import pytest
import redis

from shared import keys
from shared.lease_store import LeaseStore, RunStatus
from shared.models import TaskStatus, TaskStepView
from shared.task_store import FencedWriteError, TaskStore
from workers.process.lease import Leases, owner


def _task(redis_client: redis.Redis) -> str:
    """A task id with a (minimal) record: a lease is only taken for a task that exists."""
    task_id = str(uuid.uuid4())
    redis_client.hset(keys.task(task_id), mapping={"id": json.dumps(task_id), "status": '"started"'})
    redis_client.expire(keys.task(task_id), 600)
    return task_id


def _step(number: int, memory: str) -> TaskStepView:
    return TaskStepView(number=number, memory=memory, evaluation_previous_goal="", next_goal="", url="",
                        actions=[])


def test_a_lease_is_exclusive_until_given_back(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    task_id = _task(redis_client)
    a = store.take(task_id, "worker-a")
    assert a is not None and a.epoch == 1 and a.deliveries == 1 and not a.stop_requested
    assert store.take(task_id, "worker-b") is None
    assert store.renew(task_id, a.token).status == RunStatus.ok
    assert store.renew(task_id, "worker-b#1").status == RunStatus.fenced
    assert not store.give_back(task_id, "worker-b#1")  # not its lease: nothing happens
    assert redis_client.get(keys.lease(task_id)) == a.token
    assert store.give_back(task_id, a.token)
    assert redis_client.get(keys.lease(task_id)) is None
    assert redis_client.zscore(keys.RUNNING, task_id) is None


def test_no_lease_for_a_task_without_a_record(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    task_id = str(uuid.uuid4())
    assert store.take(task_id, "worker-a") is None
    assert redis_client.get(keys.lease(task_id)) is None


def test_each_take_is_a_new_epoch_and_the_older_run_is_fenced_out(redis_client: redis.Redis) -> None:
    """The fencing token: once a newer run took the lease, the older run's steps and its final
    write are refused atomically, and nothing of it reaches the record."""
    store, tasks = LeaseStore(redis_client, 5_000), TaskStore(redis_client, 600)
    task_id = _task(redis_client)
    old = store.take(task_id, "worker-a")
    assert old is not None
    assert store.step(task_id, old.token, _step(1, "old run")).status == RunStatus.ok
    redis_client.delete(keys.lease(task_id))  # worker-a froze past its lease...
    new = store.take(task_id, "worker-b")  # ...and the reaper's copy started elsewhere
    assert new is not None and new.epoch == old.epoch + 1 and new.deliveries == 2
    reply = store.step(task_id, old.token, _step(2, "old run, late"), "data:image/jpeg;base64,AAAA")
    assert reply.status == RunStatus.fenced and reply.value == new.epoch
    assert store.renew(task_id, old.token).status == RunStatus.fenced
    with pytest.raises(FencedWriteError):
        tasks.transition(task_id, TaskStatus.finished, [TaskStatus.started], fence=old.token, output="old")
    assert store.step(task_id, new.token, _step(2, "new run")).status == RunStatus.ok
    assert tasks.transition(task_id, TaskStatus.finished, [TaskStatus.started], fence=new.token, output="new")
    steps = [json.loads(s)["memory"] for s in redis_client.lrange(keys.steps(task_id), 0, -1)]
    assert steps == ["old run", "new run"]  # (a new run clears the old steps as it starts)
    assert redis_client.hget(keys.step_screenshots(task_id), "2") is None
    assert json.loads(redis_client.hget(keys.task(task_id), "output")) == "new"
    assert not store.give_back(task_id, old.token) and redis_client.get(keys.lease(task_id)) == new.token


def test_an_expired_lease_nobody_took_is_taken_back_by_its_run(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    task_id = _task(redis_client)
    run = store.take(task_id, "worker-a")
    assert run is not None
    redis_client.delete(keys.lease(task_id))  # expired while the process could not renew it
    store.forget(task_id)  # and a reaper dropped it from the running list
    assert store.renew(task_id, run.token).status == RunStatus.taken_back
    assert redis_client.get(keys.lease(task_id)) == run.token
    assert redis_client.zscore(keys.RUNNING, task_id) is not None  # a reaper finds it again
    redis_client.delete(keys.lease(task_id))
    store.forget(task_id)
    assert store.step(task_id, run.token, _step(1, "late but alone")).status == RunStatus.ok
    assert redis_client.get(keys.lease(task_id)) == run.token
    assert redis_client.zscore(keys.RUNNING, task_id) is not None
    store.give_back(task_id, run.token)


def test_the_step_reply_says_stop_and_gone(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    task_id = _task(redis_client)
    redis_client.zadd(keys.live_viewers(task_id), {"viewer-1": time.time() + 30})
    run = store.take(task_id, "worker-a")
    assert run is not None and run.viewers == 1  # someone watched before the run started
    assert store.step(task_id, run.token).status == RunStatus.ok
    redis_client.set(keys.stop_flag(task_id), "1")
    assert store.step(task_id, run.token, _step(1, "last")).status == RunStatus.stop
    assert redis_client.llen(keys.steps(task_id)) == 1  # the step that saw the stop is kept
    redis_client.delete(*keys.task_keys(task_id))  # the task (or its session) was deleted
    assert store.step(task_id, run.token, _step(2, "after delete")).status == RunStatus.gone
    assert not redis_client.exists(keys.steps(task_id))


def test_only_tasks_whose_lease_expired_are_orphans(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    held, lost = _task(redis_client), _task(redis_client)
    a, b = store.take(held, "worker-a"), store.take(lost, "worker-b")
    assert a is not None and b is not None
    redis_client.delete(keys.lease(lost))  # as if worker-b died and its lease ran out
    orphans = store.orphans(time.time() + 1)
    assert lost in orphans and held not in orphans
    assert store.claim_reaping(lost, "reaper-1", 5) and not store.claim_reaping(lost, "reaper-2", 5)
    store.give_back(held, a.token)
    store.forget(lost)


def test_a_starved_renewal_takes_its_expired_lease_back_but_never_steals_one(
    redis_client: redis.Redis,
) -> None:
    leases = Leases(LeaseStore(redis_client, 5_000))
    mine, stolen = _task(redis_client), _task(redis_client)
    a, b = leases.acquire(mine), leases.acquire(stolen)
    assert a is not None and b is not None and a.token.startswith(owner() + "#")
    redis_client.delete(keys.lease(mine))  # expired while this process could not renew it
    assert leases.holds(a, ask=True)
    assert redis_client.get(keys.lease(mine)) == a.token  # a requeued copy now finds it held
    redis_client.set(keys.lease(stolen), "another-worker#9")  # the other copy got it first
    assert not leases.holds(b, ask=True) and b.lost == RunStatus.fenced
    assert "fenced out" in b.why_lost() and stolen in b.why_lost()
    assert redis_client.get(keys.lease(stolen)) == "another-worker#9"
    leases.release(a)
    leases.release(b)
    assert redis_client.get(keys.lease(stolen)) == "another-worker#9"


class _SlowRenewals(LeaseStore):
    """A renewal that stalls on its way to Redis until the test lets it go."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(client, 5_000)
        self.renewing, self.go = threading.Event(), threading.Event()

    def renew(self, task_id: str, token: str):  # type: ignore[no-untyped-def]
        self.renewing.set()
        self.go.wait(5)
        return super().renew(task_id, token)


def test_a_finished_runs_lease_stays_released_when_a_renewal_races_the_release(
    redis_client: redis.Redis,
) -> None:
    """The renewal thread had read the held leases just before the task ended: its renewal
    must not re-create the lease the release just gave back (nor call it someone else's)."""
    store = _SlowRenewals(redis_client)
    leases = Leases(store)
    task_id = _task(redis_client)
    run = leases.acquire(task_id)
    assert run is not None
    run.valid_until = 0  # due for renewal
    renewal = threading.Thread(target=leases.holds, args=(run,))
    renewal.start()
    assert store.renewing.wait(5)
    release = threading.Thread(target=leases.release, args=(run,))
    release.start()
    release.join(0.5)  # the release reaches the renewal in flight (and, fixed, waits for it)
    store.go.set()
    renewal.join(5)
    release.join(5)
    assert redis_client.get(keys.lease(task_id)) is None
    assert redis_client.zscore(keys.RUNNING, task_id) is None


def test_a_step_call_retried_after_it_landed_records_the_step_once(redis_client: redis.Redis) -> None:
    """A master killed after running the step script but before its reply: the client retries on
    the promoted replica, which may already hold the step. The run's epoch and step number in the
    record make the retry a no-op; a newer run's step of the same number is still recorded."""
    store = LeaseStore(redis_client, 5_000)
    task_id = _task(redis_client)
    run = store.take(task_id, "worker-a")
    assert run is not None
    for _ in range(2):
        assert store.step(task_id, run.token, _step(1, "once")).status == RunStatus.ok
    assert store.step(task_id, run.token, _step(2, "next")).status == RunStatus.ok
    assert [json.loads(s)["number"] for s in redis_client.lrange(keys.steps(task_id), 0, -1)] == [1, 2]
    assert store.give_back(task_id, run.token)
    rerun = store.take(task_id, "worker-b")
    assert rerun is not None
    assert store.step(task_id, rerun.token, _step(2, "the re-run's own step 2")).status == RunStatus.ok
    assert redis_client.llen(keys.steps(task_id)) == 3


def test_a_run_handed_back_for_a_retry_is_fenced_and_the_task_stays_listed(redis_client: redis.Redis) -> None:
    """A retry gives the lease up under a new epoch: the old run (a coroutine that ignored its
    cancellation) can neither take it back nor record a step; the reaper still sees the task."""
    store, tasks = LeaseStore(redis_client, 5_000), TaskStore(redis_client, 600)
    leases = Leases(store)
    task_id = _task(redis_client)
    run = leases.acquire(task_id, "tag-1")
    assert run is not None and store.delivery_tags(task_id) == {"tag-1"}
    assert leases.hand_back(run)
    assert redis_client.get(keys.lease(task_id)) is None
    assert redis_client.zscore(keys.RUNNING, task_id) is not None  # a lost retry message: the reaper
    assert not leases.holds(run, ask=True)
    assert store.renew(task_id, run.token).status == RunStatus.fenced  # no take-back of the old epoch
    assert store.step(task_id, run.token, _step(1, "stale")).status == RunStatus.fenced
    assert redis_client.llen(keys.steps(task_id)) == 0
    with pytest.raises(FencedWriteError):
        tasks.transition(task_id, TaskStatus.failed, (TaskStatus.started,), fence=run.token)
    leases.release(run)  # the run's own end afterwards changes nothing
    retry = leases.acquire(task_id, "tag-2")
    assert retry is not None and retry.epoch == 3 and retry.deliveries == 2
    assert store.delivery_tags(task_id) == {"tag-1", "tag-2"}
    assert not leases.hand_back(run)  # handed back once
    leases.release(retry)


def test_browser_crashes_are_counted_across_runs(redis_client: redis.Redis) -> None:
    store = LeaseStore(redis_client, 5_000)
    task_id = _task(redis_client)
    assert [store.count_browser_crash(task_id) for _ in range(2)] == [1, 2]
