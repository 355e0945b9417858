"""Running an operator skill directly (``producer.skill_runs``): no agent, no LLM, one browser context.

The skill must be one the workers published (:mod:`shared.skill_manifests`); its parameters are
validated here against the JSON schema the worker published for it (a 422 naming each bad
field, nothing enqueued), and again by the worker's own model. A ``sessionId`` (the caller's
session) makes the run go out through that session's proxy (its country or custom proxy),
as the hosted service's "IP persistence". The execution runs on the agent queue like a task
and :meth:`SkillRuns.execute` waits for its outcome, up to ``skill_execution_timeout_s``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
from celery import Celery

from shared.celery_config import SKILL_TASK
from shared.models import SessionStatus
from shared.settings import Settings
from shared.skill_ids import skill_uuid
from shared.stores import Stores

from .errors import SessionStoppedError, SkillExecutionError, TaskValidationError
from .sessions import Sessions

POLL_S = 0.1
MayUse = Callable[[str], bool]  # whether the caller may use a skill (by slug)


def _anyone(slug: str) -> bool:
    return True


class SkillRuns:
    def __init__(self, settings: Settings, stores: Stores, sessions: Sessions, celery: Celery) -> None:
        self.settings = settings
        self.stores = stores
        self.store = stores.skill_executions
        self.sessions = sessions
        self.celery = celery

    def skill(self, skill_id: str | uuid.UUID, may_use: MayUse = _anyone) -> dict[str, Any]:
        """The published manifest of a skill, by its UUID or slug; 404 when unknown, or not one the
        caller may use (skills bound to scoped keys: ``BROWSERFLEET_API_KEY_SKILLS``)."""
        for entry in self.stores.skills.all():
            slug = str(entry.get("id", ""))
            if str(skill_id) in (slug, str(skill_uuid(slug))) and may_use(slug):
                return entry
        raise SkillExecutionError("Skill not found", 404)

    def start(
        self,
        skill_id: str | uuid.UUID,
        params: dict[str, Any] | None,
        session_id: uuid.UUID | None,
        *,
        owner: str | None = None,
        may_use: MayUse = _anyone,
    ) -> str:
        """Validate and enqueue one execution; its id."""
        entry = self.skill(skill_id, may_use)
        params = params or {}
        errors = [
            {"loc": ["parameters", *e.absolute_path], "msg": e.message, "type": "skill_parameters"}
            for e in jsonschema.Draft202012Validator(entry.get("parameters") or {}).iter_errors(params)
        ]
        if errors:
            raise TaskValidationError(errors)
        if session_id is not None:
            session = self.sessions.record(session_id, owner)
            if session.status != SessionStatus.active:
                raise SessionStoppedError()
        execution_id = self.store.create(
            str(entry["id"]), params, owner, str(session_id) if session_id else None
        )
        self.celery.send_task(
            SKILL_TASK, args=[execution_id], task_id=f"skill-{execution_id}", queue=self.settings.queue
        )
        return execution_id

    async def outcome(self, execution_id: str) -> dict[str, Any]:
        """The execution once it ended, or as it stands after the timeout (plus a little for the queue)."""
        deadline = time.monotonic() + self.settings.skill_execution_timeout_s + 30
        while True:
            record = await asyncio.to_thread(self.store.load, execution_id)
            if record is None or record["status"] in ("completed", "failed"):
                return record or {}
            if time.monotonic() > deadline:
                reason = "no worker started the execution in time (is a worker consuming the agent queue?)"
                if await asyncio.to_thread(self.store.give_up, execution_id, reason):
                    return await asyncio.to_thread(self.store.load, execution_id) or {}
                deadline += self.settings.skill_execution_timeout_s  # it started meanwhile: let it end
            await asyncio.sleep(POLL_S)

    def execution(
        self,
        skill_id: str | uuid.UUID,
        execution_id: str | uuid.UUID,
        owner: str | None,
        may_use: MayUse = _anyone,
    ) -> dict[str, Any]:
        entry = self.skill(skill_id, may_use)
        record = self.store.load(str(execution_id))
        if (
            record is None
            or record["skill"] != entry["id"]
            or (owner is not None and record["owner"] != owner)
        ):
            raise SkillExecutionError("Skill execution not found", 404)
        return record

    def list(
        self,
        skill_id: str | uuid.UUID,
        owner: str | None,
        page_size: int,
        page_number: int,
        may_use: MayUse = _anyone,
    ) -> tuple[list[dict[str, Any]], int]:
        entry = self.skill(skill_id, may_use)
        ids, total = self.store.page(str(entry["id"]), owner, page_size, page_number)
        return [r for r in (self.store.load(i) for i in ids) if r is not None], total
