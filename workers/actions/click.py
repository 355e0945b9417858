"""``click{index}``: click an element of the current page state."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params


class ClickParams(Params):
    index: int


async def click(ctx: ActionContext, params: ClickParams) -> ActionResult:
    handle = await ctx.element(params.index)
    try:
        await handle.click()
    except PlaywrightError as exc:
        raise ActionError(f"could not click [{params.index}]: {exc.message.splitlines()[0]}") from None
    return ActionResult(text=f"clicked [{params.index}]")


ACTION = Action("click", ClickParams, "click element [index]", click)
