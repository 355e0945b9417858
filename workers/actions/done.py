"""``done{text,success,data?}``: finish the task; ``data`` must match the task's output schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params


class DoneParams(Params):
    text: str = ""
    success: bool = True
    data: Any = None


async def done(ctx: ActionContext, params: DoneParams) -> ActionResult:
    if ctx.output_schema is None:
        output = params.text
    elif params.data is None and not params.success:
        output = None
    else:
        try:
            jsonschema.validate(params.data, ctx.output_schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "data"
            raise ActionError(
                f"done.data does not match the output schema at {where}: {exc.message}"
            ) from None
        output = json.dumps(params.data, ensure_ascii=False)
    masked = ctx.vault.mask(output) if output is not None else None
    return ActionResult(text="task finished", done=True, success=params.success, output=masked)


ACTION = Action("done", DoneParams, "finish: success true/false, text = final answer", done)
