"""``click{index}``: click an element of the current page state.

The click lands on a visible point of the element's own (a container's, not one of the
controls listed inside it), and a covered or disabled element is reported at once instead
of costing the whole action timeout.
"""

from __future__ import annotations

from playwright.async_api import ElementHandle
from playwright.async_api import Error as PlaywrightError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.browser.controls import ClickTarget, click_target

# Once a clear point was found, the click itself should take milliseconds; this only bounds
# the case where something moves over the point between the look and the click.
POSITIONED_CLICK_TIMEOUT_MS = 1500


class ClickParams(Params):
    index: int


async def click(ctx: ActionContext, params: ClickParams) -> ActionResult:
    handle = await ctx.element(params.index)
    target = await click_target(handle)
    _refuse(ctx, params.index, target)
    try:
        if target.position is not None:
            await handle.click(
                position=target.position, force=target.force, timeout=POSITIONED_CLICK_TIMEOUT_MS
            )
        else:  # no box yet, or out of view: let Playwright wait for it as usual
            await handle.click()
    except PlaywrightError as exc:
        await _explain(ctx, params.index, handle)
        raise ActionError(f"could not click [{params.index}]: {exc.message.splitlines()[0]}") from None
    return ActionResult(text=f"clicked [{params.index}]")


def _refuse(ctx: ActionContext, index: int, target: ClickTarget) -> None:
    """An ``ActionError`` the model can act on, if the element cannot be clicked now."""
    assert ctx.elements is not None
    if target.kind == "disabled":
        raise ActionError(
            f"{ctx.elements.describe(index)} is disabled: it cannot be clicked until the page "
            "enables it (e.g. after the fields it needs are filled)"
        )
    if target.kind == "covered":
        cover = ctx.elements.describe_near(index, target.cover_local) if target.cover_local >= 0 else None
        raise ActionError(
            f"could not click [{index}]: it is covered by {cover or target.cover_what} "
            "(close or use what is on top first, e.g. send_keys Escape, then click again)"
        )


async def _explain(ctx: ActionContext, index: int, handle: ElementHandle) -> None:
    """After a failed click, say why if the page now shows a reason (e.g. a menu on top)."""
    try:
        target = await click_target(handle)
    except PlaywrightError:
        return
    _refuse(ctx, index, target)


ACTION = Action("click", ClickParams, "click element [index]", click)
