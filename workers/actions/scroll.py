"""``scroll{down,pages,index?}``: scroll the page, or a scrollable element, by viewport pages.

The result says where the scroll ended (pixels above and below, for the box and the page)
and whether an end was reached, so the model knows when scrolling further is pointless.
"""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionResult, Params
from workers.page.controls import Extent
from workers.page.controls import scroll as scroll_by


class ScrollParams(Params):
    down: bool = True
    pages: float = 1.0
    index: int | None = None


def _where(extent: Extent, down: bool, what: str) -> str:
    text = f"{extent.above}px above, {extent.below}px below ({what} {extent.height}px high)"
    if down and extent.below <= 1:
        text += f"; reached the bottom of {'it' if what == 'box' else 'the page'}"
    elif not down and extent.above <= 1:
        text += f"; reached the top of {'it' if what == 'box' else 'the page'}"
    return text


async def scroll(ctx: ActionContext, params: ScrollParams) -> ActionResult:
    factor = params.pages if params.down else -params.pages
    direction = "down" if params.down else "up"
    page = await ctx.tabs.page()
    if params.index is None:
        out = await scroll_by(page, factor)
        note = "" if out.moved else " (the page did not move)"
        return ActionResult(
            text=f"scrolled the page {direction} {params.pages:g} page(s){note}: "
            f"now {_where(out.page, params.down, 'viewport')}"
        )
    handle = await ctx.element(params.index)
    out = await scroll_by(handle, factor)
    if out.box is None:
        return ActionResult(
            text=f"[{params.index}] is not inside a scrollable box, so the page scrolled {direction}"
            f"{'' if out.moved else ' (it did not move)'}: now {_where(out.page, params.down, 'viewport')}"
        )
    owner = f"[{params.index}]" if out.box_is_element else f"the <{out.box_tag}> box around [{params.index}]"
    moved = f"by {abs(out.moved)}px" if out.moved else "(it did not move)"
    return ActionResult(
        text=f"scrolled {owner} {direction} {moved}: now {_where(out.box, params.down, 'box')}; "
        f"page: {out.page.above}px above, {out.page.below}px below"
    )


ACTION = Action("scroll", ScrollParams, "scroll page (or element [index]) by pages", scroll)
