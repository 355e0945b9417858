"""``input{index,text,clear}``: type text into a field; secrets are revealed only here."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from workers.actions import fields
from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.actions.secret_typing import type_secret


class InputParams(Params):
    index: int
    text: str
    clear: bool = True


async def input_text(ctx: ActionContext, params: InputParams) -> ActionResult:
    handle = await ctx.element(params.index)
    field = await fields.writable(ctx, params.index, handle)  # readonly/disabled: fail fast
    if ctx.vault.has_placeholder(params.text):
        await type_secret(handle, params.text, ctx.vault, ctx.guard, clear=params.clear)
        await fields.after_typing(handle, field, secret=True, typed=params.text)  # suggestions settle
        return ActionResult(text=f"typed {params.text!r} into [{params.index}]")
    value = params.text
    try:
        if field.native_format:
            return await fields.set_native(params.index, handle, field, params.text, value)
        if params.clear:
            await handle.fill(value)
        else:
            await handle.type(value)
    except PlaywrightError as exc:
        raise ActionError(f"could not type into [{params.index}]: {exc.message.splitlines()[0]}") from None
    held = await fields.after_typing(handle, field, secret=False, typed=value)
    return ActionResult(text=f"typed {params.text!r} into [{params.index}]{held}")


ACTION = Action(
    "input", InputParams, "type text into field [index] (clear: replace its content)", input_text
)
