"""Skills: operator-defined browser workflows that a task's agent can call as one action.

Write one::

    from pydantic import Field
    from workers.skills import SkillContext, SkillParams, skill

    class PriceParams(SkillParams):
        sku: str = Field(description="the product's SKU")

    @skill("read_price", title="Read a price")
    async def read_price(ctx: SkillContext, params: PriceParams) -> dict[str, str]:
        \"\"\"Open the product page of sku and read its price.\"\"\"
        page = await ctx.page()
        await page.goto(f"https://shop.example/p/{params.sku}")
        return {"price": await page.locator(".price").inner_text()}

and register it with an entry point in the ``browserfleet.skills`` group (value: a
module, a Skill or a list of skills) or by putting the file in ``BROWSERFLEET_SKILLS_DIR``.
Tasks select skills with ``skillIds`` (``["*"]`` = all); the agent sees
``skill_read_price{sku:str}``. See ``docs/judge_and_skills.md``.
"""

from workers.actions.base import ActionError
from workers.skills.base import Skill, SkillContext, SkillParams, skill

__all__ = ["ActionError", "Skill", "SkillContext", "SkillParams", "skill"]
