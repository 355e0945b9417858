"""Run one task from its record: the glue between the queue, the store and the agent.

``execute`` is what the Celery task calls, in a Celery thread. It is idempotent by
task id (a finished task is never run again), caps redeliveries (a task that keeps
killing its worker fails instead of looping), and always ends the record in a
terminal status with a readable reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from playwright.async_api import Error as PlaywrightError

from shared import crypto, keys
from shared.llms import UnknownModelError, resolve_model
from shared.models import CreateTaskRequest, TaskStatus, TaskStepView, format_cost
from shared.settings import Settings, get_settings
from shared.store import TaskRecord, TaskStore, utcnow
from workers import log_masking, metrics, recording, session_state
from workers.actions import ACTIONS
from workers.actions.base import Action
from workers.agent.llm import LLMClient
from workers.agent.runner import Agent, AgentConfig, AgentOutcome
from workers.browser.guard import BrowserGuard, NetworkSettingsError, guard_for
from workers.browser.launcher import BrowserNotFoundError
from workers.browser.session import BrowserSession
from workers.browser.upstream import UpstreamError, upstream_for
from workers.judge.handoff import hand_off, send_judge, wants_judge
from workers.lease import Leases
from workers.live import live_view
from workers.policy.secrets import SecretVault
from workers.runtime import get_runtime
from workers.secrets_1password import OnePasswordError, task_vault
from workers.skills.files import TaskFiles
from workers.skills.registry import UnknownSkillError, get_registry, skill_actions

log = logging.getLogger(__name__)

Emit = Callable[[TaskStepView], None]
_ACTIVE = (TaskStatus.created, TaskStatus.started)
_store: TaskStore | None = None


_leases: Leases | None = None


def leases() -> Leases:
    global _leases
    if _leases is None:
        _leases = Leases(store().redis, get_settings().lease_ttl_s)
    return _leases


def store() -> TaskStore:
    global _store
    if _store is None:
        settings = get_settings()
        _store = TaskStore.from_url(settings.redis_url, settings.record_ttl_s)
    return _store


def result_of(task_id: str) -> dict[str, Any]:
    """What the Celery result backend keeps: the status view plus the reason."""
    record = store().load(task_id)
    if record is None:
        return {"id": task_id, "status": "missing"}
    return {**record.status_view().wire(), "error": record.error}


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
    if not leases().acquire(task_id):
        log.warning("task %s is running on another worker; duplicate delivery dropped", task_id)
        return {"id": task_id, "status": "duplicate"}
    try:
        return _execute_leased(task_id, record, settings, tasks, emit)
    finally:
        leases().release(task_id)


def _execute_leased(
    task_id: str, record: TaskRecord, settings: Settings, tasks: TaskStore, emit: Emit
) -> dict[str, Any]:
    deliveries = tasks.count_delivery(task_id)
    if deliveries > settings.max_deliveries:
        _finish(tasks, task_id, AgentOutcome(
            TaskStatus.failed,
            error=f"worker lost {deliveries - 1} times while running this task; giving up",
        ), Decimal(0))
        return result_of(task_id)
    if tasks.stop_requested(task_id):
        _finish(tasks, task_id, AgentOutcome(TaskStatus.stopped, error="stopped by request"), Decimal(0))
        return result_of(task_id)
    if not tasks.transition(task_id, TaskStatus.started, _ACTIVE, started_at=record.started_at or utcnow()):
        return result_of(task_id)
    if deliveries > 1:
        log.warning("task %s redelivered (delivery %d); restarting it", task_id, deliveries)
        tasks.redis.delete(keys.steps(task_id), keys.output_files(task_id), keys.output_file_data(task_id))
    log.info("task %s started (llm=%s)", task_id, record.llm)
    metrics.TASKS_STARTED.inc()
    hooks = RecordHooks(tasks, task_id, emit)
    started = time.monotonic()
    try:
        outcome, cost = get_runtime().run(run_record(record, settings, hooks))
    except Exception as exc:  # our bug: still end the record, with the reason
        log.exception("task %s crashed", task_id)
        outcome, cost = AgentOutcome(TaskStatus.failed, error=f"internal error: {exc!r}"), Decimal(0)
    _observe(outcome, time.monotonic() - started)
    if wants_judge(record, outcome):
        hand_off(tasks, task_id, outcome, cost, settings)
        session_state.task_ended(tasks, settings, task_id)
    else:
        _finish(tasks, task_id, outcome, cost)
    return result_of(task_id)


def _observe(outcome: AgentOutcome, duration_s: float) -> None:
    success = "none" if outcome.is_success is None else str(outcome.is_success).lower()
    metrics.TASKS_FINISHED.labels(status=outcome.status.value, success=success).inc()
    metrics.TASK_DURATION.observe(duration_s)
    metrics.TASK_STEPS.observe(outcome.steps)


def _finish(tasks: TaskStore, task_id: str, outcome: AgentOutcome, cost: Decimal) -> None:
    tasks.transition(
        task_id,
        outcome.status,
        _ACTIVE,
        finished_at=utcnow(),
        output=outcome.output,
        is_success=outcome.is_success,
        error=outcome.error,
        cost=cost,
    )
    session_state.task_ended(tasks, get_settings(), task_id)
    log.info("task %s %s (success=%s, steps=%d, cost=%s)%s", task_id, outcome.status.value,
             outcome.is_success, outcome.steps, format_cost(cost),
             f": {outcome.error}" if outcome.error else "")


@dataclass
class RecordHooks:
    """The agent's hooks: stop flag and step records in Redis, progress events for Flower."""

    tasks: TaskStore
    task_id: str
    emit: Emit

    async def should_stop(self) -> bool:
        return await asyncio.to_thread(self.tasks.stop_requested, self.task_id)

    async def on_step(self, step: TaskStepView) -> None:
        await asyncio.to_thread(self.tasks.append_step, self.task_id, step)
        await asyncio.to_thread(self.emit, step)

    async def on_screenshot(self, number: int, image: str) -> None:
        """Keep the step's screenshot for the task viewer (taken only when no secret was visible)."""
        if get_settings().step_screenshots:
            await asyncio.to_thread(keep_screenshot, self.tasks, self.task_id, number, image)


