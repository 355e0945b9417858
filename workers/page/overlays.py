"""What covers an element, and closing it when it is a popup that a person would close.

A picker or menu often stays open after a choice and covers the next target (Submit). When
the click's look (``controls``) finds its target covered, :func:`covering` names the covering
*widget*, not the cell that happens to be on top (one more round trip, only then): from the
element hit, up to the highest ancestor out of the page's flow (positioned, popover, open
dialog), or else with a popup role or a popup-ish class, that does not hold the target. It is
*transient* when it looks like a popup (a popup role, options or menu items or grid cells
inside, a class or id such as ``datepicker``, ``dropdown``, ``menu``) or has an owner (the
field that opened it: named by ``aria-controls``/``aria-owns``, or focused, or last focused,
right beside it), and is not modal nor a page-sized backdrop. It is left in the page's state
(``lastCover``), so :func:`close_cover` can close it the way a person would: Escape where the
widget listens (the focused element inside it if it or a parent up to the popup listens for
keys, ``dom_init.js`` records who does; else its owner field), then, if it is still there, a
click on a spot outside it that is no control. :func:`escape_target` sends a plain
``send_keys Escape`` to the same place.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Frame, Page

from workers.page.controls import ClickTarget

# Shared helpers: walking up through slots and shadow roots, "is n inside root", a short
# description of a node, and the owner of a popup.
_HELPERS_JS = """
  const up = (n) => n.assignedSlot || n.parentElement ||
    (n.getRootNode && n.getRootNode().host) || null;
  const holds = (root, n) => {
    for (let m = n; m; m = up(m)) if (m === root) return true;
    return false;
  };
  const nodeText = (n) => {
    const cls = (n.getAttribute('class') || '').trim().split(/\\s+/)[0];
    const role = n.getAttribute('role');
    const text = (n.innerText || n.textContent || '').replace(/\\s+/g, ' ').trim().slice(0, 40).trim();
    return '<' + n.localName + (n.id ? ' id=' + n.id : cls ? ' class=' + cls : '') +
      (role ? ' role=' + role : '') + '>' + text;
  };
  // the element at a viewport point, inside open and (recorded) closed shadow roots too
  const hitAt = (x, y, s) => {
    let h = document.elementFromPoint(x, y);
    for (let i = 0; h && i < 20; i++) {
      const r = h.shadowRoot || (s && s.closedRoots ? s.closedRoots.get(h) : null);
      const inner = r ? r.elementFromPoint(x, y) : null;
      if (!inner || inner === h) break;
      h = inner;
    }
    return h;
  };
  const POPUPISH = new RegExp('popup|popover|dropdown|drop-down|menu|picker|calendar|suggest|' +
    'autocomplete|listbox|flyout|tooltip|combo', 'i');
  const popupish = (n) => POPUPISH.test((n.id || '') + ' ' + (n.getAttribute('class') || ''));
  const FIELD = 'input,textarea,select,[role=combobox],[contenteditable]';
  const deref = (r) => (r && r.deref ? r.deref() : null) || null;
  // Where Escape for popup `root` must go: the focused element inside it if it or something
  // up to the root listens for keys; else the owner field (focused now) if it listens, or if
  // focus is not inside the popup; else where focus is. -> 'inside' | 'owner' | 'page'
  const routeEscape = (root, owner, s) => {
    const keyed = s && s.keyed;
    const listens = (n) => (keyed && keyed.has(n)) || n.onkeydown != null || n.onkeyup != null;
    const a = document.activeElement;
    const nowhere = !a || a === document.body || a === document.documentElement;
    const inside = !nowhere && holds(root, a);
    if (inside) {
      for (let m = a; m; m = up(m)) {
        if (listens(m)) return 'inside';
        if (m === root) break;
      }
    }
    if (owner && owner.isConnected && (!inside || listens(owner))) {
      if (a !== owner) owner.focus({ preventScroll: true });
      return 'owner';
    }
    return inside ? 'inside' : 'page';
  };
  const ownerOf = (root, s) => {
    const inRoot = (n) => holds(root, n);
    const ctl = document.querySelectorAll('[aria-controls],[aria-owns]');
    for (let i = 0; i < ctl.length && i < 200; i++) {
      const n = ctl[i];
      const ids = ((n.getAttribute('aria-controls') || '') + ' ' + (n.getAttribute('aria-owns') || ''));
      for (const id of ids.split(/\\s+/)) {
        const t = id ? document.getElementById(id) : null;
        if (t && (inRoot(t) || holds(t, root)) && !inRoot(n)) return n;
      }
    }
    const rr = root.getBoundingClientRect();
    const beside = (f) => {
      if (!f || !f.isConnected || inRoot(f) || !f.checkVisibility()) return false;
      const fr = f.getBoundingClientRect();
      const gap = Math.max(rr.top - fr.bottom, fr.top - rr.bottom, 0);
      const overlap = Math.min(fr.right, rr.right) - Math.max(fr.left, rr.left);
      return gap <= 60 && overlap > -60;
    };
    const a = document.activeElement;
    if (a && a.matches && a.matches(FIELD) && beside(a)) return a;
    const last = deref(s && s.lastField);
    return last && beside(last) ? last : null;
  };
