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


class ReadParams(SkillParams):
    url: str = Field(description="the page to open")
    selector: str = Field("h1", description="the element whose text is read")


@skill("visit_and_read", title="Visit and read", changes_page=True)
async def visit_and_read(ctx: SkillContext, params: ReadParams) -> dict[str, str]:
    """Open a page (the policy decides) and read one element's text."""
    ctx.check_url(params.url)
    page = await ctx.page()
    await page.goto(params.url)
    return {"text": await page.inner_text(params.selector), "title": await page.title()}
