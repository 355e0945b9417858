"""Benchmark enqueueing: ``Producer.create_task``/``create_tasks`` beside plain Celery ``send_task``.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_producer.py [--out FILE] [--tasks N] [--rounds R]``
(needs Redis; ``REDIS_URL`` picks it). One process, one thread, a queue no worker consumes.
Measured in the same run, interleaved round by round so a busy machine disturbs all alike:

- ``send_task``: plain Celery, ``app.send_task(name, args=[id], task_id=id)``, the floor the
  issue compares against (it writes no task record, no session and no index);
- ``send_task_batched``: the same inside kombu's ``Producer.batch()`` (one pipeline);
- ``create_task``: validation, a one-off session, the record, indexes, the Celery message and
  its ``task-sent`` event, one task per call;
- ``create_tasks``: the same in batches of ``--batch`` payloads.

Reported: tasks/s (median of the rounds) and Redis requests per task (writes to a Redis
socket, counted in redis-py's ``Connection.send_packed_command``, which kombu uses too: a
pipeline or a script is one request; ``send_task``'s result-backend SUBSCRIBE/UNSUBSCRIBE
count although it does not wait for their answers); and, less disturbed by a busy machine
than the rates, the CPU time per task (median of the rounds) of this process and of the
Redis server (``INFO cpu``: the whole server, so other clients of a shared Redis count too).
Results are merged into ``tests/benchmarks/results.json`` under ``"producer"``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from producer import Producer  # noqa: E402
from shared.celery_config import RUN_TASK  # noqa: E402
from shared.settings import Settings  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"


class _RequestCounter:
    """Counts requests sent on every redis-py connection of this process (ours and kombu's)."""

    def __init__(self) -> None:
        self.count = 0
        original = redis.connection.AbstractConnection.send_packed_command

        def counting(conn: Any, command: Any, check_health: bool = True) -> None:
            self.count += 1
            original(conn, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--tasks", type=int, default=2000, help="tasks per path per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()

    load_at_start = os.getloadavg()[0]
    queue = f"bf-bench-{uuid.uuid4().hex[:8]}"
    settings = Settings().model_copy(update={"queue": queue, "max_queued_tasks": 0})
    producer = Producer(settings)
    app = producer.celery
    admin = redis.Redis.from_url(settings.redis_url)

    def send_task(n: int) -> None:
        for _ in range(n):
            task_id = str(uuid.uuid4())
            app.send_task(RUN_TASK, args=[task_id], task_id=task_id, queue=queue,
                          argsrepr=f"('{task_id}',)")

    def send_task_batched(n: int) -> None:
        with app.producer_or_acquire() as publisher, publisher.batch():
            for _ in range(n):
                task_id = str(uuid.uuid4())
                app.send_task(RUN_TASK, args=[task_id], task_id=task_id, queue=queue,
                              argsrepr=f"('{task_id}',)", producer=publisher)

    def create_task(n: int) -> None:
        for i in range(n):
            producer.create_task({"task": f"bench task {i}"})

    def create_tasks(n: int) -> None:
        for start in range(0, n, args.batch):
            stop = min(n, start + args.batch)
            producer.create_tasks([{"task": f"bench task {i}"} for i in range(start, stop)])

    paths: dict[str, Callable[[int], None]] = {
        "send_task": send_task,
        "send_task_batched": send_task_batched,
        "create_task": create_task,
        "create_tasks": create_tasks,
    }
    rates: dict[str, list[float]] = {name: [] for name in paths}
    cpu: dict[str, list[float]] = {name: [] for name in paths}
    redis_cpu: dict[str, list[float]] = {name: [] for name in paths}
    requests: dict[str, float] = {}
    counter = _RequestCounter()

    def server_cpu() -> float:
        info = admin.info("cpu")
        return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])

    try:
        for fn in paths.values():
            fn(50)  # connections, scripts, imports
        for _ in range(args.rounds):
            for name, fn in paths.items():
                before, server = counter.count, server_cpu()
                started, own = time.perf_counter(), time.process_time()
                fn(args.tasks)
                rates[name].append(args.tasks / (time.perf_counter() - started))
                cpu[name].append((time.process_time() - own) / args.tasks * 1e6)
                redis_cpu[name].append((server_cpu() - server) / args.tasks * 1e6)
                requests[name] = (counter.count - before) / args.tasks
                admin.delete(queue)
    finally:
        admin.delete(queue)
    results: dict[str, Any] = {
        "tasks_per_round": args.tasks,
        "rounds": args.rounds,
        "batch": args.batch,
        "load_avg_1m_start": round(load_at_start, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
    }
    for name in paths:
        results[name] = {
            "per_s": round(statistics.median(rates[name])),
            "per_s_rounds": [round(r) for r in rates[name]],
            "redis_requests_per_task": round(requests[name], 3),
            "cpu_us_per_task": round(statistics.median(cpu[name]), 1),
            "redis_cpu_us_per_task": round(statistics.median(redis_cpu[name]), 1),
        }
    floor = results["send_task"]["per_s"]
    for name in paths:
        results[name]["vs_send_task"] = round(results[name]["per_s"] / floor, 2)
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged["producer"] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