"""

# After a click look found its target covered (``coverHit``): the covering widget's root, from
# what is on top up to the highest ancestor out of the page's flow (or with a popup role, or a
# popup-ish class) that does not hold the target; whether it is a transient popup; its owner.
# Leaves it in ``lastCover`` for close_cover/escape_target. null if the look left nothing.
_COVERING_JS = """() => {""" + _HELPERS_JS + """
  const s = window[Symbol.for('browserfleet')];
  const hit = s && s.coverHit;
  const cover = deref(hit && hit.cover);
  const el = deref(hit && hit.target);
  if (!cover || !el || !cover.isConnected) return null;
  const listed = s.elements || [];
  const POPUP_ROLES = new Set(['listbox', 'menu', 'dialog', 'grid', 'tree', 'tooltip']);
  let root = null;
  let roled = null;
  let named = null;
  for (let n = cover; n && n !== document.body && n !== document.documentElement; n = up(n)) {
    if (holds(n, el)) break;
    const pos = getComputedStyle(n).position;
    if (pos === 'absolute' || pos === 'fixed' || n.matches(':popover-open') ||
        (n.localName === 'dialog' && n.open)) root = n;
    if (POPUP_ROLES.has(n.getAttribute('role'))) roled = n;
    if (popupish(n)) named = n;
  }
  root = root || roled || named;
  if (!root) return null;
  const owner = ownerOf(root, s);
  const role = root.getAttribute('role') || '';
  const rr = root.getBoundingClientRect();
  const big = rr.width * rr.height >= 0.6 * window.innerWidth * window.innerHeight;
  const modal = root.matches('dialog:modal') || (!owner && (role === 'alertdialog' ||
    root.getAttribute('aria-modal') === 'true'));
  const looks = POPUP_ROLES.has(role) || popupish(root) ||
    !!root.querySelector('[role=option],[role=menuitem],[role=gridcell],[role=treeitem]');
  s.lastCover = { root: new WeakRef(root), owner: owner ? new WeakRef(owner) : null,
    target: hit.target, x: hit.x, y: hit.y };
  return {
    local: listed.indexOf(root),
    what: nodeText(root),
    transient: !modal && !big && (looks || !!owner),
    owner: owner ? listed.indexOf(owner) : -1,
    ownerWhat: owner ? nodeText(owner) : '',
  };
}"""

# Escape for the popup the last look found goes where it listens (routeEscape); 'gone' if it
# has closed already.
_ESCAPE_TO_COVER_JS = """() => {""" + _HELPERS_JS + """
  const s = window[Symbol.for('browserfleet')];
  const c = s && s.lastCover;
  const root = deref(c && c.root);
  if (!root || !root.isConnected || !root.checkVisibility()) return 'gone';
  return routeEscape(root, deref(c.owner), s);
}"""

# Resolves true once the popup no longer covers the point where it covered the target
# (closed, hidden, faded out, moved); false after `max` ms.
_COVER_GONE_JS = """(max) => new Promise((resolve) => {""" + _HELPERS_JS + """
  const s = window[Symbol.for('browserfleet')];
  const c = s && s.lastCover;
  const root = deref(c && c.root);
  const t0 = performance.now();
  const gone = () => {
    if (!root || !root.isConnected || !root.checkVisibility()) return true;
    const hit = hitAt(c.x, c.y, s);
    return !hit || !holds(root, hit);
  };
  const tick = () => {
    if (gone()) resolve(true);
    else if (performance.now() - t0 >= max) resolve(false);
    else s.setTimeout.call(window, tick, 30);
  };
  tick();
})"""

# A viewport point outside the popup where a click does nothing but be "outside": not in the
# popup, its owner or the target, and no control (listed, or a link, button, field, label...)
# at or around it. Near the popup first, then the viewport's edges. null if there is none.
_OUTSIDE_POINT_JS = """() => {""" + _HELPERS_JS + """
  const s = window[Symbol.for('browserfleet')];
  const c = s && s.lastCover;
  const root = deref(c && c.root);
  if (!root) return null;
  const avoid = [root, deref(c.owner), deref(c.target)].filter(Boolean);
  const listed = new Set(s.elements || []);
  const CONTROL = 'a[href],button,input,select,textarea,label,summary,[onclick],[role],[tabindex],' +
    '[contenteditable]';
  const quiet = (hit) => {
    if (avoid.some((n) => holds(n, hit))) return false;
    for (let n = hit; n && n !== document.body && n !== document.documentElement; n = up(n)) {
      if (listed.has(n) || (n.matches && n.matches(CONTROL)) || (s.clickable && s.clickable.has(n))) {
        return false;
      }
    }
    return true;
  };
  const vw = window.innerWidth;
  const vh = window.innerHeight;
  const r = root.getBoundingClientRect();
  const points = [[r.right + 12, r.top + 6], [r.left - 12, r.top + 6], [r.right + 12, r.bottom - 6],
    [r.left - 12, r.bottom - 6], [r.left + 6, r.bottom + 12], [r.left + 6, r.top - 12],
    [4, 4], [vw - 4, 4], [4, vh - 4], [vw - 4, vh - 4], [vw / 2, 4], [vw / 2, vh - 4]];
  for (const [x, y] of points) {
    if (x < 1 || y < 1 || x > vw - 1 || y > vh - 1) continue;
    const hit = hitAt(x, y, s);
    if (hit && quiet(hit)) return [x, y];
  }
  return null;
}"""

# For a plain `send_keys Escape`: the popup that is open (the one the last click look found,
# else one beside the last focused field) gets the key where it listens (routeEscape): the
# owner field's frame-local index (-1: not listed) when focus had to move there, else null.
_ESCAPE_TARGET_JS = """() => {""" + _HELPERS_JS + """
  const s = window[Symbol.for('browserfleet')];
  if (!s) return null;
  const c = s.lastCover;
  let root = deref(c && c.root);
  let owner = deref(c && c.owner);
  if (!root || !root.isConnected || !root.checkVisibility()) {
    owner = deref(s.lastField);
    root = owner && owner.isConnected && owner.checkVisibility() ? popupOf(owner) : null;
  }
  if (!root || !owner) return null;
  return routeEscape(root, owner, s) === 'owner' ? (s.elements || []).indexOf(owner) : null;

  // the open popup beside field f: the element its aria-controls names, or an element out of
  // the page's flow just below or above it whose owner is f
  function popupOf(f) {
    for (const id of (f.getAttribute('aria-controls') || '').split(/\\s+/)) {
      const t = id ? document.getElementById(id) : null;
      if (t && t.checkVisibility()) return t;
    }
    const r = f.getBoundingClientRect();
    for (const [x, y] of [[r.left + 8, r.bottom + 8], [r.left + r.width / 2, r.bottom + 8],
      [r.left + 8, r.top - 8]]) {
      let found = null;
      for (let n = document.elementFromPoint(x, y); n && n !== document.body; n = up(n)) {
        if (holds(n, f)) break;
        const pos = getComputedStyle(n).position;
        if (pos === 'absolute' || pos === 'fixed') found = n;
      }
      if (found && ownerOf(found, s) === f) return found;
    }
    return null;
  }
}"""

#: How long a closing popup may take to go (a fade-out animation).
CLOSE_WAIT_MS = 1000


async def covering(frame: Frame, target: ClickTarget) -> ClickTarget:
    """``target`` (a ``covered`` click look in ``frame``) with what covers it named by its
    widget's root, and whether that is a popup a click may close; as it was if the page has
    nothing more to say (no init script, the cover gone)."""
    try:
        raw: dict[str, Any] | None = await frame.evaluate(_COVERING_JS)
    except PlaywrightError:
        return target
    if raw is None:
        return target
    return dataclasses.replace(
        target,
        cover_local=int(raw["local"]),
        cover_what=str(raw["what"]),
        transient=bool(raw["transient"]),
        owner_local=int(raw["owner"]),
        owner_what=str(raw["ownerWhat"]),
    )


async def close_cover(page: Page, frame: Frame) -> str | None:
    """Close the popup the last click look found over its target: Escape where it listens,
    then a click outside it (main frame only). How it closed, or ``None`` if it is still there."""
    try:
        where = await frame.evaluate(_ESCAPE_TO_COVER_JS)
        if where == "gone":
            return "it had closed"
        await page.keyboard.press("Escape")
        if await _gone(frame):
            return "Escape"
        if frame != page.main_frame:
            return None
        point: list[float] | None = await frame.evaluate(_OUTSIDE_POINT_JS)
        if point is None:
            return None
        await page.mouse.click(point[0], point[1])
        if await _gone(frame):
            return "a click outside it"
    except PlaywrightError:
        return None
    return None


async def escape_target(frame: Frame) -> int | None:
    """Before a ``send_keys`` with Escape: if an open popup listens on its field rather than
    where focus is, focus that field; its frame-local index (-1: not listed), or ``None`` to
    press where focus is."""
    with contextlib.suppress(PlaywrightError):
        raw: Any = await frame.evaluate(_ESCAPE_TARGET_JS)
        return None if raw is None else int(raw)
    return None


async def _gone(frame: Frame) -> bool:
    try:
        return bool(
            await asyncio.wait_for(frame.evaluate(_COVER_GONE_JS, CLOSE_WAIT_MS), CLOSE_WAIT_MS / 1000 + 2)
        )
    except (PlaywrightError, TimeoutError):
        return True  # the document went away with it (the Escape navigated): nothing covers now
