"""Writing a value into a field, the one place it is done: check the field, put the value in
(typed, or set as the field's picker would; a secret set inside the field's own document),
let the page settle, and say what it holds.

The action layer (``input``, the ``fill_form`` skill) calls :func:`write_field` and turns a
:class:`FieldError` into the model's ``ActionError``; nothing here calls back up. Whether a
secret may be revealed for a document is :mod:`workers.secrets.release`; the page-side
primitives (the field's own value setter, reading it back) are :mod:`workers.page.field_value`,
settling is :mod:`workers.page.controls`, date formats :mod:`workers.page.date_text`.

- A disabled field is refused at once (Playwright would wait out the action timeout).
- Native date/time/month/week/colour/range inputs take the model's text in any format the
  page shows (``12/20/2026``, ``20 Dec 2026``, ``3:45 pm``) converted to theirs; a text the
  field's format cannot be read from, or an ambiguous day/month, is an error that says how
  to write it.
- A readonly field (a date picker's, a custom select's) gets the value the way its picker
  would set it (``field_value.set_value``), and so does a field the typing did not go into.
  It counts only if it stuck: after the page settled the field must still hold it, not be
  marked invalid, and not have left the hidden field the form sends beside it empty;
  otherwise the error says so and to use the picker, as before.
- A text field that shows a date format (``DD/MM/YYYY`` in its placeholder or label) gets a
  date written another way in that format.
- A secret is never typed with keystrokes (``fill``/``type`` go to whatever is focused when
  they arrive): it is set in one script run *inside the field's document*, which first
  re-checks that document's origin, so a frame that navigated after the check cannot receive
  it (no check-then-type race); sandboxed frames are refused (an opaque origin can send the
  value anywhere). With ``verify`` the field is read back after the page settled, and only a
  verdict (kept, reverted...) leaves the page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from playwright.async_api import ElementHandle, Frame
from playwright.async_api import Error as PlaywrightError

from shared.urls import parse_url
from workers.page import controls, date_text, field_value
from workers.page.field_value import SET_JS, Field, Shown, Written
from workers.policy.navigation import NavigationGuard
from workers.secrets.release import SecretRefused, refused, release
from workers.secrets.vault import SecretVault

_SHOWN_CHARS = 80
CurrentUrl = Callable[[], Awaitable[str]]


class FieldError(Exception):
    """The field did not take the value: the message says what the page did and what to do
    instead (the action layer shows it to the model as a :class:`FieldError`)."""


@dataclass(frozen=True)
class Target:
    """The field as results name it (``[3]`` for ``input``, ``'Check-in'`` for ``fill_form``)
    and as refusals show it (its line in the state)."""

    ref: str
    line: str


_PICKER_HINT = "click it, or the button next to it, to open its picker and choose the value there"
_FORMAT_HINT = "it may want another format, or a choice from its own list or picker"
# (what the field is, as the refusal says it; as the success note says it; what to do instead)
_READONLY = ("is readonly", "readonly field", _PICKER_HINT)
_UNTYPABLE = ("did not take the typed text", "typing did not go in", _FORMAT_HINT)


async def inspect(target: Target, handle: ElementHandle) -> Field:
    """The field, if something can be written into it; a :class:`FieldError` at once if it is
    disabled."""
    try:
        field = await field_value.inspect(handle)
    except PlaywrightError as exc:
        raise FieldError(f"could not inspect {target.ref}: {exc.message.splitlines()[0]}") from None
    if field.disabled:
        raise FieldError(
            f"{target.line} is disabled: nothing can be typed into it until the page enables it"
        )
    return field


async def write_field(
    target: Target,
    handle: ElementHandle,
    text: str,
    *,
    clear: bool,
    vault: SecretVault,
    guard: NavigationGuard,
    current_url: CurrentUrl,
) -> str:
    """Write ``text`` into the field and say what it holds: a text with secret placeholders
    through :func:`type_secret`, any other typed or set as the field's picker would.
    ``current_url`` names the tab's page when the write made it move on."""
    field = await inspect(target, handle)  # disabled: fail fast
    if vault.has_placeholder(text):
        return await _write_secret(target, handle, field, text, clear, vault, guard)
    return await _write(target, handle, field, text, clear, current_url)


