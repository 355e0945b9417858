"""``navigate{url,new_tab}``: open a URL in the current tab or a new one."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from shared.urls import with_scheme
from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.policy.navigation import agent_navigation_reason
from workers.process import worker_metrics


class NavigateParams(Params):
    url: str
    new_tab: bool = False


async def navigate(ctx: ActionContext, params: NavigateParams) -> ActionResult:
    url = with_scheme(params.url)
    reason = agent_navigation_reason(url) or ctx.guard(url)
    if reason:
        worker_metrics.REQUESTS_BLOCKED.labels(kind="navigate").inc()
        raise ActionError(f"navigation to {url[:300]} blocked: {reason}")
    page = await ctx.tabs.new_tab() if params.new_tab else await ctx.tabs.page()
    try:
        await page.goto(url, wait_until="domcontentloaded")
    except PlaywrightError as exc:
        raise ActionError(f"could not open {url}: {exc.message.splitlines()[0]}") from None
    return ActionResult(text=f"opened {page.url}")


ACTION = Action("navigate", NavigateParams, "open a URL (new_tab: in a new tab)", navigate, True)
