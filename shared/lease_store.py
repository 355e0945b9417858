"""Leases in Redis: which run of a task may act right now (see :mod:`workers.process.lease` for why).

A lease is a key holding its run's token with a short expiry, renewed while the task runs;
``keys.RUNNING`` (a zset scored by start time) lists the tasks that hold or held one, so a
reaper finds the tasks whose lease expired without scanning keys.

**Fencing.** Every take increments the task's lease epoch (``lease_epoch`` in its record),
and the token is ``owner#epoch``. A run's writes and renewals go through scripts that
compare its token with the lease atomically: once a newer run took the lease (a higher
epoch), every call of the older run answers ``fenced`` and writes nothing. A lease that
merely expired (its process starved, nobody took over: the epoch is unchanged) is taken
back by its own run.

**The step script** is one round trip per agent step: fence check, lease renewal, step
record (and its screenshot, and the step pushed to live viewers), stop check (see
:meth:`LeaseStore.step`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import redis

from shared import keys, live_events
from shared.models import TaskStepView
from shared.redis_client import NO_REPLICAS, Replicas, run_script

EPOCH_FIELD = "lease_epoch"  # in the task hash: survives the lease key's expiry
CRASHES_FIELD = "browser_crashes"  # in the task hash: browser crashes under the task, all runs

# KEYS: [1] lease, [2] task hash, [3] deliveries counter, [4] stop flag, [5] running zset,
# [6] viewers zset, [7] control channel, [8] delivery tags set. ARGV: [1] owner, [2] ttl ms,
# [3] record ttl s, [4] task id, [5] now, [6] the broker's delivery tag ('' = unknown).
# Returns {epoch, deliveries, stop, viewers} when taken, {0} when another run holds it, {-1}
# when the record is gone. An earlier run (if any) is told on the task's control channel.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
local epoch = redis.call('HINCRBY', KEYS[2], 'lease_epoch', 1)
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. epoch, 'PX', ARGV[2])
local deliveries = redis.call('INCR', KEYS[3])
if deliveries == 1 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
if ARGV[6] ~= '' then
  redis.call('SADD', KEYS[8], ARGV[6])
  redis.call('EXPIRE', KEYS[8], ARGV[3])
end
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[4])
if epoch > 1 then redis.call('PUBLISH', KEYS[7], 'fenced') end
return {epoch, deliveries, redis.call('EXISTS', KEYS[4]), redis.call('ZCOUNT', KEYS[6], ARGV[5], '+inf')}
"""

# The fence, shared by renewal and the step script. KEYS[1] lease, KEYS[2] task hash;
# ARGV[1] token, ARGV[2] epoch, ARGV[3] ttl ms; ``running``, ``tid``, ``now``: the running zset,
# the task id and the time, to list the task again when its run takes back an expired lease
# (the reaper may have dropped it meanwhile). Returns nil when this run holds the lease
# (renewed), false when it took it back, else the reply to give.
_FENCE = """
local function fence(running, tid, now)
  local cur = redis.call('GET', KEYS[1])
  if cur == ARGV[1] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return nil
  end
  local epoch = redis.call('HGET', KEYS[2], 'lease_epoch')
  if not epoch then return {'gone', 0} end
  if cur or epoch ~= ARGV[2] then return {'fenced', tonumber(epoch)} end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
  redis.call('ZADD', running, now, tid)
  return false
end
"""

# KEYS: [1] lease, [2] task hash, [3] running zset, [4] stop flag. ARGV: [1] token, [2] epoch,
# [3] ttl ms, [4] task id, [5] now. Also says 'stop' when a stop was requested.
_RENEW = _FENCE + """
local refused = fence(KEYS[3], ARGV[4], ARGV[5])
if refused then return refused end
if refused == false then return {'taken-back', 0} end
if redis.call('EXISTS', KEYS[4]) == 1 then return {'stop', 0} end
return {'ok', 0}
"""

