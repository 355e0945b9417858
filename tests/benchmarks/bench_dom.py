"""Benchmark ``capture_page`` on small, medium and 2,000-element pages.

Run: ``PYTHONPATH=. python tests/benchmarks/bench_dom.py [--out FILE] [--iterations N]``.
"cold" mutates a node before every capture so the whole page is walked again; "reused" captures
an unchanged page, which should cost one cheap round trip. Targets: p50 < 50 ms on the small
page, < 150 ms cold on the 2,000-element page.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import Page, Route, async_playwright

from workers.browser.launcher import launch_chromium
from workers.page.dom import INIT_SCRIPT, ElementIndex, PageCapture, capture_page

ITERATIONS = 30
TARGETS_MS = {"small": 50.0, "medium": 100.0, "large": 150.0, "widgets": 100.0}


def _small_page() -> str:
    links = "".join(f'<li><a href="/section/{i}">Section {i}</a></li>' for i in range(8))
    return f"""<!doctype html><html><head><title>Small</title></head><body>
<header><nav><ul>{links}</ul></nav></header>
<main><h1>Sign in</h1><p id="bump">Please sign in to continue to your account.</p>
<form><label>Email <input name="email" type="email" placeholder="you@example.com"></label>
<label>Password <input name="password" type="password"></label>
<label><input type="checkbox" name="remember"> Remember me</label>
<select name="lang"><option>English</option><option>Deutsch</option></select>
<button type="submit">Sign in</button><button type="button">Cancel</button></form>
<p><a href="/forgot">Forgot password?</a> <a href="/signup">Create account</a></p></main>
<footer><a href="/privacy">Privacy</a> <a href="/terms">Terms</a></footer></body></html>"""


def _card(i: int) -> str:
    return (
        f'<article class="card"><img alt="Product {i}" width="40" height="40">'
        f'<h3><a href="/product/{i}">Product number {i}</a></h3>'
        f"<p>A short description of product {i}, with <em>some</em> emphasis.</p>"
        f'<div class="row"><span class="price">{i}.99 EUR</span>'
        f'<button data-id="{i}">Add to cart</button>'
        f'<div style="cursor:pointer" class="fav"><span>♥</span> Save</div></div></article>'
    )


def _medium_page() -> str:
    nav = "".join(f'<a href="/cat/{i}">Category {i}</a>' for i in range(30))
    cards = "".join(_card(i) for i in range(90))
    return f"""<!doctype html><html><head><title>Medium</title>
<style>.card{{display:inline-block;width:300px;margin:4px;vertical-align:top}}</style></head>
<body><header><nav>{nav}</nav><input name="q" placeholder="Search products">
<button>Search</button></header><p id="bump">90 products</p><main>{cards}</main></body></html>"""


def _large_page() -> str:
    rows = "".join(
        f'<tr><td>{i}</td><td><a href="/item/{i}">Item {i}</a></td>'
        f'<td><input name="qty{i}" value="{i % 7}"></td>'
        f'<td><select name="opt{i}"><option>small</option><option>large</option></select></td>'
        f"<td><button>Edit</button></td><td><span>Note for row {i}</span></td></tr>"
        for i in range(500)
    )
    return f"""<!doctype html><html><head><title>Large</title></head><body>
<h1>Inventory</h1><p id="bump">500 rows</p><table><tbody>{rows}</tbody></table></body></html>"""


def _widgets_page() -> str:
    """An app-like page: clickable message rows with controls inside them, icon-only buttons
    made clickable by script, a tree with toggles. Here nesting adds lines by design."""
    rows = "".join(
        f'<div class="msg" tabindex="0"><b>Sender {i}</b> <span>Subject line {i}</span>'
        f'<span class="act">Reply</span> <span class="act">Forward</span>'
        f'<span class="ico icon-star"></span><span class="ico icon-trash"></span></div>'
        for i in range(40)
    )
    tree = "".join(
        f'<li role="treeitem" aria-expanded="false"><span class="toggle">▸</span> Folder {i}'
        f'<ul hidden><li>File {i}.txt</li></ul></li>'
        for i in range(20)
    )
    return f"""<!doctype html><html><head><title>Widgets</title>