def keep_screenshot(tasks: TaskStore, task_id: str, number: int, image: str) -> None:
    pipe = tasks.redis.pipeline(transaction=False)
    pipe.hset(keys.step_screenshots(task_id), str(number), image)
    pipe.expire(keys.step_screenshots(task_id), tasks.ttl_s)
    pipe.execute()


def agent_request(record: TaskRecord) -> CreateTaskRequest:
    data = {k: v for k, v in record.request.items() if k != "secret_names"}
    return CreateTaskRequest.model_validate(data)


async def run_record(
    record: TaskRecord, settings: Settings, hooks: RecordHooks
) -> tuple[AgentOutcome, Decimal]:
    """Build the agent for a stored task and run it in a fresh browser context."""
    request = agent_request(record)
    try:  # what the task needs before a browser opens; a fault here fails it at once
        llm = _llm_client(request, settings)
        token = record.secrets_token
        secrets = crypto.decrypt_json(token, settings.secrets_key) if token else {}
        files = TaskFiles(hooks.tasks, hooks.task_id, settings.output_file_max_bytes)
        skills = skill_actions(get_registry(), request.skill_ids, files)
        vault = await task_vault(request, secrets, settings)
        upstream = await upstream_for(record.proxy_country_code, settings)
        guard = guard_for(request.allowed_domains, settings, upstream)
    except _SETUP_ERRORS as exc:
        return AgentOutcome(TaskStatus.failed, error=str(exc)), Decimal(0)
    with log_masking.registered(vault):
        try:
            outcome = await _browse(record, request, settings, hooks, llm, vault, guard, skills, files)
        except Exception as exc:  # our bug: end the record with the reason, masked like everything
            log.exception("task %s crashed", hooks.task_id)
            outcome = AgentOutcome(TaskStatus.failed, error=f"internal error: {exc!r}")
        # Every error and output string leaves through here: masked, then cut.
        outcome.error = vault.mask(outcome.error)[:4000] if outcome.error else outcome.error
        outcome.output = vault.mask(outcome.output) if outcome.output else outcome.output
    return outcome, llm.cost


