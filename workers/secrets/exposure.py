"""Does the page show a secret? Decides whether a screenshot may go to the LLM.

The state text given to the model is clipped (page text limit, long values cut short),
so a secret can be on screen without being in it. Before a screenshot is taken, every
frame's full visible text and every field's value are read and checked against the
vault; if any holds a secret (or a long piece of one), the step goes without an image.
Password fields are skipped: Chromium draws them as dots.
"""

from __future__ import annotations

import asyncio

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from workers.secrets.vault import SecretVault

_VISIBLE_TEXT_JS = """() => {
  const parts = [document.title, document.body ? document.body.innerText : ''];
  const walk = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.shadowRoot) walk(el.shadowRoot);
      const tag = el.tagName;
      if ((tag === 'INPUT' && el.type !== 'password') || tag === 'TEXTAREA' || tag === 'SELECT') {
        if (el.value) parts.push(el.value);
      }
    }
  };
  walk(document);
  return parts.join('\\n');
}"""
FRAME_TIMEOUT_S = 2.0


async def page_shows_secret(page: Page, vault: SecretVault) -> bool:
    """True if any frame of ``page`` shows a secret value; when unsure, assume it does."""
    if not vault:
        return False
    for frame in page.frames:
        try:
            text = await asyncio.wait_for(frame.evaluate(_VISIBLE_TEXT_JS), FRAME_TIMEOUT_S)
        except (PlaywrightError, TimeoutError):
            if frame.is_detached():
                continue
            return True  # a frame we cannot read may show anything
        if isinstance(text, str) and vault.contains_secret(text):
            return True
    return False
