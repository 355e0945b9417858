"""The agent loop: look, ask, act, record — until ``done``, ``maxSteps``, a stop or a fault.

It reads top to bottom as the algorithm: :meth:`Agent.run` opens the start URL and
runs steps; :meth:`Agent._step` captures the page, asks the model and executes the
actions. The model's mistakes become observations it sees next step; faults of the
provider or the browser end the run with a readable reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page

from shared.masking import PLACEHOLDER_OPEN
from shared.models import TaskStatus, TaskStepView
from workers.actions import ACTIONS
from workers.actions.base import Action, ActionContext, ActionError, ActionResult, NavigationGuard
from workers.agent import prompt
from workers.agent.llm import LLMClient, LLMUnavailableError
from workers.agent.output import AgentOutput, OutputError, parse_output
from workers.agent.state import render_state, screenshot
from workers.browser.tabs import BrowserTabs
from workers.page.dom import ElementIndex, PageCapture, capture_page
from workers.policy.navigation import BlockedRequest
from workers.secrets.exposure import page_shows_secret
from workers.secrets.vault import SecretVault

SECRET_TAG = PLACEHOLDER_OPEN  # how the model names a secret (the vault reveals it inside the action)

log = logging.getLogger(__name__)
CORRECTION = "Answer again with only the JSON object."
MAX_BLOCKED_NOTES = 8  # blocked requests listed per action result; the rest are counted
EXTRACT_PROMPT = "Answer the query from the page text only. Be concise and exact."
SCREENSHOT_TRIES = 2
NO_SCREENSHOT = ("\n(no screenshot this step: the page did not render one within {:g}s; "
                 "rely on the element list and page text)")


class StopRequested(Exception):
    """The user asked the task to stop."""


class BudgetExhausted(Exception):
    """The task's cost reached its cap, or its API key's budget is spent (the reason says which)."""


class RunLost(Exception):
    """This run may not act or write any more: a newer run of the task holds it (fenced out),
    or the task's record is gone. The hooks raise it; the run ends without a word to the record."""


class BrowserUnusableError(RuntimeError):
    """The browser crashed or closed under the task."""


class RunHooks(Protocol):
    """How the loop talks to the outside world (the task record, events)."""

    async def should_stop(self) -> bool:
        """Before every model call and action: was a stop requested? Raises :class:`RunLost`
        when this run may not act any more."""

    def over_budget(self) -> str | None:
        """Why the task may spend no more (its cap, its key's budget), as of its last step; no I/O."""
        ...

    async def before_acting(self) -> None:
        """Once per step, after the model answered and before its first action: confirm with
        the store (not only from memory) that this run may act and no stop was requested."""

    async def on_step(self, step: TaskStepView, screenshot: str | None) -> None:
        """Record a finished step (and its screenshot, kept for the task viewer when given);
        raises :class:`RunLost` instead when this run may not write any more."""


@dataclass
class AgentConfig:
    task: str
    max_steps: int = 100
    start_url: str | None = None
    output_schema: dict[str, Any] | None = None
    vision: bool = True
    highlight_elements: bool = False
    flash_mode: bool = False
    thinking: bool = False
    system_prompt_extension: str = ""
    max_actions: int = 5
    page_text_chars: int = 6000
    element_window_pages: float | None = None
    max_failures: int = 3
    step_timeout_s: float = 180.0
    screenshot_timeout_s: float = 5.0  # per try; two tries, then the step goes on without the image
    session_memory: str = ""
    keep_screenshots: int = 0  # the last N screenshots stay available (for the judge)
    record_screenshots: bool = False  # a screenshot per step for the task viewer, even without vision


@dataclass
class AgentOutcome:
    status: TaskStatus
    output: str | None = None
    is_success: bool | None = None
    error: str | None = None
    steps: int = 0
    screenshots: list[str] = field(default_factory=list)
    lost: bool = False  # the run was fenced out (or its record deleted): nothing more may be written
    browser_crashed: bool = False  # its browser died under it: an infrastructure fault, retried
    browser_setup_failed: bool = False  # no context could be opened for it (the task is not the cause)


@dataclass
class _StepReport:
    output: AgentOutput | None
    results: list[ActionResult] = field(default_factory=list)
    error: str | None = None
    url: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    screenshot: str | None = None


