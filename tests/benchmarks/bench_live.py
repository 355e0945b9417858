"""Benchmark the live view: what a viewer receives, how late, and what casting costs.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_live.py [--out FILE] [--seconds S]``
(needs Redis and Chromium). The real pieces, in one process: a Chromium page that repaints
constantly (a CSS animation, the worst case for a screencast), the worker's caster publishing
to Redis (``workers/watch/live_view.py``), the real API (uvicorn) and an SSE client reading the task's
live stream, as the viewer page does. Measured with the default limits:

- frames/s and kB/s the viewer received, and frames Chromium painted (what the limits cut);
- lag: publish on the worker -> parsed by the viewer (p50/p95);
- machine CPU (system-wide ``/proc/stat``, so Chromium's renderer and GPU processes count) while
  the same page animates unwatched vs watched; the machine is shared, so this is indicative;
- one per-frame secret check (``page_shows_secret``) on a small and a 2,000-element page.

Results are merged into ``tests/benchmarks/results.json`` under ``"live"``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from playwright.async_api import async_playwright  # noqa: E402

from producer import Producer  # noqa: E402
from shared.settings import Settings  # noqa: E402
from tests.support.api import ApiServer, api_settings  # noqa: E402
from workers.browser.launcher import launch_chromium  # noqa: E402
from workers.browser.tabs import BrowserTabs  # noqa: E402
from workers.secrets.exposure import page_shows_secret  # noqa: E402
from workers.secrets.vault import SecretVault  # noqa: E402
from workers.watch.live_view import live_view  # noqa: E402

RESULTS = ROOT / "tests" / "benchmarks" / "results.json"
ANIMATED = """<!doctype html><html><body style="margin:0;font-family:sans-serif">
<style>@keyframes spin { to { transform: rotate(360deg); } }
#box { width:300px; height:300px; margin:40px; background:linear-gradient(45deg,#09f,#f90);
       animation: spin 2s linear infinite; }</style>
<h1>An animated page</h1><div id="box"></div>
<p>Some text so that the frame is not trivial to compress. Lorem ipsum dolor sit amet.</p>
</body></html>"""
LARGE = "<!doctype html><body>" + "".join(
    f"<div><a href='/x{i}'>link {i}</a> <input value='v{i}'> text {i}</div>" for i in range(2000)
) + "</body>"


def _cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


class Viewer(threading.Thread):
    """Reads ``/live/{token}/events`` like the viewer page; records frame sizes and lags."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.frames: list[tuple[float, int, float]] = []  # (received, bytes, lag)
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=None) as client, client.stream("GET", self.url) as response:
            for line in response.iter_lines():
                if self.stop.is_set():
                    return
                if not line.startswith("data: "):
                    continue
                event = json.loads(line[6:])
                if event.get("type") == "frame":
                    now = time.time()
                    self.frames.append((now, len(event["data"]) * 3 // 4, now - event["at"]))


async def _bench(settings: Settings, server: ApiServer, producer: Producer, seconds: float) -> dict[str, Any]:
    created = producer.create_task({"task": "bench live view"})
    task_id = str(created.id)
    links = producer.stores.live
    token = links.task_token(task_id)
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        await context.new_page()
        tabs = BrowserTabs(context)
        page = await tabs.page()
        await page.set_content(ANIMATED)
        frames = producer.stores.frames
        async with live_view(links, frames, task_id, tabs, SecretVault(), settings) as cast:
            busy0, total0 = _cpu()
            await asyncio.sleep(seconds)  # animating, nobody watching
            busy1, total1 = _cpu()
            unwatched_received = cast.counters.received
            viewer = Viewer(f"{server.url}/live/{token}/events")
            viewer.start()
            while not viewer.frames:
                await asyncio.sleep(0.05)
            received0, busy2, total2, t0 = cast.counters.received, *_cpu(), time.time()
            await asyncio.sleep(seconds)
            busy3, total3, t1 = *_cpu(), time.time()
            painted = cast.counters.received - received0
            viewer.stop.set()
        frames = [f for f in viewer.frames if t0 <= f[0] <= t1]
        lags = sorted(f[2] for f in viewer.frames)
        small = SecretVault({"pw": "not-on-this-page-1234567"})
        checks: dict[str, float] = {}
        for name, html in (("small_page", ANIMATED), ("elements_2000", LARGE)):
            await page.set_content(html)
            timings = []
            for _ in range(30):
                started = time.perf_counter()
                await page_shows_secret(page, small)
                timings.append(time.perf_counter() - started)
            checks[name] = round(statistics.median(timings) * 1000, 2)
        await browser.close()
    cores = os.cpu_count() or 1
    window = t1 - t0
    return {
        "limits": {"fps": settings.live_fps, "max_bytes_per_s": settings.live_max_bytes_per_s,
                   "quality": settings.live_jpeg_quality, "max_width": settings.live_max_width},
        "seconds": seconds,
        "unwatched_frames_from_chromium": unwatched_received,
        "watched": {
            "frames_per_s": round(len(frames) / window, 2),
            "kB_per_s": round(sum(f[1] for f in frames) / window / 1000, 1),
            "frame_kB_p50": round(statistics.median(f[1] for f in frames) / 1000, 1),
            "painted_per_s": round(painted / window, 1),
            "lag_p50_ms": round(lags[len(lags) // 2] * 1000, 1),
            "lag_p95_ms": round(lags[int(len(lags) * 0.95) - 1] * 1000, 1),
        },
        "machine_cpu_cores": {
            "unwatched": round((busy1 - busy0) / (total1 - total0) * cores, 2),
            "watched": round((busy3 - busy2) / (total3 - total2) * cores, 2),
        },
        "secret_check_p50_ms": checks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    queue = f"bf-bench-{uuid.uuid4().hex[:8]}"
    settings = api_settings(Settings(), queue=queue, max_queued_tasks=0)
    server = ApiServer(settings).start()
    producer = Producer(settings)
    try:
        results = asyncio.run(_bench(settings, server, producer, args.seconds))
    finally:
        server.stop()
        redis.Redis.from_url(settings.broker).delete(queue)
    print(json.dumps(results, indent=2))
    merged = json.loads(args.out.read_text()) if args.out.exists() else {}
    merged["live"] = results
    args.out.write_text(json.dumps(merged, indent=2) + "\n")


if __name__ == "__main__":
    main()
