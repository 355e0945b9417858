"""What the request guard costs: page loads through the egress proxy and the allowedDomains route,
bulk throughput through the proxy, and secret masking per step.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_guard.py [--iterations N]``. A local server
serves a page with 40 sub-resources (scripts, styles, images) and a 20 MB file; each page load
is timed in three set-ups: direct (no guard), proxy only (every task), proxy + allowedDomains
route (tasks that restrict domains).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright

from workers.browser.launcher import launch_chromium
from workers.egress.guard import BrowserGuard
from workers.policy.navigation import RequestPolicy
from workers.policy.network import NetworkPolicy
from workers.secrets.vault import SecretVault

BIG = b"x" * (20 * 1024 * 1024)


def _page() -> bytes:
    parts = [f'<script src="/s{i}.js"></script><link rel="stylesheet" href="/c{i}.css">' for i in range(10)]
    parts += [f'<img src="/i{i}.png" width="10" height="10">' for i in range(20)]
    return ("<!doctype html><title>Bench</title>" + "".join(parts) + "<p>done</p>").encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = _page() if self.path.startswith("/page") else BIG if self.path == "/big" else b"/* x */"
        self.send_response(200)
        self.send_header("content-type", "text/html" if self.path.startswith("/page") else "text/plain")
        self.send_header("content-length", str(len(body)))
        self.send_header("cache-control", "no-store")
        self.end_headers()
        with contextlib.suppress(ConnectionError):  # a page navigated away mid-response
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


_BULK_JS = """async () => {
  const t = performance.now();
  const body = await (await fetch('/big', {cache: 'no-store'})).arrayBuffer();
  return [body.byteLength, performance.now() - t];
}"""


async def _loads(browser: Browser, base: str, mode: str, iterations: int) -> dict[str, float]:
    domains = ["127.0.0.1"] if mode == "domains" else None
    policy = RequestPolicy.build(NetworkPolicy(allow_private=True), domains)
    guard = BrowserGuard(policy)
    async with guard.running():
        options = guard.context_options() if mode != "direct" else {}
        context = await browser.new_context(**options)
        if mode != "direct":
            await guard.attach(context)
        page = context.pages[0] if context.pages else await context.new_page()
        times = []
        for i in range(iterations + 2):
            start = time.perf_counter()
            await page.goto(f"{base}/page{i}", wait_until="load")
            if i >= 2:  # warm-up
                times.append((time.perf_counter() - start) * 1000)
        size, ms = await page.evaluate(_BULK_JS)
        mb_s = size / ms / 1e3
        await context.close()
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p90_ms": round(times[int(len(times) * 0.9)], 1),
            "bulk_MB_s": round(mb_s, 1)}


def _masking(iterations: int) -> dict[str, float]:
    vault = SecretVault({"password": "hunter2-s3cret", "api_key": "sk-live-" + "ab12" * 16, "pin": "4711"})
    line = "[12]<input name=q value=hello> Lorem ipsum dolor sit amet, consectetur adipiscing elit. "
    state = (line * 100)[:6000]
    start = time.perf_counter()
    for _ in range(iterations):
        vault.mask(state)
    result = {"mask_6000_chars_us": round((time.perf_counter() - start) / iterations * 1e6, 1)}
    # The review's hostile case (quadratic before: ~6 s): 6,000 'a's and an 81-char secret.
    hostile = SecretVault({"k": "a" * 80 + "b"})
    start = time.perf_counter()
    hostile.mask("a" * 6000)
    result["mask_hostile_6000_chars_ms"] = round((time.perf_counter() - start) * 1e3, 2)
    # The producer's limits: 50 secrets of 1,024 characters, over a 1 MB page.
    start = time.perf_counter()
    big = SecretVault({f"s{i}": (f"{i:04d}-" * 300)[:1024] for i in range(50)})
    result["vault_50x1024_build_ms"] = round((time.perf_counter() - start) * 1e3, 1)
    page = ("Lorem ipsum dolor sit amet. " * 40000)[:1_000_000]
    start = time.perf_counter()
    big.mask(page)
    result["mask_1MB_50_secrets_ms"] = round((time.perf_counter() - start) * 1e3, 1)
    return result


async def main(iterations: int) -> dict[str, Any]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    results: dict[str, Any] = {}
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        for mode in ("direct", "proxy", "domains"):
            results[mode] = await _loads(browser, base, mode, iterations)
        await browser.close()
    results["masking"] = _masking(200)
    server.shutdown()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="merge the result into this JSON file")
    args = parser.parse_args()
    result = asyncio.run(main(args.iterations))
    print(json.dumps(result, indent=2))
    if args.out is not None:
        existing = json.loads(args.out.read_text()) if args.out.exists() else {}
        existing["guard"] = result
        args.out.write_text(json.dumps(existing, indent=2) + "\n")
