"""A field's value, page side: what the field is and shows, setting a value as a picker does,
and reading back what stuck.

A picker (a date popup, a custom select) fills its field by script: the element's own
``value`` setter, then the events frameworks listen for. :func:`set_value` does the same with
the setter the field had before page scripts ran (``dom_init.js`` keeps it), so React's value
tracker sees a change and a page that redefined ``value`` cannot get in the way, then sends
``keydown``/``input``/``keyup``/``change`` (jQuery UI and bootstrap-datepicker parse the field
on ``keyup``, pikaday on ``change``, React and Vue on ``input``). :func:`read` tells afterwards
whether the page kept it: the value, whether the page marks it invalid, and the hidden fields
beside it (a picker often sends its value through one: flatpickr's ``altInput``, jQuery UI's
``altField``). The secret typing path wraps the same setter in its origin checks
(:data:`SET_JS`), so there is one way a value goes into a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from playwright.async_api import ElementHandle
from playwright.async_api import Error as PlaywrightError

#: Input types whose value is set, not typed (Chromium shows its own picker for them).
NATIVE_FORMATS = {
    "date": "YYYY-MM-DD",
    "time": "HH:MM (24 h)",
    "datetime-local": "YYYY-MM-DDTHH:MM",
    "month": "YYYY-MM",
    "week": "YYYY-Www",
    "color": "#rrggbb",
    "range": "a number",
}

_ACCESSOR_JS = """
  const accessor = (el) => {
    const win = el.ownerDocument.defaultView;
    const tag = el.localName;
    if (tag !== 'input' && tag !== 'textarea') return null;
    const s = win[Symbol.for('browserfleet')];
    const kept = s && s.valueAccessor ? s.valueAccessor(tag) : null;
    const proto = tag === 'input' ? win.HTMLInputElement.prototype : win.HTMLTextAreaElement.prototype;
    return kept || Object.getOwnPropertyDescriptor(proto, 'value');
  };
  const hidden = (el) => [el.previousElementSibling, el.nextElementSibling].filter(
    (n) => n && n.localName === 'input' && n.type === 'hidden' && n.name);
  const invalid = (el) => {
    if (el.validity && !el.validity.valid && !el.readOnly) return el.validationMessage || 'invalid';
    if (el.getAttribute('aria-invalid') !== 'true') return '';
    const id = el.getAttribute('aria-errormessage');
    const root = el.getRootNode();
    const note = id && root.getElementById ? root.getElementById(id) : null;
    return ((note && note.textContent) || 'marked invalid').replace(/\\s+/g, ' ').trim().slice(0, 120);
  };