async def _write(
    target: Target, handle: ElementHandle, field: Field, text: str, clear: bool, current_url: CurrentUrl
) -> str:
    """Put ``text`` (no secrets) into the field and report what it holds."""
    hints = _hints(field)
    if field.native_format:
        return await _set_native(target, handle, field, text, hints)
    value, how = text, ""
    reading = date_text.in_page_format(text, hints) if clear and field.holds_text else None
    if reading is not None:
        value, how = reading.value, f"; {text!r} {reading.how}"
    if field.readonly:
        return await _set_as_picker(target, handle, field, value, how, clear, _READONLY, current_url)
    try:
        if clear:
            await handle.fill(value)
        else:
            await handle.type(value)
    except PlaywrightError as exc:
        raise FieldError(f"could not type into {target.ref}: {exc.message.splitlines()[0]}") from None
    await controls.settle(handle, keyup=clear)
    shown = await field_value.read(handle) if field.holds_text else None
    want = value if clear else field.value + value
    if shown is not None and shown.value == field.value != want:  # the keys did not go in
        return await _set_as_picker(target, handle, field, value, how, clear, _UNTYPABLE, current_url)
    return f"typed {value!r} into {target.ref}{how}" + _notes(field, shown, want)


async def _write_secret(
    target: Target,
    handle: ElementHandle,
    field: Field,
    text: str,
    clear: bool,
    vault: SecretVault,
    guard: NavigationGuard,
) -> str:
    """Put a text with secret placeholders into the field, through every check of
    :func:`type_secret`; the result never shows the value."""
    kept = await type_secret(handle, text, vault, guard, clear=clear, verify=True)
    how = " as its picker would (readonly field)" if field.readonly else ""
    if kept in ("kept", "gone"):
        return f"typed {text!r} into {target.ref}{how}"
    if kept == "changed":
        return f"typed {text!r} into {target.ref}{how}; the page reformatted it"
    what = "emptied it" if kept == "empty" else "put back what it held before"
    fix = _PICKER_HINT if field.readonly else "check the field's format"
    if field.native_format:
        fix = f"a {field.type} field takes {field.native_format}"
    raise FieldError(f"{target.line}: the page did not keep the secret (it {what}); {fix}")


async def _set_native(
    target: Target, handle: ElementHandle, field: Field, text: str, hints: date_text.Hints
) -> str:
    """Date, time, colour, range… inputs take one value format, set the way their own picker
    sets it; the model's text is read in whatever format the page shows first."""
    try:
        reading = date_text.native_value(field.type, text, hints)
    except date_text.DateTextError as exc:
        raise FieldError(
            f"{target.ref} is a {field.type} field and could not take {text!r}: {exc}"
        ) from None
    written = await _set(target, handle, reading.value, clear=True, focus=True)
    if written.error == "rejected":
        raise FieldError(
            f"{target.ref} is a {field.type} field and did not take {reading.value!r}: give the value as "
            f"{field.native_format} (it still holds {written.before!r})"
        )
    if written.error:
        raise FieldError(f"could not set {target.ref}: {written.error}")
    await controls.settle(handle)
    shown = await field_value.read(handle)
    if shown is None:
        return f"set {target.ref} ({field.type}) to {reading.value!r}; the page then moved on"
    if shown.value == written.before != reading.value:
        raise FieldError(
            f"{target.line}: the page did not keep {reading.value!r} (it went back to "
            f"{written.before!r}); {_PICKER_HINT}"
        )
    source = f" from {text!r}" if text.strip() != reading.value else ""
    how = f", {reading.how}" if reading.how else ""
    held = f"; it now holds {shown.value!r}"
    if shown.invalid:  # e.g. before the field's min
        held += f"; the page marks it invalid: {shown.invalid}"
    return f"set {target.ref} ({field.type}) to {reading.value!r}{source}{how}{held}"


