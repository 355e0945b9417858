"""``done{text,success,data?}``: finish the task; ``data`` must match the task's output schema."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from shared.output_schema import SchemaError, validation_error
from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params

MAX_DATA_CHARS = 1_000_000
VALIDATION_TIMEOUT_S = 5.0


class DoneParams(Params):
    text: str = ""
    success: bool = True
    data: Any = None


async def _validate(schema: dict[str, Any], data: Any) -> str | None:
    """Validate in a thread with a time bound: the event loop (and every other task and lease
    renewal of this process) never waits on it. RE2 patterns and bounded schemas keep it short;
    the bound is for what those bounds did not foresee."""
    try:
        return await asyncio.wait_for(asyncio.to_thread(validation_error, schema, data), VALIDATION_TIMEOUT_S)
    except TimeoutError:
        return f"data: validation took over {VALIDATION_TIMEOUT_S:g}s; the output schema is too complex"
    except SchemaError as exc:
        return f"data: the output schema is refused ({exc})"


async def done(ctx: ActionContext, params: DoneParams) -> ActionResult:
    if ctx.output_schema is None:
        output = params.text
    elif params.data is None and not params.success:
        output = None
    else:
        output = json.dumps(params.data, ensure_ascii=False)
        if len(output) > MAX_DATA_CHARS:
            raise ActionError(f"done.data is {len(output)} characters of JSON; at most {MAX_DATA_CHARS}")
        problem = await _validate(ctx.output_schema, params.data)
        if problem:
            raise ActionError(f"done.data does not match the output schema at {problem}")
    masked = ctx.vault.mask(output) if output is not None else None
    return ActionResult(text="task finished", done=True, success=params.success, output=masked)


ACTION = Action("done", DoneParams, "finish: success true/false, text = final answer", done)