"""

# What the field is, and what the page shows about its format: placeholder, format attributes,
# title, labels, descriptions, a short help text beside it; for dates, the order the browser
# shows them in and the page language's month names.
_INSPECT_JS = """(el) => {""" + _ACCESSOR_JS + """
  const tag = el.localName;
  const type = tag === 'input' ? (el.type || 'text') : '';
  const acc = accessor(el);
  const hints = [];
  const add = (t) => {
    const v = (t || '').replace(/\\s+/g, ' ').trim().slice(0, 200);
    if (v && !hints.includes(v)) hints.push(v);
  };
  add(el.getAttribute('placeholder'));
  add(el.getAttribute('aria-placeholder'));
  for (const a of el.attributes) if (/format/i.test(a.name)) add(a.value);
  add(el.getAttribute('title'));
  add(el.getAttribute('aria-label'));
  if (el.labels) for (const l of el.labels) add(l.textContent);
  const root = el.getRootNode();
  for (const attr of ['aria-labelledby', 'aria-describedby']) {
    for (const id of (el.getAttribute(attr) || '').split(/\\s+/)) {
      const n = id && root.getElementById ? root.getElementById(id) : null;
      if (n) add(n.textContent);
    }
  }
  const p = el.parentElement;
  if (p && p.childElementCount <= 8 && p.textContent.length <= 300) add(p.textContent);
  let shownOrder = '';
  let pageOrder = '';
  const months = [];
  if (tag === 'input' && /^(text|search|date|datetime-local|month|week)$/.test(type)) {
    try {
      const order = (lang) => new Intl.DateTimeFormat(lang)
        .formatToParts(new Date(2026, 11, 20))
        .filter((x) => x.type === 'day' || x.type === 'month' || x.type === 'year')
        .map((x) => x.type[0].toUpperCase()).join('');
      if (type !== 'text' && type !== 'search') shownOrder = order(navigator.language);
      if (document.documentElement.lang) pageOrder = order(document.documentElement.lang);
      const lang = (document.documentElement.lang || navigator.language || '').trim();
      if (lang && !/^en(-|$)/i.test(lang)) {
        const long = new Intl.DateTimeFormat(lang, { month: 'long' });
        const short = new Intl.DateTimeFormat(lang, { month: 'short' });
        for (let m = 0; m < 12; m++) {
          const d = new Date(2026, m, 15);
          months.push([long.format(d), short.format(d)]);
        }
      }
    } catch (_) {
      // an unknown language tag: English names only
    }
  }
  return {
    tag,
    type,
    readonly: !!el.readOnly || el.getAttribute('aria-readonly') === 'true',
    disabled: !!(el.matches && el.matches(':disabled')) || el.getAttribute('aria-disabled') === 'true',
    value: acc ? String(acc.get.call(el)) : ('value' in el ? String(el.value) : ''),
    hints,
    months,
    shownOrder,
    pageOrder,
  };
}"""

#: ``(el, {value, clear, focus}) -> {error, before, invalid, hidden}``: set a field's value as
#: a picker does; ``before`` and ``invalid`` are the value and the page's invalid mark before,
#: ``hidden`` the hidden fields beside it. ``error`` is ``'rejected'`` when the browser refused
#: the value (a native input given another format: the field is left as it was, no events),
#: or says what went wrong.
SET_JS = """(el, a) => {""" + _ACCESSOR_JS + """
  const doc = el.ownerDocument;
  const win = doc && doc.defaultView;
  if (!el.isConnected || !win) return { error: 'the field is no longer on the page' };
  const acc = accessor(el);
  if (!acc && !el.isContentEditable) return { error: 'it is not a text field' };
  if (el.disabled) return { error: 'the field is disabled' };
  const read = () => (acc ? String(acc.get.call(el)) : el.textContent);
  const write = (v) => (acc ? acc.set.call(el, v) : (el.textContent = v));
  const before = read();
  const wasInvalid = invalid(el);
  const text = a.clear ? a.value : before + a.value;
  const key = (type) => new win.KeyboardEvent(type, {
    bubbles: true, cancelable: true, composed: true, key: 'Unidentified' });
  if (a.focus && doc.activeElement !== el) {
    try {
      el.focus({ preventScroll: true });
    } catch (_) {
      // a page whose focus() throws still gets the value
    }
  }
  try {
    el.dispatchEvent(key('keydown'));
    if (acc && text === before && Object.prototype.hasOwnProperty.call(el, 'value')) {
      // the field shows the value already but a framework's tracker on it (React's own `value`
      // property) may not know: through that property first, so the change below is heard
      try {
        el.value = '';
      } catch (_) {
        // a page whose own setter throws: the change below still goes through
      }
    }
    write(text);
    if (acc && text.trim() !== '' && read() === '') {
      write(before);
      return { error: 'rejected', before, hidden: [] };
    }
    el.dispatchEvent(new win.InputEvent('input', {
      bubbles: true, composed: true, inputType: 'insertText', data: text }));
    el.dispatchEvent(key('keyup'));
    el.dispatchEvent(new win.Event('change', { bubbles: true }));
  } catch (e) {
    return { error: 'the page threw ' + String(e).slice(0, 120), before, hidden: [] };
  }
  return { error: '', before, invalid: wasInvalid, hidden: hidden(el).map((n) => [n.name, n.value]) };
}"""

_READ_JS = """(el) => {""" + _ACCESSOR_JS + """
  if (!el.isConnected) return null;
  const acc = accessor(el);
  return {
    value: acc ? String(acc.get.call(el)) : ('value' in el ? String(el.value) : ''),
    invalid: invalid(el),
    hidden: hidden(el).map((n) => [n.name, n.value]),
  };
}"""


@dataclass(frozen=True)
class Field:
    """What an ``input`` action needs to know of a field before writing into it."""

    tag: str
    type: str
    readonly: bool
    disabled: bool
    value: str
    hints: tuple[str, ...] = ()
    months: tuple[tuple[str, ...], ...] = ()
    shown_order: str = ""  # the order the browser shows a native date in (MDY for en-US)
    page_order: str = ""  # the order the page's language (<html lang>) writes dates in

    @property
    def native_format(self) -> str | None:
        """The value format of a native picker input (date, colour, range…), else ``None``."""
        return NATIVE_FORMATS.get(self.type) if self.tag == "input" else None

    @property
    def holds_text(self) -> bool:
        """An ``input`` or ``textarea`` whose value is text (what :func:`read` can compare)."""
        return self.tag == "textarea" or (self.tag == "input" and self.native_format is None)


@dataclass(frozen=True)
class Written:
    """What :func:`set_value` did: ``error`` empty if the value went in."""

    error: str
    before: str = ""  # the value before
    invalid: str = ""  # the page's invalid mark before
    hidden: tuple[tuple[str, str], ...] = ()  # the hidden fields beside it, before


@dataclass(frozen=True)
class Shown:
    """What a field shows now: its value, the page's invalid mark, the hidden fields beside it."""

    value: str
    invalid: str
    hidden: tuple[tuple[str, str], ...]


async def inspect(handle: ElementHandle) -> Field:
    raw: dict[str, Any] = await handle.evaluate(_INSPECT_JS)
    return Field(
        tag=str(raw["tag"]),
        type=str(raw["type"]),
        readonly=bool(raw["readonly"]),
        disabled=bool(raw["disabled"]),
        value=str(raw["value"]),
        hints=tuple(str(h) for h in raw.get("hints") or ()),
        months=tuple(tuple(str(n) for n in names) for names in raw.get("months") or ()),
        shown_order=str(raw.get("shownOrder") or ""),
        page_order=str(raw.get("pageOrder") or ""),
    )


async def set_value(handle: ElementHandle, value: str, *, clear: bool = True, focus: bool = True) -> Written:
    """Set the field's value as a picker would (see the module doc)."""
    raw: dict[str, Any] = await handle.evaluate(SET_JS, {"value": value, "clear": clear, "focus": focus})
    return Written(
        error=str(raw.get("error") or ""),
        before=str(raw.get("before") or ""),
        invalid=str(raw.get("invalid") or ""),
        hidden=_pairs(raw.get("hidden")),
    )


async def read(handle: ElementHandle) -> Shown | None:
    """What the field shows now; ``None`` if it is gone (replaced, or the page navigated)."""
    try:
        raw: dict[str, Any] | None = await handle.evaluate(_READ_JS)
    except PlaywrightError:
        return None
    if raw is None:
        return None
    return Shown(value=str(raw["value"]), invalid=str(raw["invalid"]), hidden=_pairs(raw.get("hidden")))


def _pairs(raw: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(name), str(value)) for name, value in raw or ())
