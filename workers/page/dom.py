"""Page state for the LLM: interactive elements, visible text and scroll position.

One ``frame.evaluate`` per frame (all frames concurrently) walks the DOM including open and
closed shadow roots and returns preformatted element lines; elements stay registered in the
frame so an index from the prompt can be turned back into an ``ElementHandle``. A mutation
counter installed by ``INIT_SCRIPT`` lets an unchanged page skip the walk entirely.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import dataclasses
import logging
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import ElementHandle, Frame, Page
from playwright.async_api import Error as PlaywrightError

log = logging.getLogger(__name__)

_HERE = Path(__file__).parent

INIT_SCRIPT: str = (_HERE / "dom_init.js").read_text(encoding="utf-8")
"""Pass to ``context.add_init_script(script=INIT_SCRIPT)`` before any page loads."""

# The init script is idempotent, so every call carries it: frames that existed before the
# context got the init script (or that Chromium created without running it) still work, only
# without closed-shadow-root support.
_CALL_JS = (
    "(req) => {\n"
    + INIT_SCRIPT
    + "\nreturn ("
    + (_HERE / "dom.js").read_text(encoding="utf-8").strip()
    + ")(req);\n}"
)

_HANDLE_JS = """([i, id]) => {
  const s = window[Symbol.for('browserfleet')];
  if (!s || s.captureId !== id) return null;
  const el = s.elements[i];
  return el && el.isConnected ? el : null;
}"""

# Bounds for a page that does not answer (a script in an endless loop), sized for a machine
# whose renderers are starved of CPU (2 cores, 32 tasks: a capture may wait seconds for its
# turn). Too tight, and a busy machine makes steps fail instead of slower: the model gets an
# empty page, or is told a button it just saw is gone.
_MAIN_FRAME_TIMEOUT = 20.0
_CHILD_FRAME_TIMEOUT = 6.0
_HANDLE_TIMEOUT = 15.0
_CAPTURE_TIMEOUT = 30.0
_URL_CHARS = 100


class UnknownElementError(LookupError):
    """The model referred to an element index the current page does not have."""


@dataclass(frozen=True)
class ScrollInfo:
    """Main-frame scroll position, so the model knows whether scrolling can reveal more."""

    pixels_above: int
    pixels_below: int
    viewport_height: int


@dataclass
class PageCapture:
    """What the LLM sees of a page in one step."""

    url: str
    title: str
    elements_text: str
    element_count: int
    page_text: str
    scroll: ScrollInfo
    reused: bool


@dataclass(frozen=True)
class _FrameCapture:
    """One frame's share of a capture; kept so an unchanged frame can be reused as is."""

    frame: Frame
    depth: int
    url: str
    token: str
    capture_id: str
    bodies: tuple[str, ...]
    text: str
    text_length: int
    tops: tuple[int, ...] = ()  # document-relative y of each element (main frame windowing)


