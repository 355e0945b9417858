"""``extract{query}``: an LLM reads the whole page text and answers ``query``."""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionResult, Params

EXTRACT_TEXT_CHARS = 40000


class ExtractParams(Params):
    query: str


async def extract(ctx: ActionContext, params: ExtractParams) -> ActionResult:
    page = await ctx.tabs.page()
    text = await page.evaluate("() => document.body ? document.body.innerText : ''")
    text = ctx.vault.mask(text)[:EXTRACT_TEXT_CHARS]
    answer = await ctx.extract(params.query, text)
    return ActionResult(text=f"extracted for {params.query!r}:\n{ctx.vault.mask(answer)}")


ACTION = Action("extract", ExtractParams, "read the full page text and answer query", extract)
