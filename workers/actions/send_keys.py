"""``send_keys{keys}``: press keys on the focused element (``Enter``, ``Control+a``, ``Escape``).

Escape goes where a person's would have effect: when focus has left every field while a
field's popup (a date picker, a suggestion list) is still open beside it, the field gets
focus back first, since that is where such widgets listen (``overlays.escape_target``).
"""

from __future__ import annotations

from playwright.async_api import Error as PlaywrightError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.page.overlays import escape_target


class SendKeysParams(Params):
    keys: str


async def send_keys(ctx: ActionContext, params: SendKeysParams) -> ActionResult:
    page = await ctx.tabs.page()
    combos = params.keys.split()
    where = ""
    if any(combo.rpartition("+")[2] == "Escape" for combo in combos):
        local = await escape_target(page.main_frame)
        if local is not None:
            line = ctx.elements.describe_main(local) if ctx.elements is not None and local >= 0 else None
            where = f" on {line or 'the field'} (its popup was open)"
    try:
        for combo in combos:
            await page.keyboard.press(combo)
    except PlaywrightError as exc:
        raise ActionError(f"could not press {params.keys!r}: {exc.message.splitlines()[0]}") from None
    return ActionResult(text=f"pressed {params.keys}{where}")


ACTION = Action(
    "send_keys", SendKeysParams, "press keys, space-separated (Enter, Control+a, Escape)", send_keys
)
