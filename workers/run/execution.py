"""Run one task from its record: the glue between the queue, the store and the agent.

``execute`` is what the Celery task calls, in a Celery thread. It is idempotent by
task id (a finished task is never run again), caps redeliveries (a task that keeps
killing its worker fails instead of looping), and always ends the record in a
terminal status with a readable reason.

Infrastructure faults under a run are retried, not failed (issue 22): its browser crashed,
or the watchdog (:mod:`workers.process.watchdog`) ended a run that made no progress. The run gives its
lease up under a new epoch (whatever the old run still does is fenced out) and the task is
enqueued again, counted against ``max_deliveries`` like a lost worker; past that, or when the
task's browser crashed a second time (the task itself is then the likely cause), it fails
with the reason. The run that ends the task removes the broker's leftovers of its earlier
deliveries (:mod:`shared.broker_leftovers`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import CancelledError
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.models import TaskStatus, format_cost
from shared.settings import Settings, get_settings
from shared.task_store import FencedWriteError, TaskRecord, TaskStore, utcnow
from workers.agent.runner import AgentOutcome
from workers.browser.runtime import get_runtime
from workers.process import worker_metrics
from workers.process.lease import Run
from workers.process.objects import broker_leftovers, leases, result_of, store, stores, watchdog
from workers.process.watchdog import STALLED
from workers.run import session_carryover
from workers.run.assembly import Emit, RecordHooks, run_record
from workers.run.handoff import hand_off, send_judge, wants_judge

log = logging.getLogger(__name__)

_ACTIVE = (TaskStatus.created, TaskStatus.started)
OVERRUN_GRACE_S = 60.0  # past its budget plus this, the watchdog ends a run that did not end itself


@dataclass(frozen=True)
class Delivery:
    """The broker message a run came in: its delivery tag (so the run that ends the task can
    remove the leftovers of earlier deliveries) and how to enqueue the task again (a retry)."""

    tag: str = ""
    requeue: Callable[[str], None] | None = None


@dataclass
class _Fault:
    """An infrastructure fault that ended a run: retried unless a limit says otherwise."""

    reason: str
    kind: str  # browser_crash (under the task), browser_setup (before it had a page), stalled


def execute(task_id: str, emit: Emit, delivery: Delivery | None = None) -> dict[str, Any]:
    """Run the task ``task_id`` to a terminal status (called from a Celery worker thread)."""
    delivery = delivery or Delivery()
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
    run = leases().acquire(task_id, delivery.tag)
    if run is None:
        log.warning("task %s is running on another worker; duplicate delivery dropped", task_id)
        return {"id": task_id, "status": "duplicate"}
    try:
        return _execute_leased(task_id, record, settings, tasks, emit, run, delivery)
    finally:
        leases().release(run)


def _execute_leased(
    task_id: str, record: TaskRecord, settings: Settings, tasks: TaskStore, emit: Emit, run: Run,
    delivery: Delivery,
) -> dict[str, Any]:
    deliveries = run.deliveries
    if deliveries > settings.max_deliveries:
        _finish(tasks, task_id, AgentOutcome(
            TaskStatus.failed,
            error=f"worker lost {deliveries - 1} times while running this task; giving up",
        ), Decimal(0), run, record, delivery)
        return result_of(task_id)
    if run.stop_requested:
        stopped = AgentOutcome(TaskStatus.stopped, error="stopped by request")
        _finish(tasks, task_id, stopped, Decimal(0), run, record, delivery)
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
    outcome, cost, fault = _run_watched(record, settings, hooks)
    if not leases().holds(run):  # a newer run owns the task: its record is not this run's to end
        return _fenced(run, task_id)
    if fault is not None:
        retried = _retry(task_id, fault, run, settings, delivery)
        if retried is not None:
            return retried
        outcome = AgentOutcome(TaskStatus.failed, error=fault.reason, steps=outcome.steps)
    _observe(outcome, time.monotonic() - started)
    if wants_judge(record, outcome):
        hand_off(tasks, task_id, outcome, cost, settings)
        session_carryover.task_ended(stores(), task_id, str(record.session_id))
        _clear_leftovers(task_id, run, delivery)
    else:
        _finish(tasks, task_id, outcome, cost, run, record, delivery)
    return result_of(task_id)


def _run_watched(
    record: TaskRecord, settings: Settings, hooks: RecordHooks
) -> tuple[AgentOutcome, Decimal, _Fault | None]:
    """Run the task's coroutine under the watchdog: its outcome and cost, and the fault (a browser
    crash, a stall) that ended it, if any."""
    task_id = hooks.task_id
    future = get_runtime().submit(run_record(record, settings, hooks))
    watch = watchdog().watch(task_id, hooks.progress, future, settings.task_budget_s + OVERRUN_GRACE_S)
    try:
        outcome, cost = future.result()
    except CancelledError:  # the watchdog ended it (the Celery thread is free; the coroutine is cancelled)
        if watch.verdict == STALLED:
            stalled = AgentOutcome(TaskStatus.failed, error=f"the run {watch.reason}")
            return stalled, Decimal(0), _Fault(f"the run {watch.reason}", "stalled")
        overrun = AgentOutcome(TaskStatus.finished, is_success=False,
                               error=f"task budget of {settings.task_budget_s:g}s exhausted ({watch.reason})")
        return overrun, Decimal(0), None
    except Exception as exc:  # our bug: still end the record, with the reason
        log.exception("task %s crashed", task_id)
        return AgentOutcome(TaskStatus.failed, error=f"internal error: {exc!r}"), Decimal(0), None
    finally:
        watchdog().unwatch(watch)
    if outcome.lost:
        return outcome, cost, None
    if outcome.browser_crashed:
        return outcome, cost, _Fault(outcome.error or "the browser crashed", "browser_crash")
    if outcome.browser_setup_failed:
        return outcome, cost, _Fault(outcome.error or "no browser context", "browser_setup")
    return outcome, cost, None


def _retry(
    task_id: str, fault: _Fault, run: Run, settings: Settings, delivery: Delivery
) -> dict[str, Any] | None:
    """Enqueue the task again after an infrastructure fault; None when it must fail instead (its
    ``fault.reason`` then says why)."""
    if fault.kind == "browser_crash" and leases().store.count_browser_crash(task_id) >= 2:
        fault.reason = (f"the task's browser crashed twice (last: {fault.reason}); the task itself is the "
                        "likely cause, so it is not retried again")
        return None
    if run.deliveries >= settings.max_deliveries or delivery.requeue is None:
        fault.reason = f"{fault.reason}; retried {run.deliveries - 1} times, giving up"
        return None
    if not leases().hand_back(run):  # lost meanwhile: a newer run (or the reaper) has the task
        return _fenced(run, task_id)
    log.warning("task %s: %s; retrying it on a fresh browser (delivery %d of %d)", task_id, fault.reason,
                run.deliveries + 1, settings.max_deliveries)
    worker_metrics.TASK_RETRIES.labels(reason=fault.kind).inc()
    try:
        delivery.requeue(task_id)
    except Exception:  # the broker is down: the task stays listed as running, a reaper re-enqueues it
        log.exception("task %s: retry not enqueued; the reaper will", task_id)
    return {"id": task_id, "status": "retrying", "error": fault.reason}


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


def _clear_leftovers(task_id: str, run: Run, delivery: Delivery) -> None:
    """The task ended: its earlier deliveries' messages must not linger in the broker."""
    if run.deliveries <= 1:
        return  # one delivery, this one: Celery acks it
    broker = broker_leftovers()
    if broker is None:
        return
    try:
        stale = leases().store.delivery_tags(task_id) - {delivery.tag}
        removed = broker.clear(stale)
    except Exception as exc:  # best effort: Kombu restores them at the visibility timeout otherwise
        log.warning("task %s: earlier deliveries not cleared from the broker: %s", task_id, exc)
        return
    if removed:
        log.info("task %s: %d unacked message(s) of earlier deliveries removed from the broker",
                 task_id, removed)


def _finish(
    tasks: TaskStore, task_id: str, outcome: AgentOutcome, cost: Decimal, run: Run, record: TaskRecord,
    delivery: Delivery,
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
    _clear_leftovers(task_id, run, delivery)
    log.info("task %s %s (success=%s, steps=%d, cost=%s)%s", task_id, outcome.status.value,
             outcome.is_success, outcome.steps, format_cost(cost),
             f": {outcome.error}" if outcome.error else "")
