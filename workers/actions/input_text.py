"""``input{index,text,clear}``: type text into a field; secrets are revealed only here."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.actions.secret_typing import type_secret


class InputParams(Params):
    index: int
    text: str
    clear: bool = True


async def input_text(ctx: ActionContext, params: InputParams) -> ActionResult:
    handle = await ctx.element(params.index)
    if ctx.vault.has_placeholder(params.text):
        await type_secret(handle, params.text, ctx.vault, ctx.guard, clear=params.clear)
        return ActionResult(text=f"typed {params.text!r} into [{params.index}]")
    value = params.text
    try:
        if params.clear:
            await handle.fill(value)
        else:
            await handle.type(value)
    except PlaywrightError as exc:
        raise ActionError(f"could not type into [{params.index}]: {exc.message.splitlines()[0]}") from None
    return ActionResult(text=f"typed {params.text!r} into [{params.index}]")


ACTION = Action(
    "input", InputParams, "type text into field [index] (clear: replace its content)", input_text
)
