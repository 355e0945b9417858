"""``go_back{}``: the browser's back button."""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params


class GoBackParams(Params):
    pass


async def go_back(ctx: ActionContext, params: GoBackParams) -> ActionResult:
    page = await ctx.tabs.page()
    response = await page.go_back(wait_until="domcontentloaded")
    if response is None and page.url in ("", "about:blank"):
        raise ActionError("no previous page")
    return ActionResult(text=f"went back to {page.url}")


ACTION = Action("go_back", GoBackParams, "go back in history", go_back, True)