class Agent:
    """Runs one task in one browser context (its tabs)."""

    def __init__(
        self,
        config: AgentConfig,
        tabs: BrowserTabs,
        llm: LLMClient,
        hooks: RunHooks,
        vault: SecretVault | None = None,
        guard: NavigationGuard | None = None,
        actions: Mapping[str, Action] = ACTIONS,
        blocked: Callable[[], list[BlockedRequest]] | None = None,
    ) -> None:
        self.config = config
        self.tabs = tabs
        self.llm = llm
        self.hooks = hooks
        self.vault = vault or SecretVault()
        self.guard: NavigationGuard = guard or (lambda url: None)
        self._drain_blocked = blocked or (lambda: [])
        self.actions = dict(actions)
        self.history: list[prompt.StepMemory] = []
        self.failures = 0
        self._last: tuple[PageCapture, ElementIndex] | None = None
        self._note = ""
        self._step_started = time.monotonic()
        self._shot: str | None = None  # this step's screenshot (sent to the model or only recorded)
        self.screenshots: deque[str] = deque(maxlen=max(0, config.keep_screenshots))
        self._system = {
            last: prompt.system_prompt(
                {"done": self.actions["done"]} if last else self.actions,
                flash_mode=config.flash_mode,
                thinking=config.thinking,
                vision=config.vision,
                max_actions=config.max_actions,
                structured=config.output_schema is not None,
                extension=config.system_prompt_extension,
            )
            for last in (False, True)
        }

    # -- the loop ---------------------------------------------------------
    async def run(self) -> AgentOutcome:
        number = 0
        try:
            await self._open_start_url()
            for number in range(1, self.config.max_steps + 1):
                outcome = await self._step(number)
                if outcome is not None:
                    return outcome
            return AgentOutcome(
                TaskStatus.finished,
                is_success=False,
                error=f"reached maxSteps={self.config.max_steps} without finishing",
                steps=number,
            )
        except StopRequested:
            return AgentOutcome(TaskStatus.stopped, error="stopped by request", steps=number)
        except BudgetExhausted as exc:
            return AgentOutcome(TaskStatus.stopped, error=str(exc), steps=max(0, number - 1))
        except RunLost as exc:
            return AgentOutcome(TaskStatus.stopped, error=str(exc), steps=number, lost=True)
        except LLMUnavailableError as exc:
            return AgentOutcome(TaskStatus.failed, error=self.vault.mask(str(exc)), steps=number)
        except BrowserUnusableError as exc:
            crashed = not self._browser_alive()  # the browser itself died, not only the task's page
            return AgentOutcome(TaskStatus.failed, error=self.vault.mask(str(exc)), steps=number,
                                browser_crashed=crashed)

    async def _open_start_url(self) -> None:
        if not self.config.start_url:
            return
        await self._check_stop()
        result = await self._execute_one("navigate", {"url": self.config.start_url})
        if result.error:
            self._note = f"the start URL could not be opened: {result.error}"
        elif "\n" in result.text:  # opened, with notes (e.g. blocked requests of the page)
            notes = result.text.partition("\n")[2]
            self._note = f"while the start URL opened: {notes}"

    async def _step(self, number: int) -> AgentOutcome | None:
        self._check_budget()
        self._step_started = time.monotonic()
        last = number >= self.config.max_steps
        try:
            report = await asyncio.wait_for(self._look_ask_act(number, last), self.config.step_timeout_s)
        except TimeoutError:
            report = _StepReport(None, error=f"step timed out after {self.config.step_timeout_s:g}s")
        await self._record(number, report)
        if report.output is None:
            self.failures += 1
            self._note = f"your previous step failed: {report.error}"
            if self.failures >= self.config.max_failures:
                return AgentOutcome(
                    TaskStatus.failed,
                    error=f"{self.failures} consecutive failed steps; last: {report.error}",
                    steps=number,
                )
            return None
        self.failures = 0
        final = next((r for r in report.results if r.done), None)
        if final is not None:
            return AgentOutcome(
                TaskStatus.finished, output=final.output, is_success=final.success, steps=number
            )
        return None

    async def _look_ask_act(self, number: int, last: bool) -> _StepReport:
        page = await self._page()
        state, image = await self._observe(page)
        await self._check_stop()
        messages = self._messages(number, state, image, last)
        allowed = {"done": self.actions["done"]} if last else self.actions
        output, report = await self._ask(messages, allowed)
        report.url = page.url
        report.screenshot = self._shot
        if output is None:
            return report
        self._note = ""
        report.results = await self._act(output)
        return report

    # -- look -------------------------------------------------------------
    async def _page(self) -> Page:
        try:
            return await self.tabs.page()
        except PlaywrightError as exc:
            raise BrowserUnusableError(f"browser unusable: {exc.message}") from exc

    async def _observe(self, page: Page) -> tuple[str, str | None]:
        try:
            capture, index = await capture_page(
                page,
                text_chars=self.config.page_text_chars,
                previous=self._last,
                window_pages=self.config.element_window_pages,
            )
        except PlaywrightError as exc:
            if page.is_closed() or not self._browser_alive():
                raise BrowserUnusableError(f"browser unusable: {exc.message}") from exc
            raise
        self._last = (capture, index)
        raw = await render_state(capture, self.tabs)
        state = self.vault.mask(raw)
        image = self._shot = None
        vision = self.config.vision
        if vision or self.config.record_screenshots:
            if state != raw or await page_shows_secret(page, self.vault):
                if vision:
                    state += "\n(screenshot withheld this step: a secret value is visible on the page)"
            else:
                self._shot = await self._screenshot(page, index, self.config.highlight_elements and vision)
                if self._shot is None:
                    if vision:
                        state += NO_SCREENSHOT.format(self.config.screenshot_timeout_s * SCREENSHOT_TRIES)
                elif vision:
                    image = self._shot
                    self.screenshots.append(image)
        return state, image

    async def _screenshot(self, page: Page, index: ElementIndex, highlight: bool) -> str | None:
        """The step's screenshot, or ``None`` when the page rendered none in time (a starved
        machine, a busy compositor): a slow screenshot is not a dead browser. Two tries, each
        bounded; only a page or browser really gone ends the run."""
        for attempt in range(1, SCREENSHOT_TRIES + 1):
            try:
                return await screenshot(page, index, highlight, self.config.screenshot_timeout_s)
            except PlaywrightError as exc:
                if page.is_closed() or not self._browser_alive():
                    raise BrowserUnusableError(f"browser unusable: {exc.message.splitlines()[0]}") from exc
                log.warning("screenshot try %d of %d failed: %s", attempt, SCREENSHOT_TRIES,
                            exc.message.splitlines()[0])
        return None

    def _messages(self, number: int, state: str, image: str | None, last: bool) -> list[dict[str, Any]]:
        text = prompt.user_message(
            task=self.config.task,
            history=self.history,
            state=state,
            step=number,
            max_steps=self.config.max_steps,
            secret_names=self.vault.names,
            output_schema=self.config.output_schema,
            session_memory=self.config.session_memory,
            note=self._note,
        )
        content: Any = text
        if image is not None:
            content = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": image}},
            ]
        return [
            {"role": "system", "content": self._system[last]},
            {"role": "user", "content": content},
        ]

    # -- ask --------------------------------------------------------------
    async def _ask(
        self, messages: list[dict[str, Any]], allowed: Mapping[str, Action]
    ) -> tuple[AgentOutput | None, _StepReport]:
        """One LLM call; an invalid reply is fed back once before the step counts as failed."""
        report = _StepReport(None)
        for attempt in range(2):
            await self._check_stop()
            reply = await self.llm.complete(messages)
            report.input_tokens += reply.input_tokens
            report.output_tokens += reply.output_tokens
            try:
                report.output = parse_output(reply.text, allowed, self.config.max_actions)
                return report.output, report
            except OutputError as exc:
                report.error = f"invalid model output: {exc}"
                log.info("step output invalid (attempt %d): %s", attempt + 1, exc)
                messages = [
                    *messages,
                    {"role": "assistant", "content": reply.text[:4000]},
                    {"role": "user", "content": f"Invalid reply: {exc}. {CORRECTION}"},
                ]
        return None, report

    # -- act --------------------------------------------------------------
    async def _act(self, output: AgentOutput) -> list[ActionResult]:
        results: list[ActionResult] = []
        await self.hooks.before_acting()
        for planned in output.actions:
            await self._check_stop()
            page = await self._page()
            url_before = page.url
            self.tabs.opened_tab = False
            result = await self._execute_one(planned.name, planned.params)
            results.append(result)
            if result.done or result.error:
                break
            page_after = await self._page()
            changed = page_after is not page or page_after.url != url_before
            if self.actions[planned.name].changes_page or changed or self.tabs.opened_tab:
                break
        return results

    async def _execute_one(self, name: str, params: Any) -> ActionResult:
        action = self.actions[name]
        if not isinstance(params, action.params):
            params = action.params.model_validate(params)
        ctx = ActionContext(
            tabs=self.tabs,
            elements=self._last[1] if self._last else None,
            vault=self.vault,
            extract=self._extract,
            guard=self.guard,
            output_schema=self.config.output_schema,
            page_text_chars=self.config.page_text_chars,
        )
        try:
            with self.tabs.sealed() if _types_secret(params) else nullcontext():
                result = await action.run(ctx, params)
        except ActionError as exc:
            result = ActionResult(error=str(exc))
        except PlaywrightError as exc:
            if not self._browser_alive():
                raise BrowserUnusableError(f"browser unusable: {exc.message.splitlines()[0]}") from exc
            result = ActionResult(error=f"{name} failed: {exc.message.splitlines()[0]}")
        _report_blocked(result, self._drain_blocked())
        if result.error:
            result.error = self.vault.mask(result.error)
        result.text = self.vault.mask(result.text)
        return result

    def _browser_alive(self) -> bool:
        browser = self.tabs.context.browser
        return browser is not None and browser.is_connected()

    async def _extract(self, query: str, page_text: str) -> str:
        reply = await self.llm.complete(
            [
                {"role": "system", "content": EXTRACT_PROMPT},
                {"role": "user", "content": f"<query>{query}</query>\n<page_text>\n{page_text}</page_text>"},
            ],
            json_mode=False,
        )
        return reply.text

    def _check_budget(self) -> None:
        reason = self.hooks.over_budget()
        if reason:
            raise BudgetExhausted(reason)

    async def _check_stop(self) -> None:
        self._check_budget()
        if await self.hooks.should_stop():
            raise StopRequested

    # -- record -----------------------------------------------------------
    async def _record(self, number: int, report: _StepReport) -> None:
        out = report.output
        mask = self.vault.mask
        actions = [a.as_json() for a in out.actions[: len(report.results)]] if out else []
        results = [mask(f"error: {r.error}" if r.error else r.text) for r in report.results]
        if report.error and out is None:
            results = [mask(report.error)]
        step = TaskStepView(
            number=number,
            memory=mask(out.memory) if out else "",
            evaluation_previous_goal=mask(out.evaluation_previous_goal) if out else "",
            next_goal=mask(out.next_goal) if out else "",
            url=mask(report.url),
            actions=[mask(a) for a in actions],
            duration=round(time.monotonic() - self._step_started, 3),
            results=results,
            input_tokens=report.input_tokens,
            output_tokens=report.output_tokens,
        )
        self.history.append(
            prompt.StepMemory(
                number=number,
                evaluation=step.evaluation_previous_goal,
                memory=step.memory,
                next_goal=step.next_goal,
                actions=step.actions,
                results=[r[: prompt.LATEST_RESULT_CHARS] for r in results],
            )
        )
        await self.hooks.on_step(step, report.screenshot)


def _types_secret(params: Any) -> bool:
    """Does this action put a secret on the page? (Its parameters name one.)"""
    dumped = params.model_dump_json() if hasattr(params, "model_dump_json") else str(params)
    return SECRET_TAG in dumped


def _report_blocked(result: ActionResult, blocked: list[BlockedRequest]) -> None:
    """A tab's blocked navigation is an error of the action that led to it; other blocks are a note."""
    navigations = [b.describe() for b in blocked if b.navigation]
    if navigations:
        result.error = "; ".join([*([result.error] if result.error else []), *navigations[:3]])
    others = list(dict.fromkeys(b.describe() for b in blocked if not b.navigation))
    if others:
        more = f" (and {len(others) - MAX_BLOCKED_NOTES} more)" if len(others) > MAX_BLOCKED_NOTES else ""
        note = "; ".join(others[:MAX_BLOCKED_NOTES]) + more
        if result.error:  # the step shows the error, not the text: keep the note with it
            result.error = f"{result.error}; {note}"
        else:
            result.text = f"{result.text}\n{note}" if result.text else note
