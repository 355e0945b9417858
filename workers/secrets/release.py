"""Type a secret only into a document that may receive it, and only that document.

Checked before the value is revealed: the field's document and every frame above it are
http(s) pages (never ``data:``, ``blob:``, ``about:``, ``javascript:``, ``file:``), pass the
task's policy (``allowedDomains``, network rules) and the secret's own scope, and none is
a sandboxed frame (an opaque origin can send the value anywhere). The value is then set in
one script run *inside the field's document*, which first re-checks that document's origin:
if the frame navigated after the check, the handle's document is gone and the script cannot
run, so there is no check-then-type race. Keystrokes (``fill``/``type``) are not used for
secrets because they go to whatever is focused when they arrive. A readonly (picker) field
takes a secret like any other, through the same checks; with ``verify`` the field is read
back after the page settled, and only a verdict (kept, reverted...) leaves the page.
"""

from __future__ import annotations

from playwright.async_api import ElementHandle, Frame
from playwright.async_api import Error as PlaywrightError

from shared.urls import parse_url
from workers import metrics
from workers.actions.base import ActionError, NavigationGuard
from workers.browser.controls import settle
from workers.browser.field_value import SET_JS
from workers.policy.navigation import secret_destination_reason
from workers.policy.secrets import SecretVault, UnknownSecretError

_SANDBOXED_JS = "el => el.hasAttribute('sandbox')"
# Runs in the field's own document; Location's members cannot be redefined by the page. The
# checks come first, then the one setter every value goes through (field_value.SET_JS).
_SET_JS = (
    """
(el, a) => {
  const doc = el.ownerDocument, win = doc && doc.defaultView, loc = doc && doc.location;
  if (!el.isConnected || !win || !loc) return {refused: 'the field is no longer on the page'};
  if (loc.protocol !== 'http:' && loc.protocol !== 'https:') {
    return {refused: 'the page is not an http(s) page'};
  }
  if (loc.origin !== a.origin) return {refused: 'the page changed since it was checked'};
  if (win.origin === 'null') return {refused: 'the page is sandboxed (opaque origin)'};
  if (el.disabled) return {refused: 'the field is disabled'};
  const tag = el.tagName;
  if (tag !== 'INPUT' && tag !== 'TEXTAREA' && !el.isContentEditable) {
    return {refused: 'secrets can be typed only into text fields'};
  }
  const done = ("""
    + SET_JS
    + """)(el, {value: a.value, clear: a.clear, focus: !el.readOnly});
  if (done.error === 'rejected') return {refused: 'the field does not take a value written that way'};
  // (what a page's script threw may quote what it was given)
  if (done.error) {
    return {refused: /^the page threw/.test(done.error) ? 'the page threw an error' : done.error};
  }
  return {refused: '', before: done.before};
}
"""
)
# After the page has settled: is the value still there? Only a verdict comes back.
_KEPT_JS = """
(el, [want, before]) => {
  if (!el.isConnected) return 'gone';
  const tag = el.localName;
  const s = window[Symbol.for('browserfleet')];
  const acc = (s && s.valueAccessor && s.valueAccessor(tag)) ||
    (tag === 'input' ? Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, 'value')
      : tag === 'textarea' ? Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, 'value') : null);
  const now = acc ? String(acc.get.call(el)) : el.textContent;
  if (now === want) return 'kept';
  if (now === before) return 'reverted';
  return now === '' ? 'empty' : 'changed';
}
"""


async def type_secret(
    handle: ElementHandle,
    text: str,
    vault: SecretVault,
    guard: NavigationGuard,
    clear: bool = True,
    verify: bool = False,
) -> str:
    """Reveal the placeholders in ``text`` and set them into ``handle``'s field, or raise
    ``ActionError``. With ``verify``: what the field holds once the page settled, ``kept``,
    ``changed`` (reformatted), ``reverted``, ``empty`` or ``gone`` (the page moved on);
    else ``""``. Never the value."""
    frame = await handle.owner_frame()
    if frame is None:
        raise ActionError("the field is no longer on the page; nothing typed")
    chain = await _frame_chain(frame)
    for where in chain:
        reason = secret_destination_reason(where) or guard(where)
        if reason:
            metrics.SECRET_REFUSALS.inc()
            raise ActionError(f"secrets are not typed on {where[:300]}: {reason}")
    try:
        for where in chain[1:]:
            vault.check_use(text, where)
        value = vault.reveal(text, url=chain[0])
    except UnknownSecretError as exc:
        metrics.SECRET_REFUSALS.inc()
        raise ActionError(str(exc)) from None
    parsed = parse_url(chain[0])
    assert parsed is not None  # secret_destination_reason passed
    try:
        done = await handle.evaluate(_SET_JS, {"origin": parsed.origin, "value": value, "clear": clear})
    except PlaywrightError:
        done = {"refused": "the page changed before typing"}
    if done.get("refused"):
        raise ActionError(f"secret not typed: {done['refused']}; nothing was typed")
    if not verify:
        return ""
    before = str(done.get("before") or "")
    await settle(handle)
    try:
        return str(await handle.evaluate(_KEPT_JS, [value if clear else before + value, before]))
    except PlaywrightError:  # the document is gone: the page moved on (e.g. a submit on change)
        return "gone"


async def _frame_chain(frame: Frame) -> list[str]:
    """The URLs of ``frame`` and every frame above it; refuses sandboxed iframes on the way."""
    urls: list[str] = []
    current: Frame | None = frame
    while current is not None:
        urls.append(current.url)
        parent = current.parent_frame
        if parent is not None and await _sandboxed(current):
            metrics.SECRET_REFUSALS.inc()
            raise ActionError(f"secrets are not typed into a sandboxed frame ({current.url[:300]})")
        current = parent
    return urls


async def _sandboxed(frame: Frame) -> bool:
    """Whether the iframe element holding ``frame`` (read from its parent's side) is sandboxed."""
    try:
        element = await frame.frame_element()
        return bool(await element.evaluate(_SANDBOXED_JS))
    except PlaywrightError:
        return True  # cannot tell: treat as sandboxed