async def _set_as_picker(
    target: Target,
    handle: ElementHandle,
    field: Field,
    value: str,
    how: str,
    clear: bool,
    why: tuple[str, str, str],
    current_url: CurrentUrl,
) -> str:
    """Set a readonly or picker-only field's value as its picker would, and keep it only if
    the page did: else the error says what the page did and to use the picker."""
    refuse = f"{target.line} {why[0]}"
    fmt = _format_note(field)
    written = await _set(target, handle, value, clear=clear, focus=not field.readonly)
    if written.error:
        error = written.error
        if error == "rejected":
            error = f"the browser refused it as a {field.type} value"
        raise FieldError(f"{refuse}, and the page did not let its value be set ({error}); {why[2]}{fmt}")
    await controls.settle(handle)
    shown = await field_value.read(handle)
    if shown is None:
        url = (await current_url())[:200]
        return f"set {target.ref} to {value!r} as its picker would; the page then moved on to {url}"
    want = value if clear else written.before + value
    problem = _not_kept(shown, written, want)
    if problem:
        raise FieldError(f"{refuse}, and {problem}; {why[2]}{fmt}")
    return f"set {target.ref} to {value!r} as its picker would ({why[1]}{how})" + _notes(field, shown, want)


async def _set(target: Target, handle: ElementHandle, value: str, *, clear: bool, focus: bool) -> Written:
    try:
        return await field_value.set_value(handle, value, clear=clear, focus=focus)
    except PlaywrightError as exc:
        raise FieldError(f"could not set {target.ref}: {exc.message.splitlines()[0]}") from None


def _not_kept(shown: Shown, written: Written, want: str) -> str:
    """Why the page did not keep a value set as a picker would, or ``""`` if it did."""
    if shown.value != want and shown.value == written.before:
        return f"the page did not keep {want!r} (it went back to {_clip(shown.value)!r})"
    if shown.value == "" and want != "":
        return f"the page did not keep {want!r} (it emptied the field)"
    if shown.invalid and not written.invalid:  # it was not invalid before
        return f"the page marks {_clip(shown.value)!r} invalid ({shown.invalid})"
    before = dict(written.hidden)
    for name, now in shown.hidden:
        # the hidden field a picker fills beside its text (flatpickr's altInput) stayed empty:
        # the form would send nothing. (One that held a value and kept it proves nothing.)
        if before.get(name) == now == "" and want:
            return f"the page did not take it (the form's hidden field {name!r} beside it is still empty)"
    return ""


def _notes(field: Field, shown: Shown | None, want: str) -> str:
    """What the field holds when that differs from what was written, and the page's invalid
    mark; never a password field's value."""
    if shown is None or field.type == "password":
        return ""
    notes = ""
    if shown.value != want:
        notes += f"; it now holds {_clip(shown.value)!r}"
    if shown.invalid and shown.value:
        notes += f"; the page marks it invalid: {shown.invalid}"
    return notes


def _hints(field: Field) -> date_text.Hints:
    found = date_text.field_pattern(field.hints)
    return date_text.Hints(
        pattern=found.pattern,
        order=found.order,
        shown_order=field.shown_order or None,
        page_order=field.page_order or None,
        months=field.months,
    )


def _format_note(field: Field) -> str:
    pattern = date_text.field_pattern(field.hints).pattern
    return f" (the field shows the format {pattern})" if pattern else ""


def _clip(text: str) -> str:
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


# -- secrets: revealed by workers.secrets.release, set inside the field's own document ----------

