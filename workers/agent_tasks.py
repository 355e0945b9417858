"""The Celery tasks: thin wrappers that hand a task id to :mod:`workers.run.execution`.

Imported by every worker (judge workers too, through ``conf.imports``): nothing here may
import the browser stack at module level.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from shared.celery_config import BROWSER_TASK, RUN_TASK, SKILL_TASK
from shared.models import TaskStepView
from shared.settings import get_settings
from workers.process.celery_instance import app

log = logging.getLogger(__name__)


@app.task(name=RUN_TASK, bind=True)
def run_task(self: Task, task_id: str) -> dict[str, Any]:
    """Run one agent task; the message carries only its id (safe for Flower to show)."""
    from workers.run.execution import (  # here: a judge-only worker never loads the browser stack
        Delivery,
        execute,
    )

    hostname = self.request.hostname
    queue = (self.request.delivery_info or {}).get("routing_key") or get_settings().queue
    # Kombu's Redis transport names each delivery by a tag in the message's properties (its key
    # in the ``unacked`` store until acked); RabbitMQ's differ per channel and are not kept.
    tag = str((getattr(self.request, "properties", None) or {}).get("delivery_tag") or "")

    def requeue(tid: str) -> None:  # a retry: a new message, like the reaper's
        self.app.send_task(RUN_TASK, args=[tid], task_id=tid, queue=queue)
    progress = get_settings().progress_events

    def emit(step: TaskStepView) -> None:
        if not progress:  # large fleets: the step record is the progress (one broker PUBLISH less per step)
            return
        try:
            with self.app.events.default_dispatcher(hostname=hostname) as dispatcher:
                dispatcher.send(
                    "task-progress",
                    uuid=task_id,
                    step=step.number,
                    url=step.url,
                    next_goal=step.next_goal,
                    actions=step.actions,
                    duration=step.duration,
                )
        except Exception as exc:  # progress events are best effort; the record has the step
            log.warning("task-progress event for %s not sent: %s", task_id, exc)

    return execute(task_id, emit, Delivery(tag, requeue))


@app.task(name=BROWSER_TASK, acks_late=False)
def browser_session(browser_id: str) -> dict[str, Any]:
    """Serve one browser session (``POST /browsers``) for its whole life, in this slot.

    Acked on receipt: a session is never restarted after its worker died (its browser state
    died with it); its lease tells readers it is gone (see :mod:`workers.browser_sessions.serve`).
    """
    from workers.browser_sessions.serve import run  # here, like run_task: no browser stack at import

    return run(browser_id)


@app.task(name=SKILL_TASK)
def skill_execution(execution_id: str) -> dict[str, Any]:
    """Run one operator skill directly (``POST /skills/{id}/execute``), no agent."""
    from workers.run.skill_execution import run

    return run(execution_id)
