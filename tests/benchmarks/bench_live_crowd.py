"""Benchmark a public share link's crowd: N concurrent viewers of one share, on loopback.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_live_crowd.py [--out FILE] [--viewers N]
[--seconds S] [--code DIR]`` (needs ``redis-server``; no worker, no Chromium). The pieces:

- its own ``redis-server`` on a free port, so every connection and command is the API's or
  this script's (nothing else on the shared server is touched or counted);
- the real API in its own process (``uvicorn producer.api.app:app_factory``), so its CPU is
  its own (``/proc/<pid>/stat``); ``--code DIR`` runs another checkout's API (the numbers
  "before" a change);
- a session whose task is running (as far as the records say) with a public share; this
  script publishes what a worker would: a frame of ~12 kB four times a second (the default
  ``BROWSERFLEET_LIVE_FPS``) through the worker's own store call, and a step every 2 s;
- N viewers of the share in a separate process (asyncio, raw sockets), each reading the
  event stream as the viewer page does, and timing each frame from its publication.

Reported while all N watch: the API process's CPU (cores), its TCP connections to Redis,
the subscribers of the task's channel, frames delivered per viewer per second, frame lag
(publish -> parsed by a viewer; p50/p95/max) and the machine's load average. Results are
merged into ``tests/benchmarks/results.json`` under ``"live_crowd"`` (``"before"`` with ``--code``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from producer import Producer  # noqa: E402
from shared.live_frames import LiveFrames  # noqa: E402
from shared.models import TaskStatus, TaskStepView  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.task_store import utcnow  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
KEY = "bf-bench-crowd-key"
FPS = 4.0
FRAME_BYTES = 12_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {port}") from None
            time.sleep(0.1)


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_connections(pid: int, redis_port: int) -> int:
    """The process's established TCP connections to ``redis_port`` (its socket inodes in /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            remote_port = int(parts[2].rsplit(":", 1)[1], 16)
            if parts[9] in inodes and remote_port == redis_port and parts[3] == "01":
                count += 1
    return count


# -- the viewers (their own process) ------------------------------------------------------------
async def _viewer(port: int, path: str, lags: list[float], counts: list[int], index: int,
                  ready: Any, statuses: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 22)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    statuses[index] = int(head.split(b" ", 2)[1])
    ready.release()
    if statuses[index] != 200:
        return
    buffer = b""
    while True:
        size_line = await reader.readline()
        if not size_line:
            return
        size = int(size_line.strip() or b"0", 16)
        chunk = await reader.readexactly(size + 2)
        if size == 0:
            return
        buffer += chunk[:-2]
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            if event.startswith(b'data: {"type": "frame"'):
                at = float(event[event.rfind(b'"at": ') + 6 : event.rfind(b"}")])
                lags.append(time.time() - at)
                counts[index] += 1


def _viewers_process(port: int, path: str, viewers: int, seconds: float, out: Any) -> None:
    async def run() -> None:
        lags: list[float] = []
        counts = [0] * viewers
        statuses = [0] * viewers
        ready = asyncio.Semaphore(0)
        tasks = []
        for i in range(viewers):
            tasks.append(asyncio.ensure_future(_viewer(port, path, lags, counts, i, ready, statuses)))
            if i % 50 == 49:
                await asyncio.sleep(0.05)  # a crowd arrives over a moment, not in one SYN burst
        for _ in range(viewers):
            await asyncio.wait_for(ready.acquire(), 120)
        out.put({"event": "connected", "statuses": statuses})
        await asyncio.sleep(2)  # settle: every viewer has its snapshot
        lags.clear()
        counts[:] = [0] * viewers
        started = time.time()
        out.put({"event": "window", "at": started})
        await asyncio.sleep(seconds)
        window = time.time() - started
        out.put({"event": "done", "lags": lags, "counts": counts, "window": window})
        for task in tasks:
            task.cancel()

    asyncio.run(run())


# -- the run -----------------------------------------------------------------------------------------
def _frame_message(at: float) -> str:
    data = base64.b64encode(os.urandom(FRAME_BYTES)).decode()
    return json.dumps({"type": "frame", "data": data, "at": at})  # shared/live_events.py's format


