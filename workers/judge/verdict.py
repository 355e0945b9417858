"""The judge's answer: a strict JSON verdict, parsed defensively, stored as ``judgement``."""

from __future__ import annotations

import json

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from workers.agent.reply import OutputError, json_object


class VerdictError(ValueError):
    """The judge's reply is not a valid verdict; the message is for the judge model."""


class Verdict(BaseModel):
    model_config = ConfigDict(extra="ignore")

    verdict: bool
    reasoning: str = ""
    failure_reason: str | None = Field(None, validation_alias=AliasChoices("failure_reason", "failureReason"))
    impossible_task: bool = Field(False, validation_alias=AliasChoices("impossible_task", "impossibleTask"))
    reached_captcha: bool = Field(False, validation_alias=AliasChoices("reached_captcha", "reachedCaptcha"))

    def judgement(self, model: str) -> str:
        """The ``judgement`` string of the task view (camelCase, like the rest of the wire)."""
        return json.dumps({
            "verdict": self.verdict,
            "reasoning": self.reasoning,
            "failureReason": self.failure_reason or None,
            "impossibleTask": self.impossible_task,
            "reachedCaptcha": self.reached_captcha,
            "model": model,
        }, ensure_ascii=False)


def parse_verdict(text: str | None) -> Verdict:
    if not text or not text.strip():
        raise VerdictError("empty reply")
    try:
        data = json_object(text)
    except OutputError as exc:
        raise VerdictError(str(exc)) from None
    try:
        return Verdict.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors())
        raise VerdictError(problems) from None
