"""``wait{seconds}``: let a slow page catch up (capped at 30 s)."""

from __future__ import annotations

import asyncio

from workers.actions.base import Action, ActionContext, ActionResult, Params

MAX_WAIT_S = 30.0


class WaitParams(Params):
    seconds: float = 3.0


async def wait(ctx: ActionContext, params: WaitParams) -> ActionResult:
    seconds = min(max(params.seconds, 0.0), MAX_WAIT_S)
    await asyncio.sleep(seconds)
    return ActionResult(text=f"waited {seconds:g}s")


ACTION = Action("wait", WaitParams, "wait seconds (max 30)", wait)