class ElementIndex:
    """Maps the global indices of the last capture to (frame, local index)."""

    def __init__(self, frames: Sequence[_FrameCapture], text_chars: int = 0) -> None:
        self._frames = tuple(frames)
        self._text_chars = text_chars  # a capture cut to another length cannot be reused
        self._starts: list[int] = []
        total = 0
        for fc in self._frames:
            self._starts.append(total)
            total += len(fc.bodies)
        self._total = total

    def __len__(self) -> int:
        return self._total

    def __contains__(self, index: object) -> bool:
        return isinstance(index, int) and 0 <= index < self._total

    def _locate(self, index: int) -> tuple[_FrameCapture, int]:
        if index not in self:
            valid = f"valid: 0..{self._total - 1}" if self._total else "the page has none"
            raise UnknownElementError(f"element index {index} does not exist on the current page ({valid})")
        pos = bisect.bisect_right(self._starts, index) - 1
        # frames without elements share a start; bisect_right picks the last, which is the one
        # that actually holds the index
        return self._frames[pos], index - self._starts[pos]

    def describe(self, index: int) -> str:
        """The element's line as the model saw it, e.g. ``[3]<button>Save``."""
        fc, local = self._locate(index)
        return f"[{index}]{fc.bodies[local].lstrip(chr(9))}"

    def describe_near(self, index: int, local: int) -> str | None:
        """The line of element ``local`` (a frame-local index, as page scripts know it) of the
        frame that holds element ``index``; ``None`` if that capture has no such element."""
        fc, own = self._locate(index)
        if not 0 <= local < len(fc.bodies):
            return None
        return self.describe(index - own + local)

    def describe_main(self, local: int) -> str | None:
        """The line of main-frame element ``local`` (as page scripts know it), if listed."""
        if not self._frames or self._frames[0].depth != 0 or not 0 <= local < len(self._frames[0].bodies):
            return None
        return self.describe(local)

    def place(self, index: int) -> tuple[Frame, int, str, bool]:
        """Where element ``index`` lives: its frame, frame-local index, capture id, and whether
        the frame is the main one (page scripts know the element by the local index)."""
        fc, local = self._locate(index)
        return fc.frame, local, fc.capture_id, fc.depth == 0

    def gone(self, index: int) -> UnknownElementError:
        """The error for an element the page no longer has."""
        return UnknownElementError(
            f"element {self.describe(index)} is no longer on the page (the page changed "
            "since the last state); use the indices of the current state"
        )

    async def handle(self, index: int) -> ElementHandle:
        """A live handle on element ``index``; raises ``UnknownElementError`` if it is gone."""
        fc, local = self._locate(index)
        gone = self.gone(index)
        try:
            js = await asyncio.wait_for(
                fc.frame.evaluate_handle(_HANDLE_JS, [local, fc.capture_id]), _HANDLE_TIMEOUT
            )
        except TimeoutError as exc:  # busy or hung: the element may well be there
            raise UnknownElementError(
                f"the page did not answer in {_HANDLE_TIMEOUT:g}s when looking for {self.describe(index)}"
            ) from exc
        except PlaywrightError as exc:
            raise gone from exc
        element = js.as_element()
        if element is None:
            with contextlib.suppress(PlaywrightError):
                await js.dispose()
            raise gone
        return element

    # For highlight(): same frames and offsets as the capture that built this index.
    def _frame_offsets(self) -> list[tuple[_FrameCapture, int]]:
        return [(fc, start) for fc, start in zip(self._frames, self._starts, strict=True)]


def _ordered_frames(page: Page) -> list[tuple[Frame, int]]:
    """Main frame first, then child frames depth-first (the order indices are numbered in)."""
    out: list[tuple[Frame, int]] = []

    def visit(frame: Frame, depth: int) -> None:
        if frame.is_detached():
            return
        out.append((frame, depth))
        for child in frame.child_frames:
            visit(child, depth + 1)

    visit(page.main_frame, 0)
    return out


async def _evaluate(frame: Frame, request: dict[str, Any], timeout: float) -> Any:
    """Run the page script in one frame; errors and timeouts come back as values."""
    try:
        return await asyncio.wait_for(frame.evaluate(_CALL_JS, request), timeout)
    except (PlaywrightError, TimeoutError) as exc:
        return exc


def _short_url(url: str) -> str:
    return url if len(url) <= _URL_CHARS else url[: _URL_CHARS - 1] + "…"


def _page_text(frames: Sequence[_FrameCapture], limit: int) -> str:
    """Main-frame text, then each iframe's, cut at ``limit`` characters with a marker."""
    sections: list[tuple[str, int]] = []
    for fc in frames:
        if not fc.text:
            continue
        if fc.depth == 0:
            sections.append((fc.text, fc.text_length))
        else:
            header = f"\n--- iframe {_short_url(fc.url)} ---\n"
            sections.append((header + fc.text, len(header) + fc.text_length))
    shown: list[str] = []
    room = limit
    hidden = 0
    for text, full in sections:
        part = text[:room]
        shown.append(part)
        room -= len(part)
        hidden += full - len(part)
    out = "".join(shown).strip()
    if hidden > 0:
        out += f"…[truncated, {hidden} more chars]"
    return out


def _line(number: int, body: str) -> str:
    """``[n]<tag …>text``, after the tabs that give the element's nesting depth."""
    rest = body.lstrip("\t")
    return f"{body[: len(body) - len(rest)]}[{number}]{rest}"


