"""``close_tab{tab_id}``: close an open tab."""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.browser.tabs import TabError


class CloseTabParams(Params):
    tab_id: int


async def close_tab(ctx: ActionContext, params: CloseTabParams) -> ActionResult:
    try:
        await ctx.tabs.close_tab(params.tab_id)
    except TabError as exc:
        raise ActionError(str(exc)) from None
    return ActionResult(text=f"closed tab {params.tab_id}")


ACTION = Action("close_tab", CloseTabParams, "close tab tab_id", close_tab, True)