_SANDBOXED_JS = "el => el.hasAttribute('sandbox')"
# Runs in the field's own document; Location's members cannot be redefined by the page. The
# checks come first, then the one setter every value goes through (field_value.SET_JS).
_SET_JS = (
    """
(el, a) => {
  const doc = el.ownerDocument, win = doc && doc.defaultView, loc = doc && doc.location;
  if (!el.isConnected || !win || !loc) return {refused: 'the field is no longer on the page'};
  if (loc.protocol !== 'http:' && loc.protocol !== 'https:') {
    return {refused: 'the page is not an http(s) page'};
  }
  if (loc.origin !== a.origin) return {refused: 'the page changed since it was checked'};
  if (win.origin === 'null') return {refused: 'the page is sandboxed (opaque origin)'};
  if (el.disabled) return {refused: 'the field is disabled'};
  const tag = el.tagName;
  if (tag !== 'INPUT' && tag !== 'TEXTAREA' && !el.isContentEditable) {
    return {refused: 'secrets can be typed only into text fields'};
  }
  const done = ("""
    + SET_JS
    + """)(el, {value: a.value, clear: a.clear, focus: !el.readOnly});
  if (done.error === 'rejected') return {refused: 'the field does not take a value written that way'};
  // (what a page's script threw may quote what it was given)
  if (done.error) {
    return {refused: /^the page threw/.test(done.error) ? 'the page threw an error' : done.error};
  }
  return {refused: '', before: done.before};
}
"""
)
# After the page has settled: is the value still there? Only a verdict comes back.
_KEPT_JS = """
(el, [want, before]) => {
  if (!el.isConnected) return 'gone';
  const tag = el.localName;
  const s = window[Symbol.for('browserfleet')];
  const acc = (s && s.valueAccessor && s.valueAccessor(tag)) ||
    (tag === 'input' ? Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')
      : tag === 'textarea' ? Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value') : null);
  const now = acc ? String(acc.get.call(el)) : el.textContent;
  if (now === want) return 'kept';
  if (now === before) return 'reverted';
  return now === '' ? 'empty' : 'changed';
}
"""


async def type_secret(
    handle: ElementHandle,
    text: str,
    vault: SecretVault,
    guard: NavigationGuard,
    clear: bool = True,
    verify: bool = False,
) -> str:
    """Reveal the placeholders in ``text`` and set them into ``handle``'s field, or raise
    :class:`FieldError`. With ``verify``: what the field holds once the page settled, ``kept``,
    ``changed`` (reformatted), ``reverted``, ``empty`` or ``gone`` (the page moved on);
    else ``""``. Never the value."""
    frame = await handle.owner_frame()
    if frame is None:
        raise FieldError("the field is no longer on the page; nothing typed")
    chain = await _frame_chain(frame)
    try:
        value = release(text, vault, guard, chain)
    except SecretRefused as exc:
        raise FieldError(str(exc)) from None
    parsed = parse_url(chain[0])
    assert parsed is not None  # release() refuses any document that is not an http(s) page
    try:
        done = await handle.evaluate(_SET_JS, {"origin": parsed.origin, "value": value, "clear": clear})
    except PlaywrightError:
        done = {"refused": "the page changed before typing"}
    if done.get("refused"):
        raise FieldError(f"secret not typed: {done['refused']}; nothing was typed")
    if not verify:
        return ""
    before = str(done.get("before") or "")
    await controls.settle(handle)
    try:
        return str(await handle.evaluate(_KEPT_JS, [value if clear else before + value, before]))
    except PlaywrightError:  # the document is gone: the page moved on (e.g. a submit on change)
        return "gone"


async def _frame_chain(frame: Frame) -> list[str]:
    """The URLs of ``frame`` and every frame above it; refuses sandboxed iframes on the way."""
    urls: list[str] = []
    current: Frame | None = frame
    while current is not None:
        urls.append(current.url)
        parent = current.parent_frame
        if parent is not None and await _sandboxed(current):
            reason = f"secrets are not typed into a sandboxed frame ({current.url[:300]})"
            raise FieldError(str(refused(reason)))
        current = parent
    return urls


async def _sandboxed(frame: Frame) -> bool:
    """Whether the iframe element holding ``frame`` (read from its parent's side) is sandboxed."""
    try:
        element = await frame.frame_element()
        return bool(await element.evaluate(_SANDBOXED_JS))
    except PlaywrightError:
        return True  # cannot tell: treat as sandboxed
