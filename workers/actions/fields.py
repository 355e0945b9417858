"""Field checks shared by the typing actions: refuse what cannot be typed into, set native
picker inputs directly, and say what a field holds afterwards."""

from __future__ import annotations

from playwright.async_api import ElementHandle
from playwright.async_api import Error as PlaywrightError

from workers.actions.base import ActionContext, ActionError, ActionResult
from workers.browser import controls
from workers.browser.controls import Field

_SHOWN_CHARS = 80


async def writable(ctx: ActionContext, index: int, handle: ElementHandle) -> Field:
    """The field, if text can go into it; an ``ActionError`` at once if it is readonly or
    disabled (Playwright would wait the whole action timeout, then fail)."""
    try:
        field = await controls.field(handle)
    except PlaywrightError as exc:
        raise ActionError(f"could not inspect [{index}]: {exc.message.splitlines()[0]}") from None
    line = ctx.elements.describe(index) if ctx.elements is not None else f"[{index}]"
    if field.disabled:
        raise ActionError(
            f"{line} is disabled: nothing can be typed into it until the page enables it"
        )
    if field.readonly:
        raise ActionError(
            f"{line} is readonly: the page fills it itself (e.g. from a date picker or a list); "
            "click it, or the button next to it, to open its picker and choose the value there"
        )
    return field


async def set_native(index: int, handle: ElementHandle, field: Field, text: str, value: str) -> ActionResult:
    """Date, time, colour, range… inputs take a value in one format, the way their picker
    would set it; a value the browser rejects is an error that names the format."""
    took, held = await controls.set_value(handle, value)
    if not took:
        raise ActionError(
            f"[{index}] is a {field.type} field and did not take {text!r}: give the value as "
            f"{field.native_format} (it still holds {held!r})"
        )
    return ActionResult(text=f"set [{index}] ({field.type}) to {text!r}; it now holds {held!r}")


async def after_typing(handle: ElementHandle, field: Field, *, secret: bool, typed: str) -> str:
    """Let suggestions triggered by the typing appear (bounded wait), then a note on what the
    field holds if that is not what was typed (a mask, a length limit); never for secrets."""
    await controls.settle(handle)
    if secret or field.type == "password":
        return ""
    try:
        now = await controls.field(handle)
    except PlaywrightError:
        return ""
    if field.tag not in ("input", "textarea") or now.value == typed:
        return ""
    shown = now.value if len(now.value) <= _SHOWN_CHARS else now.value[:_SHOWN_CHARS] + "…"
    return f"; it now holds {shown!r}"
