"""Build each step's request: a fixed system prompt and one user message.

The system prompt is rendered once per task (it lists only the actions allowed);
the user message is rebuilt every step from the task, a compact history and the
current state, so the request never grows into a long chat.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.masking import placeholder
from workers.actions.base import Action

_TEMPLATE = (Path(__file__).parent / "system_prompt.md").read_text()
HISTORY_FULL_STEPS = 8
#: The latest step's results (an extract, a skill's output) are shown nearly whole; older ones short.
LATEST_RESULT_CHARS = 6000
OLDER_RESULT_CHARS = 300


@dataclass
class StepMemory:
    """What the next prompts remember of one step."""

    number: int
    evaluation: str
    memory: str
    next_goal: str
    actions: list[str]
    results: list[str]

    def render(self, result_chars: int = OLDER_RESULT_CHARS) -> str:
        acts = "; ".join(
            f"{a} -> {_clip(r, result_chars)}" for a, r in zip(self.actions, self.results, strict=False)
        )
        parts = [f"step {self.number}:"]
        if self.evaluation:
            parts.append(f"eval: {self.evaluation}")
        if self.memory:
            parts.append(f"memory: {self.memory}")
        if self.next_goal:
            parts.append(f"goal: {self.next_goal}")
        parts.append(f"actions: {acts or '(none)'}")
        return " | ".join(parts)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"…[{len(text) - limit} more chars]"


def output_format(flash_mode: bool, thinking: bool) -> str:
    fields: list[tuple[str, str]] = []
    if thinking and not flash_mode:
        fields.append(("thinking", "your reasoning about the state and what to do"))
    if not flash_mode:
        fields.append(("evaluation_previous_goal", "did the last step work? success/failure and why"))
    fields.append(("memory", "what to remember: progress, facts found, what is left"))
    if not flash_mode:
        fields.append(("next_goal", "the immediate goal of this step's actions"))
    lines = [f'  "{name}": "{desc}",' for name, desc in fields]
    lines.append('  "action": [{"action_name": {"param": "value"}}]')
    return "{\n" + "\n".join(lines) + "\n}"


def system_prompt(
    actions: Mapping[str, Action],
    *,
    flash_mode: bool,
    thinking: bool,
    vision: bool,
    max_actions: int,
    structured: bool,
    extension: str = "",
) -> str:
    listing = "\n".join(f"- {a.signature()}: {a.doc}" for a in actions.values())
    done_note = (
        "; put the result in `data`, matching the output schema given with the task"
        if structured
        else "; put the complete answer in `text`"
    )
    text = _TEMPLATE.format(
        vision_note=", and a screenshot" if vision else "",
        output_format=output_format(flash_mode, thinking),
        max_actions=max_actions,
        action_list=listing,
        done_note=done_note,
    )
    return text + ("\n" + extension.strip() if extension.strip() else "")


def render_history(history: list[StepMemory]) -> str:
    if not history:
        return "(no steps yet)"
    older, recent = history[:-HISTORY_FULL_STEPS], history[-HISTORY_FULL_STEPS:]
    lines = []
    if older:
        lines.append(f"({len(older)} earlier steps; last memory then: {older[-1].memory})")
    lines += [step.render() for step in recent[:-1]]
    lines.append(recent[-1].render(LATEST_RESULT_CHARS))
    return "\n".join(lines)


def user_message(
    *,
    task: str,
    history: list[StepMemory],
    state: str,
    step: int,
    max_steps: int,
    secret_names: list[str],
    output_schema: dict[str, Any] | None,
    session_memory: str = "",
    note: str = "",
) -> str:
    parts = [f"<task>\n{task}\n</task>"]
    if session_memory:
        parts.append(f"<earlier_tasks_in_session>\n{session_memory}\n</earlier_tasks_in_session>")
    if secret_names:
        names = ", ".join(placeholder(n) for n in secret_names)
        parts.append(f"<secrets>available: {names}</secrets>")
    if output_schema is not None:
        parts.append(f"<output_schema>\n{json.dumps(output_schema, separators=(',', ':'))}\n</output_schema>")
    parts.append(f"<history>\n{render_history(history)}\n</history>")
    last = " LAST STEP: only `done` is allowed." if step >= max_steps else ""
    parts.append(f"<state>\nstep {step} of {max_steps}.{last}\n{state}\n</state>")
    if note:
        parts.append(f"<note>\n{note}\n</note>")
    return "\n".join(parts)
