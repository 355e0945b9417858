"""Type a secret only into a document that may receive it, and only that document.

Checked before the value is revealed: the field's document and every frame above it are
http(s) pages (never ``data:``, ``blob:``, ``about:``, ``javascript:``, ``file:``), pass the
task's policy (``allowedDomains``, network rules) and the secret's own scope, and none is
a sandboxed frame (an opaque origin can send the value anywhere). The value is then set in
one script run *inside the field's document*, which first re-checks that document's origin:
if the frame navigated after the check, the handle's document is gone and the script cannot
run, so there is no check-then-type race. Keystrokes (``fill``/``type``) are not used for
secrets because they go to whatever is focused when they arrive.
"""

from __future__ import annotations

from playwright.async_api import ElementHandle, Frame
from playwright.async_api import Error as PlaywrightError

from shared.urls import parse_url
from workers import metrics
from workers.actions.base import ActionError, NavigationGuard
from workers.policy.navigation import secret_destination_reason
from workers.policy.secrets import SecretVault, UnknownSecretError

_SANDBOXED_JS = "el => el.hasAttribute('sandbox')"
# Runs in the field's own document; Location's members cannot be redefined by the page.
_SET_JS = """
(el, a) => {
  const doc = el.ownerDocument, win = doc && doc.defaultView, loc = doc && doc.location;
  if (!el.isConnected || !win || !loc) return 'the field is no longer on the page';
  if (loc.protocol !== 'http:' && loc.protocol !== 'https:') return 'the page is not an http(s) page';
  if (loc.origin !== a.origin) return 'the page changed since it was checked';
  if (win.origin === 'null') return 'the page is sandboxed (opaque origin)';
  if (el.disabled || el.readOnly) return 'the field is disabled or read-only';
  const tag = el.tagName, field = tag === 'INPUT' || tag === 'TEXTAREA';
  const text = a.clear ? a.value : (field ? el.value : el.textContent) + a.value;
  el.focus();
  if (field) {
    const proto = tag === 'INPUT' ? win.HTMLInputElement.prototype : win.HTMLTextAreaElement.prototype;
    Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, text);
  } else if (el.isContentEditable) {
    el.textContent = text;
  } else {
    return 'secrets can be typed only into text fields';
  }
  el.dispatchEvent(new win.InputEvent('input', {bubbles: true, inputType: 'insertText'}));
  el.dispatchEvent(new win.Event('change', {bubbles: true}));
  return '';
}
"""


async def type_secret(
    handle: ElementHandle, text: str, vault: SecretVault, guard: NavigationGuard, clear: bool = True
) -> None:
    """Reveal the placeholders in ``text`` and set them into ``handle``'s field, or raise ``ActionError``."""
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
        refused = await handle.evaluate(_SET_JS, {"origin": parsed.origin, "value": value, "clear": clear})
    except PlaywrightError:
        refused = "the page changed before typing"
    if refused:
        raise ActionError(f"secret not typed: {refused}; nothing was typed")


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
