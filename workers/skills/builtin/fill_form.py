"""``fill_form``: fill many fields in one action, found by label, placeholder, name or id.

Values may hold ``<secret>name</secret>`` placeholders: they are revealed only here, and
only into a field whose document (and every frame above it) the task's policy and the
secret's scope allow, checked at the moment of typing, as for ``input``.
"""

from __future__ import annotations

import json

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Locator, Page
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from pydantic import Field

from workers.actions.base import ActionError
from workers.page.field_writer import FieldError, Target, write_field
from workers.skills.base import SkillContext, SkillParams, skill

TRUE_WORDS = {"true", "yes", "on", "1", "checked", "x"}
_SUBMIT_JS = """
(el) => {
  const form = el.form || el.closest('form');
  if (!form) return false;
  if (form.requestSubmit) form.requestSubmit(); else form.submit();
  return true;
}
"""


class FormParams(SkillParams):
    fields: dict[str, str] = Field(description="field label, placeholder, name or id -> value")
    submit: bool = Field(False, description="submit the form after filling")


def _candidates(page: Page, key: str) -> list[Locator]:
    quoted = json.dumps(key)  # a valid CSS string literal for any key
    return [
        page.get_by_label(key, exact=True),
        page.get_by_placeholder(key, exact=True),
        page.locator(f"[name={quoted}]"),
        page.locator(f"[id={quoted}]"),
        page.get_by_label(key),
        page.get_by_placeholder(key),
    ]


async def _find(page: Page, key: str) -> Locator:
    for locator in _candidates(page, key):
        if await locator.count():
            return locator.first
    raise ActionError(f"no form field labelled, named or with placeholder {key!r}")


async def _set(ctx: SkillContext, key: str, field: Locator, value: str) -> None:
    kind = await field.evaluate("el => [el.tagName.toLowerCase(), (el.type || '').toLowerCase()]")
    if kind[0] == "select":
        try:
            await field.select_option(label=value)
        except PlaywrightError:
            await field.select_option(value=value)
    elif kind[1] in ("checkbox", "radio"):
        await field.set_checked(value.strip().lower() in TRUE_WORDS)
    else:
        await _write(ctx, key, field, value)


async def _write(ctx: SkillContext, key: str, field: Locator, value: str) -> None:
    """Text goes in as ``input`` puts it (:func:`workers.page.field_writer.write_field`: typed, or
    set as a picker would, dates in the field's format, kept only if the page kept it; a secret
    only after its field's document was checked)."""
    handle = await field.element_handle(timeout=5000)
    try:
        await write_field(Target(ref=repr(key), line=repr(key)), handle, value, clear=True, vault=ctx.vault,
                          guard=ctx.guard, current_url=ctx.tab_url)
    except FieldError as exc:
        raise ActionError(str(exc)) from None
    finally:
        await handle.dispose()


@skill("fill_form", title="Fill a form", changes_page=True)
async def fill_form(ctx: SkillContext, params: FormParams) -> str:
    """Fill several fields at once; fields maps label/placeholder/name/id to value; submit: send the form."""
    page = await ctx.page()
    last: Locator | None = None
    for key, raw in params.fields.items():
        last = await _find(page, key)
        try:
            if ctx.vault.has_placeholder(raw):
                await _write(ctx, key, last, raw)
            else:
                await _set(ctx, key, last, raw)
        except PlaywrightError as exc:
            raise ActionError(f"could not fill {key!r}: {exc.message.splitlines()[0]}") from None
    summary = f"filled {len(params.fields)} field(s): {', '.join(params.fields)}"
    if not params.submit or last is None:
        return summary
    try:
        async with page.expect_navigation(wait_until="domcontentloaded", timeout=5000):
            if not await last.evaluate(_SUBMIT_JS):
                raise ActionError("the filled fields are not inside a form; nothing submitted")
    except PlaywrightTimeoutError:
        return summary + "; submitted (the page did not navigate)"
    return summary + f"; submitted, now at {page.url}"
