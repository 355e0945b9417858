"""Benchmark browser sessions: start time, and what the cdpUrl relay adds to each CDP message.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_cdp.py [--out FILE] [--sessions N] [--calls N]``
(needs Redis and Chromium; ``REDIS_URL`` picks the database, for the API and the worker alike).
A real worker subprocess and a real uvicorn API: ``start`` is the time from ``POST /browsers``
to its ``/json/version`` answering (queue, worker slot, Chromium launch, relay registration).
Then, on one page, sequential round trips of ``Runtime.evaluate("1+1")`` (small messages) and
``Page.captureScreenshot`` (a ~100 kB answer), through the ``cdpUrl`` (client → API → worker
relay, filtered → Chromium) and, for comparison, straight to Chromium's DevTools port on the
worker (read from its data directory: the port callers never get). Results are merged into
``tests/benchmarks/results.json`` under ``"cdp"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from shared.settings import Settings  # noqa: E402
from tests.conftest import base_env  # noqa: E402
from tests.support.api import FULL_KEY, ApiServer, api_settings  # noqa: E402
from tests.support.workers import WorkerProcess  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
PAGE = "data:text/html,<title>bench</title><h1>" + "lorem ipsum " * 400 + "</h1>"


def _wait_started(cdp_url: str, timeout: float = 120) -> httpx.Response:
    """``{cdpUrl}/json/version`` once the browser is up (bounded: a bench must stop by itself)."""
    deadline = time.monotonic() + timeout
    while (version := httpx.get(cdp_url + "/json/version")).status_code != 200:
        if time.monotonic() > deadline:
            raise TimeoutError(f"the browser did not start in {timeout}s: {version.text}")
        time.sleep(0.01)
    return version


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[int(len(ordered) * 0.95) - 1] * 1000, 2),
    }


async def _round_trips(ws_url: str, calls: int) -> dict[str, Any]:
    async with websockets.connect(ws_url, max_size=None) as ws:
        ident = 0

        async def call(method: str, params: dict[str, Any], session: str | None = None) -> dict[str, Any]:
            nonlocal ident
            ident += 1
            message: dict[str, Any] = {"id": ident, "method": method, "params": params}
            if session:
                message["sessionId"] = session
            await ws.send(json.dumps(message))
            while True:
                answer = json.loads(await ws.recv())
                if answer.get("id") == ident:
                    return dict(answer)

        target = (await call("Target.createTarget", {"url": PAGE}))["result"]["targetId"]
        session = (await call("Target.attachToTarget", {"targetId": target, "flatten": True}))["result"][
            "sessionId"
        ]
        small, shots = [], []
        for _ in range(calls):
            started = time.perf_counter()
            await call("Runtime.evaluate", {"expression": "1+1", "returnByValue": True}, session)
            small.append(time.perf_counter() - started)
        size = 0
        for _ in range(max(10, calls // 10)):
            started = time.perf_counter()
            shot = await call("Page.captureScreenshot", {"format": "png"}, session)
            shots.append(time.perf_counter() - started)
            size = len(shot["result"]["data"])
        await call("Target.closeTarget", {"targetId": target})
        return {"evaluate": _stats(small), "screenshot": {**_stats(shots), "base64_bytes": size}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    queue = f"bf-bench-cdp-{uuid.uuid4().hex[:8]}"
    data_dir = Path(tempfile.mkdtemp(prefix="bf-bench-cdp-"))
    env = {
        **base_env("http://127.0.0.1:9/v1"),
        "BROWSERFLEET_QUEUE": queue,
        "BROWSERFLEET_BROWSER_DATA_DIR": str(data_dir),
        "BROWSERFLEET_LEASE_TTL_S": "10",
    }
    settings = api_settings(Settings(), queue=queue)
    env["REDIS_URL"] = settings.redis_url  # the worker and the API share one database
    worker = WorkerProcess(env, queue, data_dir / "worker.log", concurrency=2)
    server = ApiServer(settings).start()
    results: dict[str, Any] = {}
    try:
        with httpx.Client(
            base_url=server.base, headers={"X-Browser-Use-API-Key": FULL_KEY}, timeout=60
        ) as http:
            starts = []
            for _ in range(args.sessions):
                started = time.perf_counter()
                created = http.post("/browsers", json={"timeout": 5}).json()
                _wait_started(created["cdpUrl"])
                starts.append(time.perf_counter() - started)
                http.patch(f"/browsers/{created['id']}", json={"action": "stop"})
            results["start"] = _stats(starts)
            created = http.post("/browsers", json={"timeout": 10}).json()
            version = _wait_started(created["cdpUrl"])
            relayed = version.json()["webSocketDebuggerUrl"]
            port_file = next(data_dir.glob("bf-browser-*/profile/DevToolsActivePort"))
            port, path = port_file.read_text().split()
            direct = f"ws://127.0.0.1:{port}{path}"
            results["through_cdp_url"] = asyncio.run(_round_trips(relayed, args.calls))
            results["direct_devtools"] = asyncio.run(_round_trips(direct, args.calls))
            http.patch(f"/browsers/{created['id']}", json={"action": "stop"})
        results["load_average_at_end"] = list(os.getloadavg())
    finally:
        server.stop()
        worker.stop()
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged["cdp"] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
