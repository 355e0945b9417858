"""``input{index,text,clear}``: write text into a field (see ``fields``); secrets are revealed only
there, through ``secret_typing``."""

from __future__ import annotations

from workers.actions import fields
from workers.actions.base import Action, ActionContext, ActionResult, Params


class InputParams(Params):
    index: int
    text: str
    clear: bool = True


async def input_text(ctx: ActionContext, params: InputParams) -> ActionResult:
    handle = await ctx.element(params.index)
    line = ctx.elements.describe(params.index) if ctx.elements is not None else f"[{params.index}]"
    target = fields.Target(ref=f"[{params.index}]", line=line)
    field = await fields.inspect(target, handle)  # disabled: fail fast
    if ctx.vault.has_placeholder(params.text):
        return await fields.write_secret(ctx, target, handle, field, params.text, params.clear)
    return await fields.write(ctx, target, handle, field, params.text, params.clear)


ACTION = Action(
    "input", InputParams, "type text into field [index] (clear: replace its content)", input_text
)
