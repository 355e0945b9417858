"""Skills the e2e tests load through ``BROWSERFLEET_SKILLS_DIR`` (the operator's directory path)."""

from __future__ import annotations

from pydantic import Field

from workers.skills import SkillContext, SkillParams, skill


class BoomParams(SkillParams):
    reason: str = Field("kaboom", description="the message of the exception")


@skill("boom", title="Always fails")
async def boom(ctx: SkillContext, params: BoomParams) -> None:
    """Raise an exception (tests that a failing skill does not crash its task)."""
    raise RuntimeError(params.reason)


class TitleParams(SkillParams):
    upper: bool = False


@skill("page_title", title="Page title")
async def page_title(ctx: SkillContext, params: TitleParams) -> dict[str, str]:
    """Read the current page's title and URL."""
    page = await ctx.page()
    title = await page.title()
    return {"title": title.upper() if params.upper else title, "url": page.url}
