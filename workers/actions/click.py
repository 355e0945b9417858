"""``click{index}``: click an element of the current page state.

The click lands on a visible point of the element's own (a container's, not one of the
controls listed inside it), and a covered or disabled element is reported at once instead
of costing the whole action timeout. A popup left open over the element (a date picker after
its choice, a menu) is closed first as a person would, Escape, then a click outside it, and
the result says so; anything else on top is reported with the covering widget's root.

A main-frame element with a clear point is clicked after one look that also guards the
point, with Playwright's ``force`` click (no second look: no stability wait over two
animation frames, no hit-target check, two of its four handle adoptions fewer) and one read
of the guard's verdict: ~15 browser messages instead of ~27. Under load each round trip
queues behind busy renderers, and the stability wait makes the renderer paint frames.
Playwright still waits for a navigation the click starts.
"""

from __future__ import annotations

import asyncio

from playwright.async_api import ElementHandle
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.page.controls import ClickTarget, click_plan, click_target, click_verdict
from workers.page.dom import UnknownElementError
from workers.page.overlays import close_cover, covering

# Once a clear point was found, the click itself should take milliseconds; this only bounds
# the case where something moves over the point between the look and the click. A click that
# runs out of it on a point that is still clear (a renderer starved of CPU) is tried again
# with the session's action timeout: a slow machine makes the click slower, not wrong.
POSITIONED_CLICK_TIMEOUT_MS = 1500


class ClickParams(Params):
    index: int


async def click(ctx: ActionContext, params: ClickParams) -> ActionResult:
    try:
        await _click(ctx, params.index)
        return ActionResult(text=f"clicked [{params.index}]")
    except _Covered as covered:
        if not covered.target.transient:
            raise ActionError(str(covered)) from None
        how = await _close_cover(ctx, params.index)
        if how is None:
            raise ActionError(_covered(ctx, params.index, covered.target, tried=True)) from None
        cover = _cover_line(ctx, params.index, covered.target)
    try:
        await _click(ctx, params.index)
    except _Covered as again:
        raise ActionError(str(again)) from None
    return ActionResult(text=f"closed {cover} that covered it ({how}), then clicked [{params.index}]")


async def _click(ctx: ActionContext, index: int) -> None:
    """Click element ``index``; ``_Covered`` if something is on top of it, ``ActionError``
    for anything else the model can act on."""
    if await _click_main_frame(ctx, index):
        return
    handle = await ctx.element(index)
    target = await _look(handle)
    _refuse(ctx, index, target)
    try:
        if target.position is None:  # no box yet, or out of view: let Playwright wait for it as usual
            await handle.click()
        else:
            try:
                await handle.click(
                    position=target.position, force=target.force, timeout=POSITIONED_CLICK_TIMEOUT_MS
                )
            except PlaywrightTimeoutError:
                target = await _look(handle)
                _refuse(ctx, index, target)
                await handle.click(position=target.position, force=target.force)
    except PlaywrightError as exc:
        await _explain(ctx, index, handle)
        raise ActionError(f"could not click [{index}]: {exc.message.splitlines()[0]}") from None


async def _close_cover(ctx: ActionContext, index: int) -> str | None:
    """Close the popup the look found over element ``index`` (see ``overlays``); how, or ``None``."""
    assert ctx.elements is not None
    frame = ctx.elements.place(index)[0]
    return await close_cover(await ctx.tabs.page(), frame)


async def _click_main_frame(ctx: ActionContext, index: int) -> bool:
    """The usual case in a few round trips: a main-frame element with a clear point gets the
    mouse there directly; ``False`` hands anything else (iframes, no box yet, a click the page
    moved away from) to Playwright's click with its own waits and checks."""
    if ctx.elements is None:
        return False
    try:
        frame, local, capture_id, main = ctx.elements.place(index)
    except UnknownElementError as exc:
        raise ActionError(str(exc)) from None
    if not main:
        return False
    try:
        target = await asyncio.wait_for(
            click_plan(frame, local, capture_id), ctx.tabs.action_timeout_ms / 1000
        )
    except (PlaywrightError, TimeoutError):
        return False
    if target.kind == "stale":
        raise ActionError(str(ctx.elements.gone(index)))
    if target.kind == "covered":
        target = await covering(frame, target)
    _refuse(ctx, index, target)
    if target.kind != "point" or target.force or target.position is None:
        return False
    try:
        # force: no second look (ours was just taken, and the guard stands in for Playwright's
        # hit-target check); Playwright still waits for a navigation the click starts to commit.
        handle = await ctx.element(index)
        await handle.click(position=target.position, force=True)
    finally:
        verdict = await click_verdict(frame)  # always: it also removes the page's guard
    return verdict is None or not verdict.miss


class _Covered(ActionError):
    """Something is on top of the element; ``target`` says what (and whether it is a popup)."""

    def __init__(self, message: str, target: ClickTarget) -> None:
        super().__init__(message)
        self.target = target


def _refuse(ctx: ActionContext, index: int, target: ClickTarget) -> None:
    """An ``ActionError`` the model can act on, if the element cannot be clicked now."""
    assert ctx.elements is not None
    if target.kind == "disabled":
        raise ActionError(
            f"{ctx.elements.describe(index)} is disabled: it cannot be clicked until the page "
            "enables it (e.g. after the fields it needs are filled)"
        )
    if target.kind == "covered":
        raise _Covered(_covered(ctx, index, target), target)


def _cover_line(ctx: ActionContext, index: int, target: ClickTarget) -> str:
    """What covers element ``index``: the covering widget's line if it is listed, else its tag."""
    assert ctx.elements is not None
    cover = ctx.elements.describe_near(index, target.cover_local) if target.cover_local >= 0 else None
    return cover or target.cover_what


def _covered(ctx: ActionContext, index: int, target: ClickTarget, *, tried: bool = False) -> str:
    cover = _cover_line(ctx, index, target)
    if tried:
        assert ctx.elements is not None
        owner = ctx.elements.describe_near(index, target.owner_local) if target.owner_local >= 0 else None
        owner = owner or target.owner_what
        of = f", the popup of {owner}" if owner else ", a popup"
        return (
            f"could not click [{index}]: it is covered by {cover}{of}, which stayed open after Escape "
            "and a click outside it (choose in it or close it, then click again)"
        )
    return (
        f"could not click [{index}]: it is covered by {cover} "
        "(close or use what is on top first, e.g. send_keys Escape, then click again)"
    )


async def _look(handle: ElementHandle) -> ClickTarget:
    """Where to click ``handle``; what covers it named by its widget (``overlays.covering``)."""
    target = await click_target(handle)
    if target.kind == "covered":
        frame = await handle.owner_frame()
        if frame is not None:
            target = await covering(frame, target)
    return target


async def _explain(ctx: ActionContext, index: int, handle: ElementHandle) -> None:
    """After a failed click, say why if the page now shows a reason (e.g. a menu on top)."""
    try:
        target = await _look(handle)
    except PlaywrightError:
        return
    _refuse(ctx, index, target)


ACTION = Action("click", ClickParams, "click element [index]", click)
