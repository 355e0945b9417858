"""What a skill is: an operator's reusable browser workflow that the agent calls as one action.

A skill is a :class:`Skill` (id, title, description, a :class:`SkillParams` model and an
``async def run(ctx, params)``), usually made with the :func:`skill` decorator. For the agent
it becomes the action ``skill_<id>{params}``; it runs like every action, under the task's
policy (navigation guard, secret masking, step recording), and its return value becomes the
step result the model reads. The rule of actions holds: raise :class:`ActionError` for a
mistake the model can correct; any other exception of a skill is reported to the model as a
failure of that skill and the task goes on.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, get_type_hints

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from pydantic import BaseModel

from workers.actions.base import Action, ActionContext, ActionError, ActionResult, Params
from workers.skills.files import TaskFiles

log = logging.getLogger(__name__)

SKILL_ID = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
ACTION_PREFIX = "skill_"
RESULT_CHARS = 12000
PROMPT_DOC_CHARS = 160


class SkillParams(Params):
    """Base of every skill's parameter model (unknown fields are refused, as for actions)."""


@dataclass
class SkillContext(ActionContext):
    """An :class:`ActionContext` plus what only skills need: their id and the task's output files."""

    skill_id: str = ""
    files: TaskFiles | None = None

    @classmethod
    def of(cls, ctx: ActionContext, skill_id: str, files: TaskFiles | None) -> SkillContext:
        shared = {f.name: getattr(ctx, f.name) for f in dataclasses.fields(ctx) if f.init}
        return cls(**shared, skill_id=skill_id, files=files)

    async def page(self) -> Page:
        """The task's current tab."""
        return await self.tabs.page()

    def check_url(self, url: str) -> None:
        """Refuse (``ActionError``) a URL the task's policy forbids; for requests outside the page."""
        reason = self.guard(url)
        if reason:
            raise ActionError(f"{url} is blocked: {reason}")

    async def save_file(self, file_name: str, data: bytes, content_type: str) -> dict[str, str]:
        """Keep ``data`` as one of the task's output files; returns ``{id, fileName}``."""
        if self.files is None:
            raise ActionError("this task cannot keep output files")
        view = await self.files.save(file_name, data, content_type)
        return {"id": str(view.id), "fileName": view.file_name}


SkillFunc = Callable[[SkillContext, Any], Awaitable[Any]]


@dataclass(frozen=True)
class Skill:
    """A registered skill; :meth:`manifest` is what workers publish, :meth:`action` what the agent gets."""

    id: str
    title: str
    description: str
    params: type[SkillParams]
    run: SkillFunc
    changes_page: bool = False

    def __post_init__(self) -> None:
        if not SKILL_ID.match(self.id):
            raise ValueError(f"skill id {self.id!r} must match {SKILL_ID.pattern}")
        if not (isinstance(self.params, type) and issubclass(self.params, SkillParams)):
            raise TypeError(f"skill {self.id}: params must be a subclass of SkillParams")
        if not inspect.iscoroutinefunction(self.run):
            raise TypeError(f"skill {self.id}: run must be an async function")

    @property
    def action_name(self) -> str:
        return ACTION_PREFIX + self.id

    def manifest(self) -> dict[str, Any]:
        """Metadata only: the producer validates and lists skills from this, without worker code."""
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "parameters": self.params.model_json_schema(),
            "action": self.action_name,
        }

    def action(self, files: TaskFiles | None) -> Action:
        """The agent action for one task (``files`` is that task's output-file store)."""

        async def run(ctx: ActionContext, params: Params) -> ActionResult:
            skill_ctx = SkillContext.of(ctx, self.id, files)
            try:
                value = await self.run(skill_ctx, params)
            except (ActionError, PlaywrightError):
                raise
            except Exception as exc:  # the operator's code: report, never crash the task
                log.warning("skill %s raised", self.id, exc_info=True)
                detail = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
                raise ActionError(f"skill {self.id} failed: {type(exc).__name__}: {detail}") from None
            return _result(self.id, value)

        doc = " ".join(self.description.split())
        if len(doc) > PROMPT_DOC_CHARS:
            doc = doc[: PROMPT_DOC_CHARS - 1] + "…"
        return Action(self.action_name, self.params, doc, run, self.changes_page)


def _result(skill_id: str, value: Any) -> ActionResult:
    """Turn what a skill returned into the step result the model reads (compact JSON, bounded)."""
    if isinstance(value, ActionResult):
        return value
    if value is None:
        text = "done"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, BaseModel):
        text = value.model_dump_json()
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    if len(text) > RESULT_CHARS:
        text = text[:RESULT_CHARS] + f"… ({len(text) - RESULT_CHARS} more characters)"
    return ActionResult(text=f"skill {skill_id}: {text}")


def skill(
    id: str,
    *,
    title: str | None = None,
    description: str | None = None,
    params: type[SkillParams] | None = None,
    changes_page: bool = False,
) -> Callable[[SkillFunc], Skill]:
    """Make a :class:`Skill` of an ``async def run(ctx: SkillContext, params: MyParams)``.

    ``params`` defaults to the annotation of the function's second parameter, ``description``
    to its docstring, ``title`` to the id in words. ``changes_page=True`` when the skill
    navigates, so the agent looks at the page again before its next action.
    """

    def wrap(func: SkillFunc) -> Skill:
        model = params or _params_of(func)
        doc = description or inspect.getdoc(func) or ""
        return Skill(
            id=id,
            title=title or id.replace("_", " ").capitalize(),
            description=doc.strip().split("\n\n")[0].replace("\n", " "),
            params=model,
            run=func,
            changes_page=changes_page,
        )

    return wrap


def _params_of(func: SkillFunc) -> type[SkillParams]:
    names = list(inspect.signature(func).parameters)
    if len(names) != 2:
        raise TypeError(f"{func.__qualname__} must take (ctx, params)")
    try:
        hint = get_type_hints(func).get(names[1])
    except NameError as exc:  # a model defined inside a function, under postponed annotations
        raise TypeError(
            f"{func.__qualname__}: cannot resolve the params annotation ({exc}); pass params="
        ) from None
    if not (isinstance(hint, type) and issubclass(hint, SkillParams)):
        raise TypeError(f"{func.__qualname__}: annotate params with a SkillParams subclass or pass params=")
    return hint