# KEYS: [1] lease, [2] task hash, [3] steps list, [4] stop flag, [5] step screenshots hash,
# [6] running zset. ARGV: [1] token, [2] epoch, [3] ttl ms, [4] step JSON ('' = none),
# [5] record ttl s, [6] step number, [7] the step's screenshot ('' = none), [8] task id, [9] now,
# [10] the task's live channel, [11] the step's message to live viewers (shared.live_events).
# Returns {status, n}: 'ok'/'stop'; 'fenced' with the holder's epoch; 'gone' (the record was
# deleted). A fenced or gone run's step is not written. The run's epoch and step number of the
# last step written are kept in the task hash: a call retried after it landed (its reply lost
# when a master died, the retry on the promoted replica) does not record the step twice. (Live
# viewers are not counted here: each viewer's heartbeat signals the run every couple of seconds,
# see shared.control.)
_STEP = _FENCE + """
local refused = fence(KEYS[6], ARGV[8], ARGV[9])
if refused then return refused end
if ARGV[4] ~= '' then
  local last = redis.call('HMGET', KEYS[2], 'step_epoch', 'step_number')
  if last[1] ~= ARGV[2] or last[2] ~= ARGV[6] then
    if redis.call('RPUSH', KEYS[3], ARGV[4]) == 1 then redis.call('EXPIRE', KEYS[3], ARGV[5]) end
    redis.call('HSET', KEYS[2], 'step_epoch', ARGV[2], 'step_number', ARGV[6])
    redis.call('PUBLISH', ARGV[10], ARGV[11])
    if ARGV[7] ~= '' then
      redis.call('HSET', KEYS[5], ARGV[6], ARGV[7])
      redis.call('EXPIRE', KEYS[5], ARGV[5])
    end
  end
end
if redis.call('EXISTS', KEYS[4]) == 1 then return {'stop', 0} end
return {'ok', 0}
"""

# KEYS: [1] lease, [2] task hash, [3] running zset. ARGV: [1] token, [2] task id, [3] now.
# A run that ends for a retry: its lease is given up under a new epoch (so whatever the old run
# still does is fenced out, and an expired-lease take-back cannot revive it), and the task stays
# listed as running from now, so a reaper re-enqueues it should the retry's message be lost.
_HAND_BACK = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('HINCRBY', KEYS[2], 'lease_epoch', 1)
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
return 1
"""

# KEYS: [1] lease, [2] running zset. ARGV: [1] token, [2] task id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[2])
  return 1
end
return 0
"""


class RunStatus(StrEnum):
    """What the store says to a run after a step or a renewal."""

    ok = "ok"
    stop = "stop"  # a stop was requested: end the run (the step, if any, is recorded)
    fenced = "fenced"  # a newer run holds the lease: stop before the next action, write nothing
    gone = "gone"  # the task's record was deleted: stop, write nothing
    taken_back = "taken-back"  # (renewal) the lease had expired, nobody took over: held again


@dataclass(frozen=True)
class Taken:
    """A lease taken: the run's fencing token and what the take learned on the way."""

    token: str
    epoch: int
    deliveries: int
    stop_requested: bool
    viewers: int = 0


@dataclass(frozen=True)
class Reply:
    """The store's answer to a step or a renewal: a status and, for ``fenced``, the epoch of the
    run that holds the lease."""

    status: RunStatus
    value: int = 0


