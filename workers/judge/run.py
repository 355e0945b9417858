"""Judge one run (the judge worker's side): no browser, one LLM call (plus one correction).

Idempotent by task id: only a task whose judge is pending is judged, and the verdict is
written with a compare-and-set from ``started`` to ``finished``, so a duplicate delivery
or a reader that gave up on an overdue judge has exactly one winner. A failure (LLM down,
invalid verdict twice, timeout, missing secrets key) is recorded as an error in
``judgement``, with ``judgeVerdict`` null; the agent's own result is never changed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared import crypto
from shared.llms import UnknownModelError, resolve_model
from shared.models import TaskStatus, format_cost
from shared.settings import Settings, get_settings
from shared.task_store import TaskRecord, unjudged, utcnow
from workers.agent.limiter import limiter_for
from workers.agent.llm import LLMClient, LLMUnavailableError
from workers.judge.prompt import JudgeInput, judge_messages
from workers.judge.verdict import Verdict, VerdictError, parse_verdict
from workers.process.event_loop_thread import get_loop
from workers.process.objects import result_of, store, stores
from workers.secrets.one_password import OnePasswordError
from workers.secrets.task_vault import task_vault

log = logging.getLogger(__name__)
CORRECTION = "Answer again with only the JSON object described in the system prompt."


@dataclass
class JudgeResult:
    judgement: str
    verdict: bool | None
    cost: Decimal


def judge_model(judge_llm: str | None, settings: Settings) -> str:
    """The task's ``judgeLlm``, else the operator's default judge model, else the default model."""
    if judge_llm:
        return resolve_model(judge_llm, settings.default_model, settings.models)
    return settings.default_judge_model or settings.default_model


async def _ask(llm: LLMClient, messages: list[dict[str, Any]]) -> Verdict:
    """One call; an invalid verdict is fed back once."""
    error = VerdictError("no answer")
    for _ in range(2):
        reply = await llm.complete(messages)
        try:
            return parse_verdict(reply.text)
        except VerdictError as exc:
            error = exc
            messages = [
                *messages,
                {"role": "assistant", "content": reply.text[:4000]},
                {"role": "user", "content": f"Invalid verdict: {exc}. {CORRECTION}"},
            ]
    raise error


async def evaluate(
    record: TaskRecord, settings: Settings, screenshots: list[str], budget_s: float
) -> JudgeResult:
    """Ask the judge model about the run; every failure becomes an unjudged result."""
    request = record.request
    try:
        model = judge_model(request.get("judge_llm"), settings)
        vault = await task_vault(record, settings)  # the run's vault: both mask the same values
    except (UnknownModelError, crypto.SecretsKeyError, OnePasswordError) as exc:
        return JudgeResult(unjudged(f"judge not run: {exc}"), None, Decimal(0))
    llm = LLMClient(model, timeout_s=settings.llm_timeout_s, max_retries=settings.llm_max_retries,
                    backoff_s=settings.llm_backoff_s, limiter=limiter_for(model))
    judged = JudgeInput(
        task=record.task,
        output=record.output,
        is_success=record.is_success,
        error=record.error,
        ground_truth=request.get("judge_ground_truth"),
        output_schema=request.get("structured_output"),
        steps=record.steps,
        screenshots=screenshots,
    )
    messages = judge_messages(judged, vault, images=bool(screenshots) and llm.supports_vision)
    try:
        verdict = await asyncio.wait_for(_ask(llm, messages), max(budget_s, 1.0))
    except TimeoutError:
        return JudgeResult(unjudged(f"the judge did not answer within {budget_s:.0f}s"), None, llm.cost)
    except LLMUnavailableError as exc:
        return JudgeResult(unjudged(f"judge LLM failed: {vault.mask(str(exc))}"), None, llm.cost)
    except VerdictError as exc:
        return JudgeResult(unjudged(f"judge output invalid after 2 attempts: {exc}"), None, llm.cost)
    return JudgeResult(verdict.judgement(model), verdict.verdict, llm.cost)


def judge(task_id: str) -> dict[str, Any]:
    """Judge the task ``task_id`` if its judge is pending (called from a Celery worker thread)."""
    settings, tasks = get_settings(), store()
    record = tasks.load(task_id, with_steps=True)
    if record is None:
        log.error("task %s has no record (expired or deleted); judge dropped", task_id)
        return {"id": task_id, "status": "missing"}
    if record.status != TaskStatus.started or record.judge_deadline is None:
        log.info("task %s is %s with no judge pending; not judged", task_id, record.status.value)
        return result_of(task_id)
    screenshots = tasks.judge_screenshots(task_id)
    budget_s = (record.judge_deadline - utcnow()).total_seconds()
    try:
        result = get_loop().run(evaluate(record, settings, screenshots, budget_s))
    except Exception as exc:  # our bug: still finish the task, with the reason
        log.exception("judge of task %s crashed", task_id)
        result = JudgeResult(unjudged(f"internal judge error: {exc!r}"), None, Decimal(0))
    written = tasks.transition(
        task_id,
        TaskStatus.finished,
        [TaskStatus.started],
        finished_at=utcnow(),
        judgement=result.judgement,
        judge_verdict=result.verdict,
        cost=(record.cost or Decimal(0)) + result.cost,
        judge_deadline=None,
    )
    tasks.drop_judge_screenshots(task_id)
    if written and record.account is not None and result.cost > 0:  # the judge's spend is the key's too
        stores().spend.charge(record.account, result.cost)
    if written:
        log.info("task %s judged: verdict=%s (judge cost %s)",
                 task_id, result.verdict, format_cost(result.cost))
    else:
        log.info("task %s was finished meanwhile; verdict dropped", task_id)
    return result_of(task_id)
