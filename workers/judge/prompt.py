"""The judge's request: the fixed system prompt (``prompt.md``) and one user message.

Everything the judge reads comes from the task record (steps are stored masked already)
and is masked once more as a whole with the task's secrets, so a secret the user wrote
into the task text or the ground truth never reaches the judge model either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.models import TaskStepView
from workers.secrets.vault import SecretVault

SYSTEM_PROMPT = (Path(__file__).parent / "prompt.md").read_text()
FIELD_CHARS = 600
RESULT_CHARS = 1500
OUTPUT_CHARS = 10000
TRAJECTORY_CHARS = 60000
FIRST_STEPS_KEPT = 2


@dataclass
class JudgeInput:
    """What the judge is shown about one run."""

    task: str
    output: str | None
    is_success: bool | None
    error: str | None = None
    ground_truth: str | None = None
    output_schema: str | None = None
    steps: list[TaskStepView] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


def render_step(step: TaskStepView) -> str:
    lines = [f"step {step.number} | url: {step.url or '(none)'}"]
    for label, value in (("evaluation", step.evaluation_previous_goal), ("memory", step.memory),
                         ("goal", step.next_goal)):
        if value:
            lines.append(f"  {label}: {_cut(value, FIELD_CHARS)}")
    actions = step.actions or ["(no action)"] * max(1, len(step.results))
    for index, action in enumerate(actions):
        result = step.results[index] if index < len(step.results) else "(not run)"
        lines.append(f"  {action} -> {_cut(result, RESULT_CHARS)}")
    return "\n".join(lines)


def render_trajectory(steps: list[TaskStepView], limit: int = TRAJECTORY_CHARS) -> str:
    """Every step when they fit; else the first few and as many of the last as fit."""
    rendered = [render_step(s) for s in steps]
    if not rendered:
        return "(no steps)"
    if sum(len(r) + 1 for r in rendered) <= limit:
        return "\n".join(rendered)
    head = rendered[:FIRST_STEPS_KEPT]
    budget = limit - sum(len(r) + 1 for r in head)
    tail: list[str] = []
    for text in reversed(rendered[FIRST_STEPS_KEPT:]):
        if budget - len(text) - 1 < 0:
            break
        tail.insert(0, text)
        budget -= len(text) + 1
    omitted = len(rendered) - len(head) - len(tail)
    return "\n".join([*head, f"({omitted} steps omitted)", *tail])


def user_message(judged: JudgeInput, images: bool) -> str:
    claim = {True: "success", False: "failure", None: "no claim"}[judged.is_success]
    parts = [f"<task>\n{judged.task}\n</task>"]
    if judged.ground_truth:
        parts.append(f"<ground_truth>\n{judged.ground_truth}\n</ground_truth>")
    if judged.output_schema:
        parts.append(f"<output_schema>\n{judged.output_schema}\n</output_schema>")
    result = [f"agent's own claim: {claim}"]
    if judged.error:
        result.append(f"run ended with: {judged.error}")
    output = _cut(judged.output, OUTPUT_CHARS) if judged.output is not None else "(none)"
    result.append(f"final output:\n{output}")
    parts.append("<agent_result>\n" + "\n".join(result) + "\n</agent_result>")
    parts.append(f"<trajectory>\n{render_trajectory(judged.steps)}\n</trajectory>")
    if images and judged.screenshots:
        parts.append(f"<screenshots>the last {len(judged.screenshots)} screenshots follow, oldest first"
                     "</screenshots>")
    return "\n".join(parts)


def judge_messages(judged: JudgeInput, vault: SecretVault, images: bool) -> list[dict[str, Any]]:
    """The judge request: system prompt, then the masked run and (when asked) its screenshots."""
    text = vault.mask(user_message(judged, images))
    content: Any = text
    if images and judged.screenshots:
        content = [{"type": "text", "text": text}] + [
            {"type": "image_url", "image_url": {"url": shot}} for shot in judged.screenshots
        ]
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": content}]
