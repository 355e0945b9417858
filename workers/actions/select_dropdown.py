"""``select_dropdown{index,text,remove?}``: choose an option of a <select> by its visible text.

On a ``<select multiple>`` the option is added to the selection (``remove`` takes it off),
and the result lists everything selected afterwards.
"""

from __future__ import annotations

from typing import Any

from playwright.async_api import Error as PlaywrightError

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params

# Select in place, with the events a user's choice fires; answers with the whole selection.
_MULTI_JS = """(el, [text, remove]) => {
  if (el.localName !== 'select') {
    return { error: 'is not a <select>: click it, then click the option it shows' };
  }
  if (el.disabled) return { error: 'is disabled' };
  const norm = (t) => t.replace(/\\s+/g, ' ').trim().toLowerCase();
  const opts = [...el.options];
  const o = opts.find((x) => x.label === text || x.text === text) ||
    opts.find((x) => norm(x.text) === norm(text)) || opts.find((x) => x.value === text);
  if (!o) return { error: 'has no option ' + JSON.stringify(text) + '; options: ' +
    opts.slice(0, 30).map((x) => x.text.trim()).join(' | ') };
  if (o.disabled) return { error: 'has option ' + JSON.stringify(o.text.trim()) + ' disabled' };
  if (!el.multiple && remove) return { error: 'allows one option only: select another one instead' };
  o.selected = !remove;
  el.dispatchEvent(new Event('input', { bubbles: true }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return { multiple: el.multiple, selected: [...el.selectedOptions].map((x) => x.text.trim()) };
}"""


class SelectParams(Params):
    index: int
    text: str
    remove: bool = False


async def select_dropdown(ctx: ActionContext, params: SelectParams) -> ActionResult:
    handle = await ctx.element(params.index)
    multiple = await handle.evaluate("el => el.localName === 'select' && el.multiple")
    if multiple or params.remove:
        return await _toggle(ctx, params)
    try:
        chosen = await handle.select_option(label=params.text)
    except PlaywrightError:
        try:
            chosen = await handle.select_option(value=params.text)
        except PlaywrightError as exc:
            raise ActionError(
                f"could not select {params.text!r} in [{params.index}]: {exc.message.splitlines()[0]}"
            ) from None
    return ActionResult(text=f"selected {params.text!r} in [{params.index}] (value {chosen})")


async def _toggle(ctx: ActionContext, params: SelectParams) -> ActionResult:
    handle = await ctx.element(params.index)
    out: dict[str, Any] = await handle.evaluate(_MULTI_JS, [params.text, params.remove])
    if "error" in out:
        raise ActionError(f"could not {'remove' if params.remove else 'select'} {params.text!r}: "
                          f"[{params.index}] {out['error']}")
    done = "removed" if params.remove else "selected"
    now = ", ".join(out["selected"]) or "nothing"
    return ActionResult(text=f"{done} {params.text!r} in [{params.index}]; now selected: {now}")


ACTION = Action(
    "select_dropdown",
    SelectParams,
    "choose option by text in <select> [index]; on a multiple select it is added (remove: take it off)",
    select_dropdown,
)