<style>.ico{{display:inline-block;width:16px;height:16px}}</style></head><body>
<p id="bump">inbox</p><ul role="tree">{tree}</ul>{rows}
<script>
for (const n of document.querySelectorAll('.act, .ico, .toggle, .msg')) {{
  n.addEventListener('click', () => {{}});
}}
</script></body></html>"""


PAGES = {"small": _small_page, "medium": _medium_page, "large": _large_page, "widgets": _widgets_page}


def _server(html: str) -> Callable[[Route], Awaitable[None]]:
    async def serve(route: Route) -> None:
        await route.fulfill(body=html, content_type="text/html; charset=utf-8")

    return serve


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(p95, 2)}


async def _measure(page: Page, cold: bool, iterations: int) -> tuple[dict[str, float], bool]:
    """Time ``iterations`` captures; returns percentiles and whether every one was reused."""
    previous: tuple[PageCapture, ElementIndex] = await capture_page(page)
    samples: list[float] = []
    reused_all = True
    for i in range(iterations):
        if cold:
            await page.evaluate(f"document.getElementById('bump').textContent = 'change {i}'")
        started = time.perf_counter()
        previous = await capture_page(page, previous=previous)
        samples.append((time.perf_counter() - started) * 1000)
        reused_all = reused_all and previous[0].reused
    return _percentiles(samples), reused_all


async def _run(iterations: int) -> dict[str, Any]:
    results: dict[str, Any] = {"iterations": iterations, "pages": {}}
    async with async_playwright() as playwright:
        browser = await launch_chromium(playwright)
        try:
            context = await browser.new_context(viewport={"width": 1280, "height": 800})
            await context.add_init_script(script=INIT_SCRIPT)
            for name, build in PAGES.items():
                page = await context.new_page()
                await page.route("http://bench.test/**", _server(build()))
                await page.goto(f"http://bench.test/{name}")
                capture, _ = await capture_page(page)
                cold, _ = await _measure(page, cold=True, iterations=iterations)
                reused, all_reused = await _measure(page, cold=False, iterations=iterations)
                results["pages"][name] = {
                    "elements": capture.element_count,
                    "elements_text_chars": len(capture.elements_text),
                    "page_text_chars": len(capture.page_text),
                    "dom_nodes": await page.evaluate("document.getElementsByTagName('*').length"),
                    "cold": cold,
                    "reused": reused,
                    "reused_every_time": all_reused,
                    "target_p50_ms": TARGETS_MS[name],
                }
                await page.close()
        finally:
            await browser.close()
    return results


def run(iterations: int = ITERATIONS) -> dict[str, Any]:
    """Run the benchmark and return the numbers (also what ``--out`` writes)."""
    return asyncio.run(_run(iterations))


def _table(results: dict[str, Any]) -> str:
    head = (
        f"{'page':<8}{'elements':>9}{'text chars':>11}{'nodes':>7}"
        f"{'cold p50':>10}{'cold p95':>10}{'reused p50':>12}{'reused p95':>12}  target p50"
    )
    rows = [head, "-" * len(head)]
    for name, r in results["pages"].items():
        rows.append(
            f"{name:<8}{r['elements']:>9}{r['elements_text_chars']:>11}{r['dom_nodes']:>7}"
            f"{r['cold']['p50_ms']:>10.1f}{r['cold']['p95_ms']:>10.1f}"
            f"{r['reused']['p50_ms']:>12.1f}{r['reused']['p95_ms']:>12.1f}"
            f"  < {r['target_p50_ms']:.0f} ms"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--iterations", type=int, default=ITERATIONS)
    args = parser.parse_args(argv)
    results = run(args.iterations)
    print(_table(results))
    if args.out:  # merged under "dom": the other benchmarks write their own sections
        existing = json.loads(args.out.read_text()) if args.out.exists() else {}
        existing["dom"] = results
        args.out.write_text(json.dumps(existing, indent=2) + "\n", encoding="utf-8")
    slow = [
        name
        for name, r in results["pages"].items()
        if r["cold"]["p50_ms"] > r["target_p50_ms"] or not r["reused_every_time"]
    ]
    if slow:
        print(f"over target or not reused: {', '.join(slow)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
