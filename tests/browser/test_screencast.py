"""The screencast against real Chromium: only while watched, within its limits, never a secret.

Pages are ``data:``/``set_content`` documents; a CSS animation makes Chromium repaint
constantly, so frames would flow as fast as it can paint if nothing bounded them.
Bounds are checked as lower bounds on the time between sends (the caster sleeps to
honour them), never as durations.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import pytest
from playwright.async_api import Browser

from tests.support.http_server import serving
from workers.browser.tabs import BrowserTabs
from workers.secrets.vault import SecretVault
from workers.watch.screencast import CastLimits, Screencast

T = TypeVar("T")

ANIMATED = """<!doctype html><html><body style="margin:0">
<style>@keyframes spin { to { transform: rotate(360deg); } }
#box { width:300px; height:300px; margin:40px; background:linear-gradient(45deg,#09f,#f90);
       animation: spin 0.5s linear infinite; }</style>
<div id="box"></div><input id="field"><p id="echo"></p>
<script>document.getElementById('field').oninput = (e) => {
  document.getElementById('echo').textContent = e.target.value; };</script>
</body></html>"""
SECRET = "correct-horse-battery-staple-77"


@dataclass
class Sink:
    sent: list[tuple[float, int]] = field(default_factory=list)
    withheld_at: list[float] = field(default_factory=list)
    dropped_count: int = 0

    async def frame(self, data_b64: str, size: int) -> None:
        self.sent.append((time.monotonic(), size))

    async def withheld(self) -> None:
        self.withheld_at.append(time.monotonic())

    async def dropped(self) -> None:
        self.dropped_count += 1


class Viewers:
    def __init__(self, count: int = 0) -> None:
        self.count = count
        self.polls = 0

    async def __call__(self) -> int:
        self.polls += 1
        return self.count


async def _until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.05)


def _run(loop: asyncio.AbstractEventLoop, coro: Awaitable[T]) -> T:
    return loop.run_until_complete(coro)  # type: ignore[arg-type]


async def _cast(
    browser: Browser, limits: CastLimits, viewers: Viewers, body: Callable[..., Awaitable[None]],
    vault: SecretVault | None = None,
) -> tuple[Sink, Screencast]:
    context = await browser.new_context(viewport={"width": 800, "height": 600})
    await context.new_page()
    tabs = BrowserTabs(context)
    page = await tabs.page()
    await page.set_content(ANIMATED)
    sink = Sink()
    cast = Screencast(tabs, vault or SecretVault(), sink, viewers, limits)
    task = asyncio.get_running_loop().create_task(cast.run())
    try:
        await body(sink, cast, tabs)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await context.close()
    return sink, cast


def test_no_viewer_no_screencast(loop: asyncio.AbstractEventLoop, browser: Browser) -> None:
    viewers = Viewers(0)

    async def body(sink: Sink, cast: Screencast, tabs: BrowserTabs) -> None:
        await _until(lambda: viewers.polls >= 5)

    sink, cast = _run(loop, _cast(browser, CastLimits(poll_s=0.05), viewers, body))
    assert cast.counters.received == 0 and sink.sent == []


def test_casts_while_watched_and_stops_after(loop: asyncio.AbstractEventLoop, browser: Browser) -> None:
    viewers = Viewers(1)

    async def body(sink: Sink, cast: Screencast, tabs: BrowserTabs) -> None:
        await _until(lambda: len(sink.sent) >= 3)
        viewers.count = 0
        polls = viewers.polls
        await _until(lambda: viewers.polls >= polls + 2)  # the caster saw nobody is watching
        received = cast.counters.received
        await _until(lambda: viewers.polls >= polls + 8)
        assert cast.counters.received <= received + 1  # at most one frame already in flight

    _run(loop, _cast(browser, CastLimits(poll_s=0.05, fps=10), viewers, body))


def test_frame_rate_is_bounded(loop: asyncio.AbstractEventLoop, browser: Browser) -> None:
    async def body(sink: Sink, cast: Screencast, tabs: BrowserTabs) -> None:
        await _until(lambda: len(sink.sent) >= 5)

    sink, cast = _run(loop, _cast(browser, CastLimits(poll_s=0.05, fps=4), Viewers(1), body))
    gaps = [b[0] - a[0] for a, b in zip(sink.sent, sink.sent[1:], strict=False)]
    assert min(gaps) >= 0.25 - 0.01, gaps
    assert cast.counters.received > len(sink.sent)  # Chromium painted more than was sent


def test_bandwidth_is_bounded(loop: asyncio.AbstractEventLoop, browser: Browser) -> None:
    budget = 60_000  # bytes/s: a few frames of this page per second at most

    async def body(sink: Sink, cast: Screencast, tabs: BrowserTabs) -> None:
        await _until(lambda: len(sink.sent) >= 6, timeout=40)

    limits = CastLimits(poll_s=0.05, fps=30, max_bytes_per_s=budget, quality=90)
    sink, _ = _run(loop, _cast(browser, limits, Viewers(1), body))
    start = sink.sent[0][0]
    total = 0
    for at, size in sink.sent:
        total += size
        # never more than the budget per second since the first frame, plus one second's burst
        assert total <= budget * (at - start) + budget + 1, (total, at - start)


def test_frame_larger_than_the_budget_is_never_sent(
    loop: asyncio.AbstractEventLoop, browser: Browser
) -> None:
    async def body(sink: Sink, cast: Screencast, tabs: BrowserTabs) -> None:
        await _until(lambda: sink.dropped_count >= 3)

    sink, _ = _run(loop, _cast(browser, CastLimits(poll_s=0.05, max_bytes_per_s=100), Viewers(1), body))
    assert sink.sent == []


def test_frames_are_withheld_while_a_secret_is_typed_or_shown(
    loop: asyncio.AbstractEventLoop, browser: Browser
) -> None:
    vault = SecretVault({"pw": SECRET})

    async def body(sink: Sink, cast: Screencast, tabs: BrowserTabs) -> None:
        page = await tabs.page()
        await _until(lambda: len(sink.sent) >= 2)
        with tabs.sealed(grace_s=0.5):  # what the agent does around an action that types a secret
            sent = len(sink.sent)
            await _until(lambda: len(sink.withheld_at) >= 2)
            assert len(sink.sent) <= sent + 1  # one frame may have been in delivery already
            await page.fill("#field", SECRET)
        sent = len(sink.sent)
        withheld = len(sink.withheld_at)
        await _until(lambda: len(sink.withheld_at) >= withheld + 5)  # page shows it: still withheld
        assert len(sink.sent) == sent
        await page.fill("#field", "")  # gone from the page: frames flow again
        await _until(lambda: len(sink.sent) >= sent + 2)

    _run(loop, _cast(browser, CastLimits(poll_s=0.05, fps=10), Viewers(1), body, vault=vault))


def test_follows_the_current_tab(loop: asyncio.AbstractEventLoop, browser: Browser) -> None:
    async def body(sink: Sink, cast: Screencast, tabs: BrowserTabs) -> None:
        first = await tabs.page()
        await _until(lambda: len(sink.sent) >= 1)
        second = await tabs.new_tab()
        await second.set_content(ANIMATED)
        await first.set_content("<p>still</p>")  # the old tab stops painting
        await _until(lambda: cast._page is second)
        sent = len(sink.sent)
        await _until(lambda: len(sink.sent) >= sent + 3)

    _run(loop, _cast(browser, CastLimits(poll_s=0.05, fps=10), Viewers(1), body))



SHOWS_SECRET = """<!doctype html><html><body style="margin:0;background:#fff">
<style>@keyframes spin { to { transform: rotate(360deg); } }
#spin { width:60px; height:60px; background:#09f; animation: spin 0.5s linear infinite; }
#big { font-size:120px; font-weight:900; color:#fff; background:#ff0000; }</style>
<div id="spin"></div><div id="big">SECRET</div></body></html>"""
NEXT = """<!doctype html><html><head><link rel="stylesheet" href="/slow.css"></head>
<body><p>the next page</p></body></html>"""

RED_SHARE_JS = """async (src) => {
  const img = new Image(); img.src = src; await img.decode();
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d'); ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let red = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] > 200 && data[i+1] < 70 && data[i+2] < 70) red++;
  return red / (canvas.width * canvas.height);
}"""


@pytest.fixture
def slow_site() -> Iterator[str]:
    """A page that shows a secret (in a big red box, repainting constantly), and a next page whose
    render-blocking stylesheet takes 2 s: Chromium keeps showing the old page's pixels meanwhile
    while the DOM is already the next page's."""

    def route(path: str) -> tuple[bytes, dict[str, str]]:
        if path == "/slow.css":
            time.sleep(2)
            return b"p { color: #333 }", {"content-type": "text/css"}
        page = NEXT if path == "/next" else SHOWS_SECRET.replace("SECRET", SECRET)
        return page.encode(), {"content-type": "text/html"}

    with serving(route) as url:
        yield url


