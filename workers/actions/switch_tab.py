"""``switch_tab{tab_id}``: look at another open tab."""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.browser.tabs import TabError


class SwitchTabParams(Params):
    tab_id: int


async def switch_tab(ctx: ActionContext, params: SwitchTabParams) -> ActionResult:
    try:
        page = ctx.tabs.switch(params.tab_id)
    except TabError as exc:
        raise ActionError(str(exc)) from None
    await page.bring_to_front()
    return ActionResult(text=f"switched to tab {params.tab_id} ({page.url})")


ACTION = Action("switch_tab", SwitchTabParams, "switch to tab tab_id", switch_tab, True)