def _elements_text(
    frames: Sequence[_FrameCapture], scroll: ScrollInfo | None = None, window_pages: float | None = None
) -> str:
    """The element lines; with ``window_pages``, main-frame elements more than that many
    viewports above or below the visible part are left out and counted instead."""
    lines: list[str] = []
    index = 0
    for fc in frames:
        if fc.depth and fc.bodies:
            lines.append(f"--- iframe {_short_url(fc.url)} ---")
        if (
            fc.depth == 0
            and window_pages is not None
            and scroll is not None
            and len(fc.tops) == len(fc.bodies)
        ):
            margin = window_pages * scroll.viewport_height
            low, high = scroll.pixels_above - margin, scroll.pixels_above + scroll.viewport_height + margin
            above = sum(1 for top in fc.tops if top < low)
            below = sum(1 for top in fc.tops if top > high)
            if above:
                lines.append(f"… {above} more elements above (scroll up to list them)")
            lines.extend(
                _line(index + i, body)
                for i, (body, top) in enumerate(zip(fc.bodies, fc.tops, strict=True))
                if low <= top <= high
            )
            if below:
                lines.append(f"… {below} more elements below (scroll down to list them)")
        else:
            lines.extend(_line(index + i, body) for i, body in enumerate(fc.bodies))
        index += len(fc.bodies)
    return "\n".join(lines)


def _scroll(result: dict[str, Any]) -> ScrollInfo:
    above = max(0, int(result.get("scrollY") or 0))
    height = max(0, int(result.get("innerHeight") or 0))
    total = int(result.get("scrollHeight") or 0)
    return ScrollInfo(pixels_above=above, pixels_below=max(0, total - height - above), viewport_height=height)


def _unavailable(page: Page, reason: str) -> tuple[PageCapture, ElementIndex]:
    """A capture that tells the model the page could not be read, instead of failing the step."""
    capture = PageCapture(
        url=page.url,
        title="",
        elements_text="",
        element_count=0,
        page_text=f"(page content unavailable: {reason})",
        scroll=ScrollInfo(0, 0, 0),
        reused=False,
    )
    return capture, ElementIndex([])


async def _capture_once(
    page: Page,
    text_chars: int,
    previous: tuple[PageCapture, ElementIndex] | None,
    window_pages: float | None = None,
) -> tuple[PageCapture, ElementIndex] | BaseException:
    frames = _ordered_frames(page)
    before: dict[Frame, _FrameCapture] = {}
    if previous is not None and previous[1]._text_chars == text_chars:
        before = {fc.frame: fc for fc in previous[1]._frames}
    else:
        previous = None
    requests = []
    for frame, depth in frames:
        old = before.get(frame)
        requests.append(
            _evaluate(
                frame,
                {
                    "op": "capture",
                    "since": old.token if old else "",
                    "captureId": old.capture_id if old else "",
                    "textChars": text_chars,
                    "child": depth > 0,
                },
                _CHILD_FRAME_TIMEOUT if depth else _MAIN_FRAME_TIMEOUT,
            )
        )
    results = await asyncio.gather(*requests)
    main = results[0]
    if not isinstance(main, dict):
        return main if isinstance(main, BaseException) else RuntimeError("no result")

    captured: list[_FrameCapture] = []
    all_unchanged = True
    for (frame, depth), result in zip(frames, results, strict=True):
        if not isinstance(result, dict):
            # detached, navigating or unresponsive iframe: leave it out, keep the rest
            log.debug("skipping frame %s: %s", frame.url, result)
            all_unchanged = False
            continue
        if result.get("invisible"):
            continue
        old = before.get(frame)
        if result.get("unchanged") and old is not None:
            captured.append(old)
            continue
        all_unchanged = False
        captured.append(
            _FrameCapture(
                frame=frame,
                depth=depth,
                url=str(result["href"]),
                token=str(result["token"]),
                capture_id=str(result["captureId"]),
                bodies=tuple(result["lines"].split("\n")) if result["lines"] else (),
                text=str(result["text"]),
                text_length=int(result["textLength"]),
                tops=tuple(int(t) for t in result.get("tops") or ()),
            )
        )

    scroll = _scroll(main)
    if (
        previous is not None
        and all_unchanged
        and [fc.frame for fc in captured] == [fc.frame for fc in previous[1]._frames]
        and main["href"] == previous[0].url
    ):
        old_capture, old_index = previous
        shown = _elements_text(old_index._frames, scroll, window_pages)
        return dataclasses.replace(old_capture, scroll=scroll, elements_text=shown, reused=True), old_index

    index = ElementIndex(captured, text_chars)
    capture = PageCapture(
        url=str(main["href"]),
        title=str(main["title"]),
        elements_text=_elements_text(captured, scroll, window_pages),
        element_count=len(index),
        page_text=_page_text(captured, text_chars),
        scroll=scroll,
        reused=False,
    )
    return capture, index


