"""What Redis Sentinel costs: durable writes (``WAIT 1``) on the step path, and a failover's outage.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_sentinel.py [--out FILE] [--rounds N]``.
Starts a group of its own on loopback (a master, a replica, three sentinels, down-after 1 s:
tests/support/sentinel.py) and measures, through the stores as workers and producers use them:

- a step record (``LeaseStore.step``) and a task's creation (``Producer.create_task``), each
  without ``WAIT`` (``BROWSERFLEET_REDIS_WAIT_REPLICAS=0``) and with ``WAIT 1`` (the default
  behind Sentinel): latency p50/p95 and Redis commands per call;
- the same step while the replica is down (each durable write waits out
  ``BROWSERFLEET_REDIS_WAIT_TIMEOUT_MS``);
- a failover: the master SIGKILLed while a client writes in a loop; how long until the
  sentinels name the replica, and until the client's next write succeeds.

Results merge into ``tests/benchmarks/results.json`` under ``"sentinel"``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared import keys  # noqa: E402
from shared.models import TaskStepView  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.stores import Stores  # noqa: E402
from tests.support.redis_server import command_counts  # noqa: E402
from tests.support.sentinel import DOWN_AFTER_MS, SERVICE, SentinelGroup, wait_for  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"


def timed(call: Callable[[], Any], rounds: int) -> dict[str, float]:
    """p50/p95 in ms of ``rounds`` calls (after five warm-up calls)."""
    for _ in range(5):
        call()
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[int(0.95 * len(samples))]
    return {"p50_ms": round(statistics.median(samples), 3), "p95_ms": round(p95, 3)}


def step_path(stores: Stores, rounds: int) -> Callable[[], Any]:
    """A task with a record and a lease; each call records its next step."""
    task_id = str(uuid.uuid4())
    stores._redis.hset(keys.task(task_id), mapping={"id": json.dumps(task_id), "status": '"started"'})
    taken = stores.leases.take(task_id, "bench")
    assert taken is not None
    counter = iter(range(1, 10 * rounds + 100))

    def one() -> Any:
        number = next(counter)
        step = TaskStepView(number=number, memory="m" * 200, evaluation_previous_goal="ok", next_goal="next",
                            url="https://example.com/", actions=['{"click": {"index": 3}}'])
        return stores.leases.step(task_id, taken.token, step)

    return one


def measure(group: SentinelGroup, replicas: int, rounds: int) -> dict[str, Any]:
    from producer import Producer

    settings = Settings(redis_url=group.url, redis_sentinel_master=SERVICE, redis_wait_replicas=replicas,
                        queue=f"bench-sentinel-{uuid.uuid4().hex[:6]}", max_queued_tasks=0)
    stores = Stores(settings)
    master = redis.Redis(port=group.master.port, decode_responses=True)
    step = step_path(stores, rounds)
    before = command_counts(master)
    steps = timed(step, rounds)
    per_step = (command_counts(master) - before).per(rounds + 5, top=12)
    producer = Producer(settings)
    create = timed(lambda: producer.create_task({"task": "bench"}), max(20, rounds // 5))
    master.delete(settings.queue)
    return {"step": {**steps, **per_step}, "create": create}


def replica_down(group: SentinelGroup, rounds: int) -> dict[str, Any]:
    settings = Settings(redis_url=group.url, redis_sentinel_master=SERVICE, redis_wait_timeout_ms=100)
    stores = Stores(settings)
    group.replica.stop()
    try:
        return {"wait_timeout_ms": 100, "step": timed(step_path(stores, rounds), max(10, rounds // 20))}
    finally:
        group.replica.start()


def failover(group: SentinelGroup) -> dict[str, float]:
    settings = Settings(redis_url=group.url, redis_sentinel_master=SERVICE, redis_wait_replicas=0)
    client = Stores(settings)._redis
    client.set("bench-failover", 0)
    wait_for(group.settled, 30, "the replica back in sync")
    group.kill_master()
    killed = time.monotonic()
    promoted = group.wait_failover()
    client.incr("bench-failover")  # the client's retries carry it to the new master
    return {"down_after_ms": DOWN_AFTER_MS, "sentinels_promote_s": round(promoted, 2),
            "client_write_after_s": round(time.monotonic() - killed, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        group = SentinelGroup(Path(tmp))
        group.start()
        try:
            results = {
                "no_wait": measure(group, 0, args.rounds),
                "wait_1": measure(group, 1, args.rounds),
                "replica_down": replica_down(group, args.rounds),
                "failover": failover(group),
                "machine": "2 vCPU, loopback, redis-server 7.0, appendfsync everysec",
            }
        finally:
            group.stop()
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged["sentinel"] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
