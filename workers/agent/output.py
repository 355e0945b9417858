"""The model's answer each step: a strict JSON object, parsed defensively.

Fences, prose around the object and ``actions`` instead of ``action`` are
tolerated; anything else becomes an :class:`OutputError` whose text is shown
to the model so it can correct itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError

from workers.actions.base import Action, Params
from workers.agent.reply import OutputError, json_object


class PlannedAction(BaseModel):
    name: str
    params: Params

    def as_json(self) -> str:
        return json.dumps({self.name: self.params.model_dump(exclude_none=True)}, ensure_ascii=False)


class AgentOutput(BaseModel):
    thinking: str | None = None
    evaluation_previous_goal: str = ""
    memory: str = ""
    next_goal: str = ""
    actions: list[PlannedAction]


def parse_output(text: str | None, actions: Mapping[str, Action], max_actions: int) -> AgentOutput:
    """Parse and validate one reply against the actions allowed this step."""
    if not text:
        raise OutputError("empty reply; answer with the JSON object")
    data = json_object(text)
    raw_actions = data.get("action", data.get("actions"))
    if not isinstance(raw_actions, list) or not raw_actions:
        raise OutputError('"action" must be a non-empty list like [{"click": {"index": 3}}]')
    planned = []
    for item in raw_actions[:max_actions]:
        if not isinstance(item, dict) or len(item) != 1:
            raise OutputError(f"each action is an object with one key, got {json.dumps(item)[:200]}")
        ((name, params),) = item.items()
        if name not in actions:
            raise OutputError(f"unknown or not allowed action {name!r}; allowed: {sorted(actions)}")
        try:
            parsed = actions[name].params.model_validate(params or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise OutputError(f"bad parameters for {name}: {problems}") from None
        planned.append(PlannedAction(name=name, params=parsed))

    def text_field(key: str) -> str:
        value = data.get(key)
        return value if isinstance(value, str) else "" if value is None else json.dumps(value)

    return AgentOutput(
        thinking=text_field("thinking") or None,
        evaluation_previous_goal=text_field("evaluation_previous_goal"),
        memory=text_field("memory"),
        next_goal=text_field("next_goal"),
        actions=planned,
    )
