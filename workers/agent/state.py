"""Render the browser state for the prompt, and take the (optional) screenshot."""

from __future__ import annotations

import base64

from playwright.async_api import Page

from workers.browser.tabs import BrowserTabs
from workers.page.dom import ElementIndex, PageCapture, highlight, unhighlight


async def render_state(capture: PageCapture, tabs: BrowserTabs) -> str:
    open_tabs = []
    for tab_id, url, title in await tabs.listing(current_title=capture.title):
        mark = " (current)" if tab_id == tabs.current_tab else ""
        open_tabs.append(f"[{tab_id}] {_clip(title, 60)} — {_clip(url, 200)}{mark}")
    scroll = capture.scroll
    lines = [
        f"url: {capture.url}",
        f"title: {capture.title}",
        "tabs: " + "; ".join(open_tabs),
        f"scroll: {scroll.pixels_above}px above, {scroll.pixels_below}px below "
        f"(viewport {scroll.viewport_height}px)",
        f"interactive elements ({capture.element_count}):",
        capture.elements_text or "(none)",
        "page text:",
        capture.page_text or "(empty)",
    ]
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    """Cut with a visible ``…``: masking recognises a secret cut short by what follows it."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


async def screenshot(
    page: Page, index: ElementIndex, highlight_elements: bool, timeout_s: float = 10.0
) -> str:
    """A JPEG data URL of the viewport; index labels drawn for it when asked, then removed."""
    if highlight_elements:
        await highlight(page, index)
    try:
        image = await page.screenshot(type="jpeg", quality=60, timeout=timeout_s * 1000)
    finally:
        if highlight_elements:
            await unhighlight(page)
    return "data:image/jpeg;base64," + base64.b64encode(image).decode()
