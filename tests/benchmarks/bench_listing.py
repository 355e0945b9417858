"""Benchmark listing with a million tasks: ``GET /tasks?pageSize=10`` must cost O(page).

Run: ``PYTHONPATH=. python tests/benchmarks/bench_listing.py [--out FILE] [--records N]``.
Starts a ``redis-server`` of its own on a free port (nothing of yours is touched) and fills it
with N small task records,
written as the producer writes them (record hash + the global, owner, status and
owner-status indexes), pipelined; then a real uvicorn API over that database answers
``GET /tasks`` at page 1 and page 1,000, unfiltered, by owner (a scoped key) and by status.
Reports p50/p95 per case and Redis memory per record. Results merge into
``tests/benchmarks/results.json`` under ``"listing"``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared import keys  # noqa: E402
from shared.models import TaskStatus  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.task_store import TaskRecord, TaskStore  # noqa: E402
from tests.support.api import FULL_KEY, SCOPED_KEY_A, ApiServer, api_settings  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
STATUSES = (TaskStatus.finished,) * 3 + (TaskStatus.failed, TaskStatus.created)


def fill(client: redis.Redis, count: int, owner: str) -> float:
    """Write ``count`` records and their indexes; returns seconds taken."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    template = TaskRecord(id=uuid.uuid4(), session_id=uuid.uuid4(), llm="browser-use-llm", task="t",
                          status=TaskStatus.created, created_at=now, request={"task": "t"})
    base = TaskStore.fields(template)
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        task_id, status = str(uuid.uuid4()), STATUSES[n % len(STATUSES)]
        created = now - timedelta(seconds=(count - n) * 0.01)
        who = owner if n % 2 else None
        fields = {**base, "id": json.dumps(task_id), "status": json.dumps(status.value),
                  "created_at": json.dumps(created.isoformat())}
        if who:
            fields["owner"] = json.dumps(who)
        score = created.timestamp()
        pipe.hset(keys.task(task_id), mapping=fields)
        pipe.expire(keys.task(task_id), 7 * 24 * 3600)
        pipe.zadd(keys.TASK_INDEX, {task_id: score})
        pipe.zadd(keys.tasks_by(status=status.value), {task_id: score})
        if who:
            pipe.zadd(keys.tasks_by(owner=who), {task_id: score})
            pipe.zadd(keys.tasks_by(owner=who, status=status.value), {task_id: score})
        if n % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    return time.perf_counter() - started


def timed(server: ApiServer, key: str, params: dict[str, Any], rounds: int) -> dict[str, float]:
    latencies = []
    with server.client(key) as client:
        for _ in range(5):  # warm: connection, scripts, caches
            client.get("/tasks", params=params)
        for _ in range(rounds):
            started = time.perf_counter()
            response = client.get("/tasks", params=params)
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200 and len(response.json()["items"]) == params["pageSize"]
    latencies.sort()
    return {"p50_ms": round(statistics.median(latencies), 2),
            "p95_ms": round(latencies[int(len(latencies) * 0.95) - 1], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()

    base = Settings()
    redis_server = RedisServer(Path(tempfile.mkdtemp(prefix="bench-listing-")), appendonly=False)
    redis_server.start()
    url = f"redis://127.0.0.1:{redis_server.port}/0"
    client = redis.Redis.from_url(url)
    before = int(client.info("memory")["used_memory"])
    settings = api_settings(base, redis_url=url, broker_url=None, result_backend=None,
                            queue=f"bf-bench-{uuid.uuid4().hex[:6]}", max_queued_tasks=0)
    server = ApiServer(settings).start()
    try:
        owner = server.app.state.api_keys.check(SCOPED_KEY_A).owner
        fill_s = fill(client, args.records, owner)
        per_record = (int(client.info("memory")["used_memory"]) - before) / args.records
        results: dict[str, Any] = {
            "records": args.records,
            "fill_s": round(fill_s, 1),
            "redis_bytes_per_record": round(per_record),
        }
        for page in (1, 1000):
            results[f"page_{page}"] = timed(
                server, FULL_KEY, {"pageSize": 10, "pageNumber": page}, args.rounds)
            results[f"page_{page}_owner"] = timed(
                server, SCOPED_KEY_A, {"pageSize": 10, "pageNumber": page}, args.rounds)
            results[f"page_{page}_status"] = timed(
                server, FULL_KEY, {"pageSize": 10, "pageNumber": page, "filterBy": "failed"}, args.rounds)
    finally:
        server.stop()
        redis_server.stop()
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged["listing"] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