def test_a_frame_painted_before_the_secret_left_is_never_sent(
    loop: asyncio.AbstractEventLoop, browser: Browser, slow_site: str
) -> None:
    """The recorder's two-check rule, for live frames. A page shows a secret and repaints
    constantly, so a frame of it is nearly always waiting for delivery; the page navigates to one
    whose first paint waits 2 s for a stylesheet. The waiting frame, painted with the secret, is
    delivered after the navigation, and its check reads the next page's DOM: no secret. It must be
    withheld all the same (the check before it saw the secret; the page navigated after it was
    painted), and no frame sent may hold the red box."""
    vault = SecretVault({"pw": SECRET})
    frames: list[str] = []

    class Keeping(Sink):
        async def frame(self, data_b64: str, size: int) -> None:
            frames.append(data_b64)
            await super().frame(data_b64, size)

    async def scenario() -> tuple[list[float], float]:
        context = await browser.new_context(viewport={"width": 800, "height": 600})
        await context.new_page()
        tabs = BrowserTabs(context)
        page = await tabs.page()
        await page.goto(slow_site + "/")
        sink = Keeping()
        cast = Screencast(tabs, vault, sink, Viewers(1), CastLimits(poll_s=0.05, fps=4))
        task = asyncio.get_running_loop().create_task(cast.run())
        try:
            await _until(lambda: len(sink.withheld_at) >= 3)  # the secret page: withheld
            await page.goto(slow_site + "/next", wait_until="commit")
            await page.wait_for_load_state("load")
            await _until(lambda: len(sink.sent) >= 1)  # the next page, once painted, is shown
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        checker = await context.new_page()
        reds = [float(await checker.evaluate(RED_SHARE_JS, "data:image/jpeg;base64," + f)) for f in frames]
        await checker.set_content(SHOWS_SECRET.replace("SECRET", SECRET))
        control = base64.b64encode(await checker.screenshot(type="jpeg")).decode()
        detected = float(await checker.evaluate(RED_SHARE_JS, "data:image/jpeg;base64," + control))
        await context.close()
        return reds, detected

    reds, control = _run(loop, scenario())
    assert control > 0.05  # the detector sees the box when it is there
    leaked = [round(r, 3) for r in reds if r > 0.01]
    assert not leaked, f"frames sent with the secret's red box: {leaked} (of {len(reds)} sent)"
