"""Handing a finished run to the judge (the run worker's side).

The record keeps status ``started`` with the agent's output, success claim and cost
already written, and gets a ``judge_deadline``: clients see the task as terminal only
once the judge has written its verdict or failed. Past the deadline any reader of the
record finishes it without a verdict (``TaskStore``), so a judge fleet that is down
never leaves a client waiting. With vision, the last screenshots wait for the judge in
a Redis list whose TTL is the judge timeout (they are never written to the record).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from shared.celery_config import JUDGE_TASK
from shared.models import TaskStatus
from shared.settings import Settings
from shared.task_store import TaskRecord, TaskStore, utcnow
from workers.agent.runner import AgentOutcome

log = logging.getLogger(__name__)


def wants_judge(record: TaskRecord, outcome: AgentOutcome) -> bool:
    """Judge runs that ended ``finished`` (done, maxSteps, budget); failed or stopped runs are not judged."""
    return bool(record.request.get("judge")) and outcome.status == TaskStatus.finished


def send_judge(task_id: str, settings: Settings) -> None:
    """Enqueue the judge task by name on the judge queue; the message expires with the deadline."""
    from workers.process.celery_instance import app

    app.send_task(
        JUDGE_TASK,
        args=[task_id],
        task_id=f"{task_id}-judge",
        queue=settings.judge_queue,
        expires=settings.judge_timeout_s,
        argsrepr=f"('{task_id}',)",
    )


def hand_off(
    tasks: TaskStore, task_id: str, outcome: AgentOutcome, cost: Decimal, settings: Settings
) -> None:
    """Write the agent's result, mark the judge pending and enqueue it."""
    shots = outcome.screenshots[-settings.judge_screenshots :] if settings.judge_screenshots > 0 else []
    if shots:
        tasks.keep_judge_screenshots(task_id, shots, int(settings.judge_timeout_s) + 60)
    tasks.update(
        task_id,
        output=outcome.output,
        is_success=outcome.is_success,
        error=outcome.error,
        cost=cost,
        judge_deadline=utcnow() + timedelta(seconds=settings.judge_timeout_s),
    )
    try:
        send_judge(task_id, settings)
    except Exception as exc:  # the broker's errors vary by transport
        log.error("task %s: judge not enqueued: %s", task_id, exc)
        tasks.finish_unjudged(task_id, f"the judge could not be enqueued: {exc}")
        return
    log.info("task %s ran (success=%s, steps=%d, cost=%s); judge pending on queue %s",
             task_id, outcome.is_success, outcome.steps, cost, settings.judge_queue)
