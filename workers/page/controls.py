"""Page-side checks and moves that make actions answer fast and say what happened.

Playwright's own actionability waits (visible, enabled, editable, not covered) spend the whole
action timeout before failing, and say little the model can use. These helpers look first
(one round trip) so an action can refuse at once with a useful observation: the field is
readonly, the button is covered by ``[k]<ul …>``, the box is already at its end.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import Any

from playwright.async_api import ElementHandle, Frame, Page, Position
from playwright.async_api import Error as PlaywrightError

# Where to click: a visible point of the element's own (not one of its listed children's),
# or what covers it. Centre first, then a grid; points outside the viewport never count.
# A point comes relative to the element (x, y) and to the frame's viewport (vx, vy).
_CLICK_TARGET_JS = """(el) => {
  const s = window[Symbol.for('browserfleet')];
  if (!el.isConnected) return { kind: 'gone' };
  if (el.disabled || el.getAttribute('aria-disabled') === 'true' ||
      (el.matches && el.matches(':disabled'))) return { kind: 'disabled' };
  let r = el.getBoundingClientRect();
  if (r.width < 1 || r.height < 1) return { kind: 'nobox' };
  const vw = window.innerWidth;
  const vh = window.innerHeight;
  if (r.top < 0 || r.left < 0 || r.bottom > vh || r.right > vw) {
    el.scrollIntoView({ block: 'center', inline: 'center', behavior: 'instant' });
    r = el.getBoundingClientRect();
  }
  // a link wrapped over two lines has two boxes, and its bounding box covers other text
  const boxes = [...el.getClientRects()].slice(0, 4).map((b) => [Math.max(b.left, 0),
    Math.min(b.right, vw), Math.max(b.top, 0), Math.min(b.bottom, vh)])
    .filter(([x0, x1, y0, y1]) => x1 - x0 >= 1 && y1 - y0 >= 1);
  if (!boxes.length) return { kind: 'offscreen' };
  const listed = s ? s.elements : [];
  const set = new Set(listed);
  const closed = s ? s.closedRoots : new WeakMap();
  const up = (n) => n.assignedSlot || n.parentElement ||
    (n.getRootNode && n.getRootNode().host) || null;
  const hitAt = (x, y) => {
    let h = document.elementFromPoint(x, y);
    for (let i = 0; h && i < 20; i++) {
      const root = h.shadowRoot || closed.get(h);
      const inner = root ? root.elementFromPoint(x, y) : null;
      if (!inner || inner === h) break;
      h = inner;
    }
    return h;
  };
  const labels = el.labels ? [...el.labels] : [];
  // own: the element (or an unlisted part of it, or its label); child: a control listed
  // inside it; through: the click goes to an ancestor (the element ignores pointer events);
  // covered: something else is on top
  const classify = (x, y) => {
    const hit = hitAt(x, y);
    if (!hit) return ['none', null];
    let child = false;
    for (let n = hit; n; n = up(n)) {
      if (n === el) return [child ? 'child' : 'own', hit];
      if (set.has(n)) child = true;
    }
    if (labels.some((l) => l.contains(hit))) return ['own', hit];
    for (let n = el; n; n = up(n)) if (n === hit) return ['through', hit];
    return ['covered', hit];
  };
  const points = boxes.map(() => [0.5, 0.5]);
  for (const fy of [0.5, 0.2, 0.8]) {
    for (const fx of [0.1, 0.3, 0.7, 0.9]) points.push([fx, fy]);
  }
  let child = null;
  let through = null;
  let cover = null;
  let coverAt = null;
  for (let i = 0; i < points.length; i++) {
    const [x0, x1, y0, y1] = boxes[i < boxes.length ? i : 0];
    const [fx, fy] = points[i];
    const x = x0 + (x1 - x0) * fx;
    const y = y0 + (y1 - y0) * fy;
    const [kind, hit] = classify(x, y);
    const point = { kind: 'point', x: x - r.left - el.clientLeft, y: y - r.top - el.clientTop,
      vx: x, vy: y };
    if (kind === 'own') return point;
    if (kind === 'child' && !child) child = point;
    if (kind === 'through' && !through) through = { ...point, force: true };
    if (kind === 'covered' && !cover) {
      cover = hit;
      coverAt = [x, y];
    }
  }
  if (child || through) return child || through;
  if (!cover) return { kind: 'offscreen' };
  // what covers it, for overlays.covering() to name by its widget's root if it is asked
  if (s && window.WeakRef) {
    s.coverHit = { cover: new WeakRef(cover), target: new WeakRef(el), x: coverAt[0], y: coverAt[1] };
  }
  let n = cover;
  while (n && !set.has(n)) n = up(n);
  const cls = (cover.getAttribute('class') || '').trim().split(/\\s+/)[0];
  const text = (cover.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 40);
  return {
    kind: 'covered',
    local: n ? listed.indexOf(n) : -1,
    what: '<' + cover.localName + (cover.id ? ' id=' + cover.id : cls ? ' class=' + cls : '') +
      '>' + text,
  };
}"""

# One round trip instead of a handle lookup, a look and Playwright's ~15 for a click: find
# element `i` of capture `id`, look where to click (as above) and, for a plain point, guard
# it: until the verdict is read, trusted pointer events whose path does not reach the element
# (or its label, or the host of its closed shadow root) are stopped, as Playwright's own
# hit-target check does, so a page that moved in between gets no stray click.
_CLICK_PLAN_JS = """([i, id]) => {
  const s = window[Symbol.for('browserfleet')];
  const el = s && s.captureId === id ? s.elements[i] : null;
  if (!el || !el.isConnected) return { kind: 'stale' };
  const target = (""" + _CLICK_TARGET_JS + """)(el);
  if (target.kind !== 'point' || target.force) return target;
  if (s.clickGuard) s.clickGuard.stop();
  const accept = new Set([el, ...(el.labels ? el.labels : [])]);
  for (let n = el; n;) {
    const root = n.getRootNode ? n.getRootNode() : null;
    n = root && root.host ? root.host : null;
    if (n && root.mode === 'closed') accept.add(n);
  }
  const verdict = { hits: 0, miss: '' };
  const TYPES = ['pointerdown', 'mousedown', 'pointerup', 'mouseup', 'click'];
  const on = (e) => {
    if (!e.isTrusted) return;
    if (!verdict.miss && e.composedPath().some((n) => accept.has(n))) {
      verdict.hits++;
      return;
    }
    const t = e.target;
    if (!verdict.miss && t && t.localName) {
      verdict.miss = '<' + t.localName + (t.id ? ' id=' + t.id : '') + '>';
    }
    e.preventDefault();
    e.stopImmediatePropagation();
  };
  const OPTS = { capture: true };
  for (const type of TYPES) window.addEventListener(type, on, OPTS);
  const guard = { verdict, stop: () => {
    for (const type of TYPES) window.removeEventListener(type, on, OPTS);
    if (s.clickGuard === guard) s.clickGuard = null;
  } };
  s.clickGuard = guard;
  s.setTimeout.call(window, guard.stop, 30000);  // never outlives a lost verdict for long
  return target;
}"""

_CLICK_VERDICT_JS = """() => {
  const s = window[Symbol.for('browserfleet')];
  const guard = s && s.clickGuard;
  if (!guard) return null;
  guard.stop();
  return guard.verdict;
}"""

# Resolve once nothing is pending (short timers, requests) and the page has been quiet: for
# `min` ms if nothing changed since the wait began (a plain field costs just that), else for
# `quiet` ms after the last change; after `max` ms whatever happens. Uses the page's original
# setTimeout, so waiting is not itself a pending timer.
_SETTLE_JS = """(el, [quiet, max, keyup]) => new Promise((resolve) => {
  const s = window[Symbol.for('browserfleet')];
  if (keyup && el.isConnected) {
    el.dispatchEvent(new KeyboardEvent('keyup', { bubbles: true, cancelable: true, composed: true,
      key: 'Unidentified' }));
  }
  if (!s || !s.busy) { resolve(false); return; }
  const t0 = performance.now();
  const MIN = 50;
  const tick = () => {
    s.flush();
    const now = performance.now();
    const still = s.changedAt <= t0 ? now - t0 >= MIN : now - s.changedAt >= quiet;
    const calm = s.busy() === 0 && still;
    if (calm || now - t0 >= max) resolve(calm);
    else s.setTimeout.call(window, tick, 25);
  };
  s.setTimeout.call(window, tick, 25);
})"""

_SCROLL_JS = """(el, f) => {
  const page = () => {
    const d = document.scrollingElement || document.documentElement;
    return { above: Math.round(window.scrollY),
      below: Math.max(0, Math.round(d.scrollHeight - window.innerHeight - window.scrollY)),
      height: window.innerHeight };
  };
  const scrollable = (n) => n.scrollHeight > n.clientHeight + 1 &&
    /(auto|scroll)/.test(getComputedStyle(n).overflowY);
  let n = el;
  while (n && n !== document.body && n !== document.documentElement && !scrollable(n)) {
    n = n.parentElement || (n.getRootNode && n.getRootNode().host) || null;
  }
  if (!el || !n || n === document.body || n === document.documentElement) {
    const before = window.scrollY;
    window.scrollBy({ top: f * window.innerHeight, behavior: 'instant' });
    return { page: page(), moved: Math.round(window.scrollY - before), box: null };
  }
  const before = n.scrollTop;
  n.scrollBy({ top: f * n.clientHeight, behavior: 'instant' });
  const top = n.scrollTop;
  return {
    page: page(),
    moved: Math.round(top - before),
    box: { self: n === el, tag: n.localName, above: Math.round(top),
      below: Math.max(0, Math.round(n.scrollHeight - n.clientHeight - top)),
      height: n.clientHeight },
  };
}"""


@dataclass(frozen=True)
class ClickTarget:
    """Where a click should land (``position`` relative to the element), or why it cannot."""

    kind: str  # point | covered | disabled | gone | nobox | offscreen | stale
    position: Position | None = None
    viewport: tuple[float, float] | None = None  # the same point in the frame's viewport
    force: bool = False  # the point reaches the element's ancestor: skip Playwright's hit check
    cover_local: int = -1  # frame-local index of the listed element (or widget) on top, if any
    cover_what: str = ""
    # filled in by overlays.covering(): whether what covers it is a popup a person would
    # close, and the field it belongs to
    transient: bool = False
    owner_local: int = -1  # frame-local index of that field, if listed
    owner_what: str = ""


@dataclass(frozen=True)
class ClickVerdict:
    """What the page saw of a guarded click: events that reached the element, or what got them."""

    hits: int
    miss: str

    @property
    def landed(self) -> bool:
        return self.hits > 0 and not self.miss


@dataclass(frozen=True)
class Extent:
    above: int
    below: int
    height: int


@dataclass(frozen=True)
class ScrollOutcome:
    moved: int
    page: Extent
    box: Extent | None
    box_is_element: bool = False
    box_tag: str = ""


async def click_target(handle: ElementHandle) -> ClickTarget:
    return _click_target(await handle.evaluate(_CLICK_TARGET_JS))


async def click_plan(frame: Frame, local: int, capture_id: str) -> ClickTarget:
    """``click_target`` of element ``local`` of capture ``capture_id`` in one round trip, with
    a guard on a plain point (read it with :func:`click_verdict` after the mouse went down);
    kind ``stale`` if the element is gone or the frame has been captured anew."""
    return _click_target(await frame.evaluate(_CLICK_PLAN_JS, [local, capture_id]))


async def click_verdict(frame: Frame) -> ClickVerdict | None:
    """The verdict of the guard :func:`click_plan` set, removing it; ``None`` if there is none
    (the document was replaced: the click navigated)."""
    try:
        raw: dict[str, Any] | None = await frame.evaluate(_CLICK_VERDICT_JS)
    except PlaywrightError:  # the click navigated and the old document is gone
        return None
    return None if raw is None else ClickVerdict(hits=int(raw["hits"]), miss=str(raw["miss"]))


def _click_target(raw: dict[str, Any]) -> ClickTarget:
    kind = str(raw.get("kind"))
    if kind == "point":
        position: Position = {"x": max(0.0, float(raw["x"])), "y": max(0.0, float(raw["y"]))}
        viewport = (float(raw["vx"]), float(raw["vy"])) if "vx" in raw else None
        return ClickTarget(kind, position=position, viewport=viewport, force=bool(raw.get("force")))
    if kind == "covered":
        return ClickTarget(kind, cover_local=int(raw.get("local", -1)), cover_what=str(raw.get("what", "")))
    return ClickTarget(kind)


async def settle(
    handle: ElementHandle, quiet_ms: int = 150, max_ms: int = 1500, *, keyup: bool = False
) -> bool:
    """Wait (bounded) until the element's page has no pending short timers or requests and
    has not changed for ``quiet_ms``; ``True`` if it got quiet. Never raises. ``keyup`` first
    sends the field the ``keyup`` that ends a person's typing (Playwright's ``fill`` inserts
    text without key events; jQuery UI's datepicker and others parse the field on keyup)."""
    with contextlib.suppress(PlaywrightError, TimeoutError):
        return bool(
            await asyncio.wait_for(
                handle.evaluate(_SETTLE_JS, [quiet_ms, max_ms, keyup]), max_ms / 1000 + 1
            )
        )
    return False


async def scroll(target: ElementHandle | Page, factor: float) -> ScrollOutcome:
    """Scroll an element's nearest scrollable box (or the page) by ``factor`` of its height."""
    raw: dict[str, Any]
    if isinstance(target, ElementHandle):
        raw = await target.evaluate(_SCROLL_JS, factor)
    else:
        raw = await target.evaluate(f"f => ({_SCROLL_JS})(null, f)", factor)
    page = Extent(**raw["page"])
    box = raw.get("box")
    if box is None:
        return ScrollOutcome(moved=int(raw["moved"]), page=page, box=None)
    return ScrollOutcome(
        moved=int(raw["moved"]),
        page=page,
        box=Extent(above=box["above"], below=box["below"], height=box["height"]),
        box_is_element=bool(box["self"]),
        box_tag=str(box["tag"]),
    )
