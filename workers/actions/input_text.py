"""``input{index,text,clear}``: type text into a field; secrets are revealed only here."""

from __future__ import annotations

from playwright.async_api import ElementHandle
from playwright.async_api import Error as PlaywrightError

from workers.actions import fields
from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.policy.secrets import UnknownSecretError


class InputParams(Params):
    index: int
    text: str
    clear: bool = True


async def input_text(ctx: ActionContext, params: InputParams) -> ActionResult:
    handle = await ctx.element(params.index)
    field = await fields.writable(ctx, params.index, handle)  # readonly/disabled: fail fast
    url = None
    if ctx.vault.has_placeholder(params.text):
        url = await _secret_destination(ctx, handle)
    try:
        value = ctx.vault.reveal(params.text, url=url)
    except UnknownSecretError as exc:
        raise ActionError(str(exc)) from None
    try:
        if field.native_format:
            return await fields.set_native(params.index, handle, field, params.text, value)
        if params.clear:
            await handle.fill(value)
        else:
            await handle.type(value)
    except PlaywrightError as exc:
        raise ActionError(f"could not type into [{params.index}]: {exc.message.splitlines()[0]}") from None
    held = await fields.after_typing(handle, field, secret=url is not None, typed=value)
    return ActionResult(text=f"typed {params.text!r} into [{params.index}]{held}")


async def _secret_destination(ctx: ActionContext, handle: ElementHandle) -> str:
    """The URL of the document the field is in, checked (with its tab's) before a secret is typed."""
    page = await ctx.session.page()
    frame = await handle.owner_frame()
    url = frame.url if frame is not None and frame.url.startswith(("http:", "https:")) else page.url
    for where in dict.fromkeys([page.url, url]):
        reason = ctx.guard(where)
        if reason:
            raise ActionError(f"secrets are not typed on {where}: {reason}")
    return url


ACTION = Action(
    "input", InputParams, "type text into field [index] (clear: replace its content)", input_text
)
