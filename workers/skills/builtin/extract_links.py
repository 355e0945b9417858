"""``extract_links``: every link of the current page as ``{text, href}`` (absolute URLs)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from workers.skills.base import SkillContext, SkillParams, skill

_LINKS_JS = """
(contains) => {
  const seen = new Set(), out = [];
  for (const a of document.querySelectorAll('a[href]')) {
    const href = a.href;
    if (!href || href.startsWith('javascript:')) continue;
    const label = a.innerText || a.getAttribute('aria-label') || a.title || '';
    const text = label.replace(/\\s+/g, ' ').trim().slice(0, 120);
    const hay = (href + ' ' + text).toLowerCase();
    if (contains && !hay.includes(contains)) continue;
    const key = href + '\\n' + text;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({text, href});
  }
  return out;
}
"""


class LinksParams(SkillParams):
    contains: str | None = Field(None, description="keep links whose text or URL contains this")
    limit: int = Field(100, ge=1, le=1000, description="most links returned")


@skill("extract_links", title="Extract links")
async def extract_links(ctx: SkillContext, params: LinksParams) -> dict[str, Any]:
    """List the page's links as {text, href}; contains: filter on text or URL."""
    page = await ctx.page()
    links = await page.evaluate(_LINKS_JS, (params.contains or "").lower() or None)
    return {"url": page.url, "total": len(links), "links": links[: params.limit]}