async def capture_page(
    page: Page,
    *,
    text_chars: int = 6000,
    previous: tuple[PageCapture, ElementIndex] | None = None,
    timeout: float = _CAPTURE_TIMEOUT,
    window_pages: float | None = None,
) -> tuple[PageCapture, ElementIndex]:
    """Capture every visible frame of ``page``; reuse ``previous`` if nothing changed.

    Never raises for a page that is navigating or hung: after one retry it returns a capture
    with no elements whose page text says why. A closed page (or crashed browser) raises the
    Playwright error, so the caller can tell a dead browser from a busy page.

    ``window_pages`` keeps the element list short on long pages: only main-frame elements
    within that many viewport heights above or below the visible part are listed (the rest
    are counted, and their indices stay valid); ``None`` lists everything.
    """

    async def attempt_twice() -> tuple[PageCapture, ElementIndex]:
        outcome = await _capture_once(page, text_chars, previous, window_pages)
        if isinstance(outcome, tuple):
            return outcome
        if page.is_closed():
            raise outcome
        if isinstance(outcome, TimeoutError):  # a second look would only queue behind the first
            return _unavailable(page, "the page did not respond in time")
        # Most often "Execution context was destroyed": a navigation is under way.
        log.debug("capture failed, retrying after load: %s", outcome)
        with contextlib.suppress(PlaywrightError, TimeoutError):
            await page.wait_for_load_state("domcontentloaded", timeout=3000)
        outcome = await _capture_once(page, text_chars, previous, window_pages)
        if isinstance(outcome, tuple):
            return outcome
        if page.is_closed():
            raise outcome
        message = getattr(outcome, "message", None) or str(outcome) or type(outcome).__name__
        return _unavailable(page, message.splitlines()[0])

    try:
        return await asyncio.wait_for(attempt_twice(), timeout)
    except TimeoutError:
        return _unavailable(page, "the page did not respond in time")


# Frames holding an overlay, so unhighlight() need not visit every frame of a busy page.
_highlighted: weakref.WeakKeyDictionary[Page, list[Frame]] = weakref.WeakKeyDictionary()


async def _run_everywhere(calls: Sequence[tuple[Frame, dict[str, Any]]]) -> None:
    await asyncio.gather(
        *(
            _evaluate(frame, request, _CHILD_FRAME_TIMEOUT)
            for frame, request in calls
            if not frame.is_detached()
        )
    )


async def highlight(page: Page, index: ElementIndex) -> None:
    """Draw a numbered box on every listed element (all frames), e.g. for a screenshot."""
    calls: list[tuple[Frame, dict[str, Any]]] = [
        (fc.frame, {"op": "highlight", "offset": start, "captureId": fc.capture_id})
        for fc, start in index._frame_offsets()
        if fc.bodies
    ]
    drawn = [frame for frame, _ in calls]
    stale = [f for f in _highlighted.get(page, []) if f not in drawn]
    calls += [(frame, {"op": "unhighlight"}) for frame in stale]
    _highlighted[page] = drawn
    await _run_everywhere(calls)


async def unhighlight(page: Page) -> None:
    """Remove the boxes drawn by ``highlight``; harmless if there are none."""
    frames = _highlighted.pop(page, None)
    if frames is None:
        frames = [frame for frame, _ in _ordered_frames(page)]
    await _run_everywhere([(frame, {"op": "unhighlight"}) for frame in frames])
