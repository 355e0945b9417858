"""``dropdown_options{index}``: list the options of a <select> (or listbox)."""

from __future__ import annotations

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params

_OPTIONS_JS = """el => {
  const opts = el.options ? Array.from(el.options)
    : Array.from(el.querySelectorAll('[role=option]'));
  return opts.map(o => (o.label || o.textContent || '').trim() +
    (o.value !== undefined && o.value !== (o.label || '').trim() ? ` (value=${o.value})` : ''));
}"""


class OptionsParams(Params):
    index: int


async def dropdown_options(ctx: ActionContext, params: OptionsParams) -> ActionResult:
    handle = await ctx.element(params.index)
    options: list[str] = await handle.evaluate(_OPTIONS_JS)
    if not options:
        raise ActionError(f"[{params.index}] has no options")
    listed = "\n".join(f"- {ctx.vault.mask(o)}" for o in options)
    return ActionResult(text=f"options of [{params.index}]:\n{listed}")


ACTION = Action("dropdown_options", OptionsParams, "list the options of dropdown [index]", dropdown_options)
