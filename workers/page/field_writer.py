"""Writing a value into a field, the one place it is done: check the field, put the value in
(typed, or set as the field's picker would), let the page settle, and say what it holds.

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
"""

from __future__ import annotations

from dataclasses import dataclass

from playwright.async_api import ElementHandle
from playwright.async_api import Error as PlaywrightError

from workers.actions import date_text
from workers.actions.base import ActionContext, ActionError, ActionResult
from workers.actions.secret_typing import type_secret
from workers.browser import controls, field_value
from workers.browser.field_value import Field, Shown, Written

_SHOWN_CHARS = 80
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
    """The field, if something can be written into it; an ``ActionError`` at once if it is
    disabled."""
    try:
        field = await field_value.inspect(handle)
    except PlaywrightError as exc:
        raise ActionError(f"could not inspect {target.ref}: {exc.message.splitlines()[0]}") from None
    if field.disabled:
        raise ActionError(
            f"{target.line} is disabled: nothing can be typed into it until the page enables it"
        )
    return field


async def write(
    ctx: ActionContext, target: Target, handle: ElementHandle, field: Field, text: str, clear: bool
) -> ActionResult:
    """Put ``text`` (no secrets) into the field and report what it holds."""
    hints = _hints(field)
    if field.native_format:
        return await _set_native(ctx, target, handle, field, text, hints)
    value, how = text, ""
    reading = date_text.in_page_format(text, hints) if clear and field.holds_text else None
    if reading is not None:
        value, how = reading.value, f"; {text!r} {reading.how}"
    if field.readonly:
        return await _set_as_picker(ctx, target, handle, field, value, how, clear, _READONLY)
    try:
        if clear:
            await handle.fill(value)
        else:
            await handle.type(value)
    except PlaywrightError as exc:
        raise ActionError(f"could not type into {target.ref}: {exc.message.splitlines()[0]}") from None
    await controls.settle(handle, keyup=clear)
    shown = await field_value.read(handle) if field.holds_text else None
    want = value if clear else field.value + value
    if shown is not None and shown.value == field.value != want:  # the keys did not go in
        return await _set_as_picker(ctx, target, handle, field, value, how, clear, _UNTYPABLE)
    return ActionResult(text=f"typed {value!r} into {target.ref}{how}" + _notes(field, shown, want))


async def write_secret(
    ctx: ActionContext, target: Target, handle: ElementHandle, field: Field, text: str, clear: bool
) -> ActionResult:
    """Put a text with secret placeholders into the field, through every check of
    :func:`type_secret`; the result never shows the value."""
    kept = await type_secret(handle, text, ctx.vault, ctx.guard, clear=clear, verify=True)
    how = " as its picker would (readonly field)" if field.readonly else ""
    if kept in ("kept", "gone"):
        return ActionResult(text=f"typed {text!r} into {target.ref}{how}")
    if kept == "changed":
        return ActionResult(text=f"typed {text!r} into {target.ref}{how}; the page reformatted it")
    what = "emptied it" if kept == "empty" else "put back what it held before"
    fix = _PICKER_HINT if field.readonly else "check the field's format"
    if field.native_format:
        fix = f"a {field.type} field takes {field.native_format}"
    raise ActionError(f"{target.line}: the page did not keep the secret (it {what}); {fix}")


async def _set_native(
    ctx: ActionContext, target: Target, handle: ElementHandle, field: Field, text: str, hints: date_text.Hints
) -> ActionResult:
    """Date, time, colour, range… inputs take one value format, set the way their own picker
    sets it; the model's text is read in whatever format the page shows first."""
    try:
        reading = date_text.native_value(field.type, text, hints)
    except date_text.DateTextError as exc:
        raise ActionError(
            f"{target.ref} is a {field.type} field and could not take {text!r}: {exc}"
        ) from None
    written = await _set(target, handle, reading.value, clear=True, focus=True)
    if written.error == "rejected":
        raise ActionError(
            f"{target.ref} is a {field.type} field and did not take {reading.value!r}: give the value as "
            f"{field.native_format} (it still holds {written.before!r})"
        )
    if written.error:
        raise ActionError(f"could not set {target.ref}: {written.error}")
    await controls.settle(handle)
    shown = await field_value.read(handle)
    if shown is None:
        return ActionResult(
            text=f"set {target.ref} ({field.type}) to {reading.value!r}; the page then moved on"
        )
    if shown.value == written.before != reading.value:
        raise ActionError(
            f"{target.line}: the page did not keep {reading.value!r} (it went back to "
            f"{written.before!r}); {_PICKER_HINT}"
        )
    source = f" from {text!r}" if text.strip() != reading.value else ""
    how = f", {reading.how}" if reading.how else ""
    held = f"; it now holds {shown.value!r}"
    if shown.invalid:  # e.g. before the field's min
        held += f"; the page marks it invalid: {shown.invalid}"
    return ActionResult(text=f"set {target.ref} ({field.type}) to {reading.value!r}{source}{how}{held}")


async def _set_as_picker(
    ctx: ActionContext,
    target: Target,
    handle: ElementHandle,
    field: Field,
    value: str,
    how: str,
    clear: bool,
    why: tuple[str, str, str],
) -> ActionResult:
    """Set a readonly or picker-only field's value as its picker would, and keep it only if
    the page did: else the error says what the page did and to use the picker."""
    refuse = f"{target.line} {why[0]}"
    fmt = _format_note(field)
    written = await _set(target, handle, value, clear=clear, focus=not field.readonly)
    if written.error:
        error = written.error
        if error == "rejected":
            error = f"the browser refused it as a {field.type} value"
        raise ActionError(f"{refuse}, and the page did not let its value be set ({error}); {why[2]}{fmt}")
    await controls.settle(handle)
    shown = await field_value.read(handle)
    if shown is None:
        url = (await ctx.tabs.page()).url[:200]
        return ActionResult(
            text=f"set {target.ref} to {value!r} as its picker would; the page then moved on to {url}"
        )
    want = value if clear else written.before + value
    problem = _not_kept(shown, written, want)
    if problem:
        raise ActionError(f"{refuse}, and {problem}; {why[2]}{fmt}")
    return ActionResult(
        text=f"set {target.ref} to {value!r} as its picker would ({why[1]}{how})" + _notes(field, shown, want)
    )


async def _set(target: Target, handle: ElementHandle, value: str, *, clear: bool, focus: bool) -> Written:
    try:
        return await field_value.set_value(handle, value, clear=clear, focus=focus)
    except PlaywrightError as exc:
        raise ActionError(f"could not set {target.ref}: {exc.message.splitlines()[0]}") from None


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