async def _browse(
    record: TaskRecord,
    request: CreateTaskRequest,
    settings: Settings,
    hooks: RecordHooks,
    llm: LLMClient,
    vault: SecretVault,
    guard: BrowserGuard,
    skills: dict[str, Action],
    files: TaskFiles,
) -> AgentOutcome:
    start = await asyncio.to_thread(session_state.load, record, hooks.tasks, settings)
    config = _agent_config(request, settings, llm, start)
    try:
        viewport = start.viewport or _viewport(request, settings)
        pool = get_runtime().pool
        async with guard.running(), pool.context(
            viewport=viewport, storage_state=start.storage_state, **guard.context_options()
        ) as context:
            session = BrowserSession(context, settings.action_timeout_s)
            await guard.attach(context)
            recorder = await recording.start(context, vault, settings) if start.record else None
            agent = Agent(
                config, session, llm, hooks, vault, guard, actions={**ACTIONS, **skills}, blocked=guard.drain
            )
            try:
                async with live_view(hooks.tasks.redis, hooks.task_id, session, vault, settings):
                    outcome = await asyncio.wait_for(agent.run(), settings.task_budget_s)
            except TimeoutError:
                outcome = AgentOutcome(
                    TaskStatus.finished,
                    is_success=False,
                    error=f"task budget of {settings.task_budget_s:g}s exhausted",
                )
            await start.save(context, session)
            outcome.screenshots = list(agent.screenshots)
            if recorder is not None:
                await recording.keep(recorder, files)
    except BrowserNotFoundError as exc:
        outcome = AgentOutcome(TaskStatus.failed, error=str(exc))
    except PlaywrightError as exc:  # the browser died or could not start
        outcome = AgentOutcome(TaskStatus.failed, error=f"browser unusable: {vault.mask(str(exc))}")
    return outcome


_SETUP_ERRORS = (
    UnknownModelError, crypto.SecretsKeyError, UnknownSkillError, OnePasswordError, NetworkSettingsError,
    UpstreamError,
)


def _llm_client(request: CreateTaskRequest, settings: Settings) -> LLMClient:
    return LLMClient(
        resolve_model(request.llm, settings.default_model, settings.models),
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        backoff_s=settings.llm_backoff_s,
        reasoning_effort=_effort(request),
    )


def _agent_config(
    request: CreateTaskRequest, settings: Settings, llm: LLMClient, start: session_state.SessionStart
) -> AgentConfig:
    return AgentConfig(
        task=request.task,
        max_steps=request.max_steps,
        start_url=request.start_url or start.resume_url,
        output_schema=request.output_schema(),
        vision=llm.supports_vision if request.vision == "auto" else bool(request.vision),
        highlight_elements=request.highlight_elements,
        flash_mode=request.flash_mode,
        thinking=request.thinking or _effort(request) is not None,
        system_prompt_extension=request.system_prompt_extension,
        max_actions=settings.max_actions_per_step,
        page_text_chars=settings.page_text_chars,
        element_window_pages=settings.element_window_pages,
        max_failures=settings.llm_max_failures,
        step_timeout_s=settings.step_timeout_s,
        session_memory=start.memory,
        keep_screenshots=settings.judge_screenshots if request.judge else 0,
        record_screenshots=settings.step_screenshots and bool(
            request.session_settings and request.session_settings.enable_recording
        ),
    )


def _effort(request: CreateTaskRequest) -> str | None:
    level = request.thinking_level
    return None if level is None or level.value == "disabled" else level.value


def _viewport(request: CreateTaskRequest, settings: Settings) -> dict[str, int]:
    s = request.session_settings
    return {
        "width": (s.browser_screen_width if s else None) or settings.viewport_width,
        "height": (s.browser_screen_height if s else None) or settings.viewport_height,
    }
