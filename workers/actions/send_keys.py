"""``send_keys{keys}``: press keys on the focused element (``Enter``, ``Control+a``, ``Escape``)."""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params


class SendKeysParams(Params):
    keys: str


async def send_keys(ctx: ActionContext, params: SendKeysParams) -> ActionResult:
    page = await ctx.tabs.page()
    try:
        for combo in params.keys.split():
            await page.keyboard.press(combo)
    except PlaywrightError as exc:
        raise ActionError(f"could not press {params.keys!r}: {exc.message.splitlines()[0]}") from None
    return ActionResult(text=f"pressed {params.keys}")


ACTION = Action(
    "send_keys", SendKeysParams, "press keys, space-separated (Enter, Control+a, Escape)", send_keys
)