def run(viewers: int, seconds: float, code: Path) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bf-crowd-"))
    redis_port, api_port = _free_port(), _free_port()
    redis_proc = subprocess.Popen(
        [shutil.which("redis-server") or "redis-server", "--port", str(redis_port), "--bind", "127.0.0.1",
         "--save", "", "--appendonly", "no", "--dir", str(workdir), "--maxclients", "10000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    api_proc = None
    try:
        _wait_port(redis_port)
        url = f"redis://127.0.0.1:{redis_port}/0"
        env = {
            **os.environ, "PYTHONPATH": str(code), "BROWSERFLEET_REDIS_URL": url, "REDIS_URL": url,
            "BROWSERFLEET_API_KEYS": KEY, "BROWSERFLEET_QUEUE": "bf-crowd",
            "BROWSERFLEET_MAX_QUEUED_TASKS": "0",
            "BROWSERFLEET_LIVE_MAX_VIEWERS": str(viewers + 10),
            "BROWSERFLEET_LIVE_MAX_VIEWERS_PER_LINK": str(viewers + 10),
            "BROWSERFLEET_LIVE_MAX_VIEWERS_PER_CLIENT": "0",  # every viewer comes from 127.0.0.1 here
        }
        api_proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "producer.api.app:app_factory", "--factory",
             "--host", "127.0.0.1", "--port", str(api_port), "--log-level", "warning", "--backlog", "2048"],
            cwd=str(code), env=env,
        )
        _wait_port(api_port)
        settings = Settings(redis_url=url, queue="bf-crowd", max_queued_tasks=0, api_keys=[KEY])
        producer = Producer(settings)
        client = redis.Redis.from_url(url, decode_responses=True)
        headers = {"X-Browser-Use-API-Key": KEY}
        base = f"http://127.0.0.1:{api_port}/api/v2"
        session_id = httpx.post(f"{base}/sessions", json={}, headers=headers).json()["id"]
        task_id = httpx.post(f"{base}/tasks", json={"task": "the crowd watches", "sessionId": session_id},
                             headers=headers).json()["id"]
        producer.store.transition(task_id, TaskStatus.started, [TaskStatus.created], started_at=utcnow())
        token = httpx.post(f"{base}/sessions/{session_id}/public-share", headers=headers).json()["shareToken"]

        out: Any = multiprocessing.Queue()
        clients = multiprocessing.Process(
            target=_viewers_process, args=(api_port, f"/live/{token}/events", viewers, seconds, out)
        )
        clients.start()
        connected = out.get(timeout=300)
        refused = sum(1 for s in connected["statuses"] if s != 200)
        frames = LiveFrames(client)
        store = producer.store
        window_started = None
        cpu0 = load0 = None
        step = 0
        next_step = time.monotonic()
        result: dict[str, Any] | None = None
        published = 0
        while result is None:
            tick = time.monotonic()
            message = _frame_message(time.time())
            frames.frame(task_id, message, FRAME_BYTES)
            published += window_started is not None
            if tick >= next_step:
                step += 1
                store.append_step(task_id, TaskStepView(
                    number=step, url="https://example.com/", memory="", evaluation_previous_goal="",
                    next_goal=f"step {step}", actions=['{"wait": {"seconds": 1}}'], results=["waited"],
                ))
                next_step = tick + 2.0
            while not out.empty():
                event = out.get()
                if event["event"] == "window":
                    window_started, cpu0, published = time.monotonic(), _cpu_s(api_proc.pid), 0
                    load0 = os.getloadavg()[0]
                    connections = _redis_connections(api_proc.pid, redis_port)
                    subscribers = client.pubsub_numsub(f"bf:task:{task_id}:live")[0][1]
                elif event["event"] == "done":
                    result = event
            time.sleep(max(0.0, 1.0 / FPS - (time.monotonic() - tick)))
        assert window_started is not None and cpu0 is not None and load0 is not None
        window = time.monotonic() - window_started
        api_cpu = (_cpu_s(api_proc.pid) - cpu0) / window
        clients.join(30)
        lags = sorted(result["lags"])
        counts = result["counts"]
        return {
            "viewers": viewers,
            "refused": refused,
            "seconds": round(window, 1),
            "frames_published_per_s": round(published / window, 2),
            "frame_kB": round(len(base64.b64encode(b"x" * FRAME_BYTES)) / 1000, 1),
            "api_cpu_cores": round(api_cpu, 3),
            "api_redis_connections": connections,
            "task_channel_subscribers": subscribers,
            "frames_per_viewer_per_s_p50": round(statistics.median(counts) / result["window"], 2),
            "frames_per_viewer_per_s_min": round(min(counts) / result["window"], 2),
            "frame_lag_ms": {
                "p50": round(lags[len(lags) // 2] * 1000, 1) if lags else None,
                "p95": round(lags[int(len(lags) * 0.95) - 1] * 1000, 1) if lags else None,
                "max": round(lags[-1] * 1000, 1) if lags else None,
            },
            "load_avg_1m": [round(load0, 2), round(os.getloadavg()[0], 2)],
        }
    finally:
        if api_proc is not None:
            api_proc.terminate()
            api_proc.wait(30)
        redis_proc.terminate()
        redis_proc.wait(30)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--viewers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose API is measured")
    args = parser.parse_args()
    results = run(args.viewers, args.seconds, args.code.resolve())
    results["code"] = "this checkout" if args.code.resolve() == ROOT else str(args.code)
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    crowd = merged.setdefault("live_crowd", {})
    crowd["before" if args.code.resolve() != ROOT else "after"] = {
        **results, "measured": time.strftime("%Y-%m-%d %H:%M"), "run_id": uuid.uuid4().hex[:6],
    }
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
