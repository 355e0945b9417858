"""``scroll{down,pages,index?}``: scroll the page, or a scrollable element, by viewport pages."""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionResult, Params

_SCROLL_ELEMENT_JS = """(el, f) => {
  let n = el;
  while (n && n !== document.body && !(n.scrollHeight > n.clientHeight + 1 &&
         /(auto|scroll)/.test(getComputedStyle(n).overflowY))) n = n.parentElement;
  const target = n && n !== document.body ? n : document.scrollingElement;
  target.scrollBy(0, f * target.clientHeight);
  return target.scrollTop;
}"""


class ScrollParams(Params):
    down: bool = True
    pages: float = 1.0
    index: int | None = None


async def scroll(ctx: ActionContext, params: ScrollParams) -> ActionResult:
    factor = params.pages if params.down else -params.pages
    if params.index is not None:
        handle = await ctx.element(params.index)
        await handle.evaluate(_SCROLL_ELEMENT_JS, factor)
    else:
        page = await ctx.session.page()
        await page.evaluate("f => window.scrollBy(0, f * window.innerHeight)", factor)
    where = "down" if params.down else "up"
    return ActionResult(text=f"scrolled {where} {params.pages} page(s)")


ACTION = Action("scroll", ScrollParams, "scroll page (or element [index]) by pages", scroll)
