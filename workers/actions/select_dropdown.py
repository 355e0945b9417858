"""``select_dropdown{index,text}``: choose an option of a <select> by its visible text."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params


class SelectParams(Params):
    index: int
    text: str


async def select_dropdown(ctx: ActionContext, params: SelectParams) -> ActionResult:
    handle = await ctx.element(params.index)
    try:
        chosen = await handle.select_option(label=params.text)
    except PlaywrightError:
        try:
            chosen = await handle.select_option(value=params.text)
        except PlaywrightError as exc:
            raise ActionError(
                f"could not select {params.text!r} in [{params.index}]: {exc.message.splitlines()[0]}"
            ) from None
    return ActionResult(text=f"selected {params.text!r} in [{params.index}] (value {chosen})")


ACTION = Action(
    "select_dropdown", SelectParams, "choose option by text in <select> [index]", select_dropdown
)
