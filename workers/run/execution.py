"""Run one task from its record: the glue between the queue, the store and the agent.

``execute`` is what the Celery task calls, in a Celery thread. It is idempotent by
task id (a finished task is never run again), caps redeliveries (a task that keeps
killing its worker fails instead of looping), and always ends the record in a
terminal status with a readable reason.
"""

from __future__ import annotations

import logging
import time
from decimal import Decimal
from typing import Any

from shared.models import TaskStatus, format_cost
from shared.settings import Settings, get_settings
from shared.task_store import FencedWriteError, TaskRecord, TaskStore, utcnow
from workers.agent.runner import AgentOutcome
from workers.browser.runtime import get_runtime
from workers.process import worker_metrics
from workers.process.lease import Run
from workers.process.objects import leases, result_of, store, stores
from workers.run import session_carryover
from workers.run.assembly import Emit, RecordHooks, run_record
from workers.run.handoff import hand_off, send_judge, wants_judge

log = logging.getLogger(__name__)

_ACTIVE = (TaskStatus.created, TaskStatus.started)


def execute(task_id: str, emit: Emit) -> dict[str, Any]:
    """Run the task ``task_id`` to a terminal status (called from a Celery worker thread)."""
    settings, tasks = get_settings(), store()
    record = tasks.load(task_id)
    if record is None:
        log.error("task %s has no record (expired or deleted); dropped", task_id)
        return {"id": task_id, "status": "missing"}
    if record.status.terminal:
        log.info("task %s already %s; not run again", task_id, record.status.value)
        return result_of(task_id)
    if record.judge_deadline is not None:
        log.info("task %s already ran and awaits its judge; judge re-enqueued, not run again", task_id)
        send_judge(task_id, settings)
        return result_of(task_id)
    run = leases().acquire(task_id)
    if run is None:
        log.warning("task %s is running on another worker; duplicate delivery dropped", task_id)
        return {"id": task_id, "status": "duplicate"}
    try:
        return _execute_leased(task_id, record, settings, tasks, emit, run)
    finally:
        leases().release(run)


def _execute_leased(
    task_id: str, record: TaskRecord, settings: Settings, tasks: TaskStore, emit: Emit, run: Run
) -> dict[str, Any]:
    deliveries = run.deliveries
    if deliveries > settings.max_deliveries:
        _finish(tasks, task_id, AgentOutcome(
            TaskStatus.failed,
            error=f"worker lost {deliveries - 1} times while running this task; giving up",
        ), Decimal(0), run, record)
        return result_of(task_id)
    if run.stop_requested:
        stopped = AgentOutcome(TaskStatus.stopped, error="stopped by request")
        _finish(tasks, task_id, stopped, Decimal(0), run, record)
        return result_of(task_id)
    try:
        if not tasks.transition(task_id, TaskStatus.started, _ACTIVE, fence=run.token,
                                started_at=record.started_at or utcnow()):
            return result_of(task_id)
    except FencedWriteError:
        return _fenced(run, task_id)
    if deliveries > 1:
        log.warning("task %s redelivered (delivery %d); restarting it", task_id, deliveries)
        tasks.clear_run(task_id)
    log.info("task %s started (llm=%s)", task_id, record.llm)
    worker_metrics.TASKS_STARTED.inc()
    hooks = RecordHooks(stores(), task_id, emit, leases(), run)
    started = time.monotonic()
    try:
        outcome, cost = get_runtime().run(run_record(record, settings, hooks))
    except Exception as exc:  # our bug: still end the record, with the reason
        log.exception("task %s crashed", task_id)
        outcome, cost = AgentOutcome(TaskStatus.failed, error=f"internal error: {exc!r}"), Decimal(0)
    if not leases().holds(run):  # a newer run owns the task: its record is not this run's to end
        return _fenced(run, task_id)
    _observe(outcome, time.monotonic() - started)
    if wants_judge(record, outcome):
        hand_off(tasks, task_id, outcome, cost, settings)
        session_carryover.task_ended(stores(), task_id, str(record.session_id))
    else:
        _finish(tasks, task_id, outcome, cost, run, record)
    return result_of(task_id)


def _observe(outcome: AgentOutcome, duration_s: float) -> None:
    success = "none" if outcome.is_success is None else str(outcome.is_success).lower()
    worker_metrics.TASKS_FINISHED.labels(status=outcome.status.value, success=success).inc()
    worker_metrics.TASK_DURATION.observe(duration_s)
    worker_metrics.TASK_STEPS.observe(outcome.steps)


def _fenced(run: Run, task_id: str) -> dict[str, Any]:
    """The end of a run that lost its task to a newer run: one log line, nothing written."""
    leases().holds(run, ask=True)  # learn the epoch that holds it now, for the log line
    run.announce()
    return result_of(task_id)


def _finish(
    tasks: TaskStore, task_id: str, outcome: AgentOutcome, cost: Decimal, run: Run, record: TaskRecord
) -> None:
    try:
        tasks.transition(
            task_id, outcome.status, _ACTIVE, fence=run.token, finished_at=utcnow(),
            output=outcome.output, is_success=outcome.is_success, error=outcome.error, cost=cost,
        )
    except FencedWriteError:  # fenced out between the last check and this write
        _fenced(run, task_id)
        return
    session_carryover.task_ended(stores(), task_id, str(record.session_id))
    log.info("task %s %s (success=%s, steps=%d, cost=%s)%s", task_id, outcome.status.value,
             outcome.is_success, outcome.steps, format_cost(cost),
             f": {outcome.error}" if outcome.error else "")