class LeaseStore:
    """Take, renew and give back leases of ``ttl_ms``; record fenced steps; list the expired."""

    def __init__(
        self, client: redis.Redis, ttl_ms: int, record_ttl_s: int = 7 * 86400,
        replicas: Replicas = NO_REPLICAS,
    ) -> None:
        self._redis = client
        self.replicas = replicas  # a take and a step record wait for them (see shared.redis_client)
        self.ttl_ms = ttl_ms
        self.record_ttl_s = record_ttl_s
        self._take = client.register_script(_TAKE)
        self._renew = client.register_script(_RENEW)
        self._step = client.register_script(_STEP)
        self._release = client.register_script(_RELEASE)
        self._hand_back = client.register_script(_HAND_BACK)

    def take(self, task_id: str, owner: str, tag: str = "") -> Taken | None:
        """Claim ``task_id`` for a new run of ``owner`` (the next epoch), count the delivery and
        note its broker delivery ``tag``; ``None`` when another run holds it or the record is gone."""
        reply = run_script(
            self._redis, self._take,
            [keys.lease(task_id), keys.task(task_id), keys.deliveries(task_id),
             keys.stop_flag(task_id), keys.RUNNING, keys.live_viewers(task_id), keys.control(task_id),
             keys.delivery_tags(task_id)],
            [owner, self.ttl_ms, self.record_ttl_s, task_id, repr(time.time()), tag], self.replicas,
        )
        epoch = int(reply[0])
        if epoch <= 0:
            return None
        return Taken(f"{owner}#{epoch}", epoch, int(reply[1]), bool(int(reply[2])), int(reply[3]))

    def renew(self, task_id: str, token: str) -> Reply:
        """Extend the run's lease (or take it back if it expired and nobody took over), and say
        whether a stop was requested."""
        raw = self._renew(keys=[keys.lease(task_id), keys.task(task_id), keys.RUNNING,
                                keys.stop_flag(task_id)],
                          args=[token, _epoch(token), self.ttl_ms, task_id, repr(time.time())])
        return _reply(raw)

    def step(self, task_id: str, token: str, step: TaskStepView | None = None, screenshot: str = "") -> Reply:
        """One round trip per agent step: if this run still holds the lease, renew it, append
        the step (when given; its live viewers are pushed it) and its screenshot (when given),
        and say whether a stop was requested; else write nothing and say why."""
        stored = step.model_dump_json() if step is not None else ""
        pushed = live_events.step(step.model_dump_json(by_alias=True)) if step is not None else ""
        raw = run_script(
            self._redis, self._step,
            [keys.lease(task_id), keys.task(task_id), keys.steps(task_id), keys.stop_flag(task_id),
             keys.step_screenshots(task_id), keys.RUNNING],
            [token, _epoch(token), self.ttl_ms, stored, self.record_ttl_s,
             step.number if step is not None else 0, screenshot, task_id, repr(time.time()),
             keys.live_frames(task_id), pushed],
            self.replicas if step is not None else NO_REPLICAS,
        )
        return _reply(raw)

    def give_back(self, task_id: str, token: str) -> bool:
        """End the run's lease (and its entry in the running list); False if it no longer held it."""
        return bool(self._release(keys=[keys.lease(task_id), keys.RUNNING], args=[token, task_id]))

    def hand_back(self, task_id: str, token: str) -> bool:
        """Give the lease up for a retry (see ``_HAND_BACK``); False if the run no longer held it.
        Its new epoch waits for a replica like a take: a failover must not hand the old run its
        epoch back."""
        return bool(run_script(self._redis, self._hand_back,
                               [keys.lease(task_id), keys.task(task_id), keys.RUNNING],
                               [token, task_id, repr(time.time())], self.replicas))

    def count_browser_crash(self, task_id: str) -> int:
        """One more browser crash under this task; how many so far (kept with its record)."""
        return int(self._redis.hincrby(keys.task(task_id), CRASHES_FIELD, 1))

    def delivery_tags(self, task_id: str) -> set[str]:
        """The broker delivery tags of the task's runs so far."""
        return {str(t) for t in self._redis.smembers(keys.delivery_tags(task_id))}

    def holder(self, task_id: str) -> str | None:
        """The token of the run holding the lease now, if any (for logs and tests)."""
        value = self._redis.get(keys.lease(task_id))
        return str(value) if value is not None else None

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


def _epoch(token: str) -> str:
    return token.rpartition("#")[2]


def _reply(raw: list[object]) -> Reply:
    status = raw[0].decode() if isinstance(raw[0], bytes) else str(raw[0])
    return Reply(RunStatus(status), int(raw[1]))  # type: ignore[call-overload]
