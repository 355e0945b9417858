"""Assembling one run from its record: the LLM client, secrets, skills, network guard and
browser context around an :class:`~workers.agent.runner.Agent`, then running it.

:func:`run_record` is the async half of executing a task (``workers.run.execution`` is the
queue-facing half): everything here runs on the process's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from playwright.async_api import Error as PlaywrightError

from shared import crypto
from shared.accounts import Limits
from shared.llms import UnknownModelError, resolve_model
from shared.models import CreateTaskRequest, TaskStatus, TaskStepView
from shared.settings import Settings, get_settings
from shared.stores import Stores
from shared.task_store import TaskRecord, TaskStore
from workers.actions import ACTIONS
from workers.actions.base import Action
from workers.actions.upload_file import SESSION_FILES
from workers.agent.limiter import limiter_for
from workers.agent.llm import LLMClient
from workers.agent.runner import Agent, AgentConfig, AgentOutcome, RunLost
from workers.browser.launcher import BrowserNotFoundError
from workers.browser.pool import BrowserSetupError
from workers.browser.runtime import get_runtime
from workers.browser.tabs import BrowserTabs
from workers.egress.custom_proxy import chosen_upstream
from workers.egress.guard import BrowserGuard, NetworkSettingsError, guard_for
from workers.egress.upstream import UpstreamError
from workers.process.lease import Leases, Run
from workers.process.watchdog import Progress
from workers.run import recording_file, session_carryover
from workers.run.session_uploads import SessionUploads
from workers.run.task_budget import TaskBudget
from workers.secrets import log_masking
from workers.secrets.one_password import OnePasswordError
from workers.secrets.task_vault import task_vault
from workers.secrets.vault import SecretVault
from workers.skills.files import TaskFiles
from workers.skills.registry import UnknownSkillError, get_registry, skill_actions
from workers.watch.live_view import live_view

log = logging.getLogger(__name__)

Emit = Callable[[TaskStepView], None]


@dataclass
class RecordHooks:
    """The agent's hooks, for one run holding the task's lease: the stop check and the fence
    before every move, each step recorded (fenced, one round trip with the lease renewal and
    the stop check), progress events for Flower, and the task's spend against its cap and its
    key's budget (``budget``, set once the LLM client exists). Each of them is progress for the
    watchdog (``progress``: :mod:`workers.process.watchdog`)."""

    stores: Stores
    task_id: str
    emit: Emit
    leases: Leases
    run: Run
    budget: TaskBudget | None = None
    progress: Progress = field(default_factory=Progress)

    @property
    def tasks(self) -> TaskStore:
        return self.stores.tasks

    @property
    def lost(self) -> bool:
        """The run was fenced out (or its record deleted): it may write nothing more."""
        return self.run.lost is not None

    async def should_stop(self) -> bool:
        self.progress.beat("running its agent loop")
        if not self.leases.vouched(self.run):  # frozen or starved past half the TTL: ask Redis
            await asyncio.to_thread(self.leases.holds, self.run)
        if self.lost:
            raise RunLost(self.run.why_lost())
        return self.run.stop_requested

    def over_budget(self) -> str | None:
        return self.budget.reason if self.budget is not None else None

    async def before_acting(self) -> None:
        """The model may have thought for long: one round trip renews the lease, checks the fence
        and reads the stop flag, so neither a lost signal nor a frozen clock lets a step act."""
        self.progress.beat("acting")
        await asyncio.to_thread(self.leases.holds, self.run, True)

    async def viewers(self) -> int:
        """Whether someone watches the live view (from signals and step replies: no Redis call)."""
        return 1 if self.run.watched else 0

    async def on_step(self, step: TaskStepView, screenshot: str | None) -> None:
        shot = screenshot if screenshot is not None and get_settings().step_screenshots else ""
        self.progress.beat(f"recording step {step.number}")
        await asyncio.to_thread(self.leases.step, self.run, step, shot)
        self.progress.beat(f"in the step after step {step.number} (its page capture or actions)")
        if self.lost:
            raise RunLost(self.run.why_lost())
        await asyncio.to_thread(self.emit, step)
        if self.budget is not None:
            await self.budget.after_step()


def agent_request(record: TaskRecord) -> CreateTaskRequest:
    data = {k: v for k, v in record.request.items() if k != "secret_names"}  # written before 2026-12
    return CreateTaskRequest.model_validate(data)


async def run_record(
    record: TaskRecord, settings: Settings, hooks: RecordHooks
) -> tuple[AgentOutcome, Decimal]:
    """Build the agent for a stored task and run it in a fresh browser context."""
    request = agent_request(record)
    try:  # what the task needs before a browser opens; a fault here fails it at once
        llm = _llm_client(request, settings)
        files = TaskFiles(hooks.tasks, hooks.task_id, settings.output_file_max_bytes)
        skills = skill_actions(get_registry(), request.skill_ids, files)
        vault = await task_vault(record, settings)
        custom = await asyncio.to_thread(hooks.stores.custom_proxies.token, str(record.session_id))
        upstream, ignore_certs = await chosen_upstream(custom, record.proxy_country_code, settings,
                                                       str(record.session_id))
        guard = guard_for(request.allowed_domains, settings, upstream)
    except _SETUP_ERRORS as exc:
        return AgentOutcome(TaskStatus.failed, error=str(exc)), Decimal(0)
    llm.progress = hooks.progress
    hooks.budget = TaskBudget(hooks.stores.spend, hooks.task_id, record.account,
                              Limits.from_record(record.cost_limits), llm)
    await hooks.budget.before_start()
    if hooks.budget.reason:
        return AgentOutcome(TaskStatus.stopped, error=hooks.budget.reason), Decimal(0)
    with log_masking.registered(vault):
        try:
            outcome = await _browse(record, request, settings, hooks, llm, vault, guard, skills, files,
                                    ignore_certs)
        except Exception as exc:  # our bug: end the record with the reason, masked like everything
            log.exception("task %s crashed", hooks.task_id)
            outcome = AgentOutcome(TaskStatus.failed, error=f"internal error: {exc!r}")
        # Every error and output string leaves through here: masked, then cut.
        outcome.error = vault.mask(outcome.error)[:4000] if outcome.error else outcome.error
        outcome.output = vault.mask(outcome.output) if outcome.output else outcome.output
    await asyncio.to_thread(hooks.budget.settle)
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
    ignore_certs: bool = False,
) -> AgentOutcome:
    progress = hooks.progress
    progress.beat("loading its session")
    start = await asyncio.to_thread(session_carryover.load, record, hooks.stores, settings)
    uploads = await asyncio.to_thread(SessionUploads.load, hooks.stores.uploads, str(record.session_id))
    SESSION_FILES.set(uploads)  # this run's own asyncio context: the upload_file action reads it
    config = _agent_config(request, settings, llm, start)
    config.task += uploads.prompt()
    # The task budget covers the whole run: its browser set-up, start URL, agent loop and
    # teardown. The agent loop stops a little earlier, so the teardown (session state saved,
    # recording kept) has time left inside the budget.
    budget = settings.task_budget_s
    exhausted = AgentOutcome(TaskStatus.finished, is_success=False,
                             error=f"task budget of {budget:g}s exhausted")
    deadline = asyncio.get_running_loop().time() + budget
    ran: AgentOutcome | None = None  # the agent's own outcome, once it has one
    browser = None
    try:
        async with asyncio.timeout_at(deadline):
            viewport = start.viewport or _viewport(request, settings)
            pool = get_runtime().pool
            certs = {"ignore_https_errors": True} if ignore_certs else {}  # a proxy that intercepts TLS
            progress.beat("opening its browser context")
            async with guard.running(), pool.context(
                viewport=viewport, storage_state=start.storage_state, **guard.context_options(), **certs
            ) as context:
                browser = context.browser
                loop = asyncio.get_running_loop()
                progress.on_stall = lambda: loop.call_soon_threadsafe(pool.distrust, context)
                progress.beat("preparing its browser context")
                tabs = BrowserTabs(context, settings.action_timeout_s)
                await guard.attach(context)
                recorder = await recording_file.start(context, vault, settings) if start.record else None
                agent = Agent(
                    config, tabs, llm, hooks, vault, guard, actions={**ACTIONS, **skills}, blocked=guard.drain
                )
                progress.beat("opening its start URL")
                try:
                    stores = hooks.stores
                    async with live_view(hooks.viewers, stores.frames, hooks.task_id, tabs, vault, settings):
                        async with asyncio.timeout_at(deadline - _teardown_reserve(budget)):
                            ran = await agent.run()
                except TimeoutError:
                    ran = exhausted
                outcome = ran
                if hooks.lost or outcome.browser_crashed:  # nothing to keep: another run owns it, or it died
                    return outcome
                progress.beat("saving its session")
                await start.save(context, tabs)
                outcome.screenshots = list(agent.screenshots)
                if recorder is not None:
                    with progress.busy("keeping its recording"):  # encoding: bounded by the budget
                        await recording_file.keep(recorder, files)
                progress.beat("closing its browser context")
    except TimeoutError:  # the set-up or the teardown outlived the budget
        outcome = ran or exhausted
    except BrowserNotFoundError as exc:
        outcome = AgentOutcome(TaskStatus.failed, error=str(exc))
    except BrowserSetupError as exc:  # the pool could not open a context: the task is not at fault
        outcome = ran or AgentOutcome(TaskStatus.failed, error=f"browser unusable: {exc}",
                                      browser_setup_failed=True)
    except PlaywrightError as exc:  # the browser died or could not start
        if ran is not None:  # the run had ended: a fault while keeping its state does not undo it
            log.warning("task %s: its browser failed after the run: %s", hooks.task_id, vault.mask(str(exc)))
            outcome = ran
        else:
            crashed = browser is not None and not browser.is_connected()
            outcome = AgentOutcome(TaskStatus.failed, error=f"browser unusable: {vault.mask(str(exc))}",
                                   browser_crashed=crashed)
    return outcome


def _teardown_reserve(budget_s: float) -> float:
    """The part of the task budget kept for the teardown after the agent loop."""
    return min(30.0, budget_s / 10)


_SETUP_ERRORS = (
    UnknownModelError, crypto.SecretsKeyError, UnknownSkillError, OnePasswordError, NetworkSettingsError,
    UpstreamError,
)


def _llm_client(request: CreateTaskRequest, settings: Settings) -> LLMClient:
    model = resolve_model(request.llm, settings.default_model, settings.models)
    return LLMClient(
        model,
        timeout_s=settings.llm_timeout_s,
        max_retries=settings.llm_max_retries,
        backoff_s=settings.llm_backoff_s,
        reasoning_effort=_effort(request),
        limiter=limiter_for(model),
    )


def _agent_config(
    request: CreateTaskRequest, settings: Settings, llm: LLMClient, start: session_carryover.CarryOver
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
        screenshot_timeout_s=settings.screenshot_timeout_s,
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
