"""Benchmark the HTTP API layer: latency and throughput of the routes clients hit most.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_api.py [--out FILE] [--requests N] [--clients C]``
(needs Redis; ``REDIS_URL`` picks it). A real uvicorn server (one process) in front of a queue
no worker consumes, so only the API, Redis and the broker write are measured:
``POST /tasks`` (validate, claim a one-off session, record, enqueue), ``GET /tasks/{id}/status``
(what SDKs poll), the same with ``If-None-Match`` (a 304 while nothing changed) and
``GET /tasks/{id}`` (the full view). ``server_cpu_ms`` is the server's CPU per request: the
process's CPU time minus the client threads' own (``time.thread_time``). Results are merged
into ``tests/benchmarks/results.json`` under ``"api"``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.settings import Settings  # noqa: E402
from tests.support.api import FULL_KEY, ApiServer, api_settings  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"


def _measure(
    server: ApiServer,
    method: str,
    paths: list[str],
    clients: int,
    body: Any = None,
    etags: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Send ``paths`` from ``clients`` threads (one keep-alive connection each).

    With ``etags`` (path -> ETag) every request is conditional and must answer 304.
    """
    latencies: list[float] = []
    client_cpu: list[float] = []
    lock = threading.Lock()
    chunks = [paths[i::clients] for i in range(clients)]

    def run(chunk: list[str]) -> None:
        local = []
        cpu_started = time.thread_time()
        with server.client(FULL_KEY) as client:
            for path in chunk:
                headers = {"If-None-Match": etags[path]} if etags else None
                started = time.perf_counter()
                response = client.request(method, path, json=body, headers=headers)
                local.append(time.perf_counter() - started)
                ok = response.status_code == 304 if etags else response.status_code < 300
                assert ok, (response.status_code, response.text)
        with lock:
            latencies.extend(local)
            client_cpu.append(time.thread_time() - cpu_started)

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    cpu_started = time.process_time()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    server_cpu = time.process_time() - cpu_started - sum(client_cpu)
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "clients": clients,
        "per_s": round(len(latencies) / wall, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
        "server_cpu_ms": round(server_cpu / len(latencies) * 1000, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    queue = f"bf-bench-{uuid.uuid4().hex[:8]}"
    settings = api_settings(Settings(), queue=queue, max_queued_tasks=0)
    server = ApiServer(settings).start()
    broker = redis.Redis.from_url(settings.broker)
    try:
        results = {
            "create": _measure(server, "POST", ["/tasks"] * args.requests, args.clients, {"task": "bench"}),
        }
        with server.client() as client:
            ids = [t["id"] for t in client.get("/tasks", params={"pageSize": 100}).json()["items"]]
        polls = [f"/tasks/{ids[i % len(ids)]}/status" for i in range(args.requests)]
        views = [f"/tasks/{ids[i % len(ids)]}" for i in range(args.requests)]
        results["status"] = _measure(server, "GET", polls, args.clients)
        with server.client() as client:
            etags = {path: client.get(path).headers.get("etag", "") for path in set(polls)}
        if all(etags.values()):
            results["status_not_modified"] = _measure(server, "GET", polls, args.clients, etags=etags)
        results["get"] = _measure(server, "GET", views, args.clients)
    finally:
        server.stop()
        broker.delete(queue)
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged["api"] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
