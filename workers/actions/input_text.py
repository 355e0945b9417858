"""``input{index,text,clear}``: write text into a field. The writing, secrets included, is
:mod:`workers.page.field_writer`'s; this names the field and turns its refusal into the
model's ``ActionError``."""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.page.field_writer import FieldError, Target, write_field


class InputParams(Params):
    index: int
    text: str
    clear: bool = True


async def input_text(ctx: ActionContext, params: InputParams) -> ActionResult:
    handle = await ctx.element(params.index)
    line = ctx.elements.describe(params.index) if ctx.elements is not None else f"[{params.index}]"
    target = Target(ref=f"[{params.index}]", line=line)
    try:
        text = await write_field(target, handle, params.text, clear=params.clear, vault=ctx.vault,
                                 guard=ctx.guard, current_url=ctx.tab_url)
    except FieldError as exc:
        raise ActionError(str(exc)) from None
    return ActionResult(text=text)


ACTION = Action(
    "input", InputParams, "type text into field [index] (clear: replace its content)", input_text
)
