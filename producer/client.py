"""The producer: validate create-task payloads, write the record, enqueue by name.

Thin on purpose: no browser or LLM code is imported here, and the worker's task
is addressed by name (``send_task``), so any Python app can enqueue with only
``shared`` installed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from celery import Celery
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from shared import crypto, keys
from shared.celery_config import RUN_TASK, celery_config
from shared.consumers import ConsumerRegistry, QueueHealth, queue_health
from shared.domains import parse_pattern, url_allowed
from shared.llms import UnknownModelError, resolve_model
from shared.metrics import QueueCollector
from shared.models import (
    CreateTaskRequest,
    TaskCreated,
    TaskListResponse,
    TaskStatus,
    TaskStatusView,
    TaskStepView,
    TaskView,
)
from shared.redaction import redact_request
from shared.settings import Settings, get_settings
from shared.skill_ids import to_slugs
from shared.store import TaskRecord, TaskStore, utcnow

from .errors import EnqueueError, TaskNotFoundError, TaskValidationError, WaitTimeoutError
from .profiles import ProfileMethods
from .sessions import SessionMethods

Payload = CreateTaskRequest | Mapping[str, Any]


class Producer(SessionMethods, ProfileMethods):
    """Creates, reads, waits for and stops tasks and sessions. Thread-safe; make one per process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.store = TaskStore.from_url(self.settings.redis_url, self.settings.record_ttl_s)
        self.celery = Celery("browserfleet-producer")
        self.celery.conf.update(celery_config(self.settings))

    # -- create -----------------------------------------------------------
    def validate(self, payload: Payload) -> CreateTaskRequest:
        """The validated request; raises :class:`TaskValidationError` listing every bad field."""
        errors: list[dict[str, Any]] = []
        try:
            # exclude_unset: what the caller left out stays left out (sessionSettings.proxyCountryCode)
            data = (
                payload.model_dump(mode="json", by_alias=True, exclude_unset=True)
                if isinstance(payload, CreateTaskRequest) else dict(payload)
            )
            request = CreateTaskRequest.model_validate(data)
        except ValidationError as exc:
            errors = [
                {"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()
            ]
            request = None
        errors += self._check_models(payload, request)
        if request is not None and request.skill_ids:
            known = sorted(str(k) for k in self.store.redis.hkeys(keys.SKILLS))
            request.skill_ids = to_slugs(request.skill_ids, known)
            errors += _check_skills(request.skill_ids, known)
        if request is not None and request.start_url and request.allowed_domains:
            patterns = [parse_pattern(p) for p in request.allowed_domains]
            if not url_allowed(request.start_url, patterns):
                errors.append(_error("startUrl", "is outside allowedDomains", "start_url_not_allowed"))
        if request is not None and request.secrets and not self.settings.secrets_key:
            errors.append(_error("secrets", crypto.MISSING_KEY, "secrets_key"))
        if errors:
            raise TaskValidationError(errors)
        assert request is not None
        return request

    def _check_models(
        self, payload: Payload, request: CreateTaskRequest | None
    ) -> list[dict[str, Any]]:
        if request is not None:
            names = {"llm": request.llm, "judgeLlm": request.judge_llm}
        else:
            raw = payload if isinstance(payload, Mapping) else {}
            names = {
                "llm": raw.get("llm", "browser-use-2.0"),
                "judgeLlm": raw.get("judgeLlm", raw.get("judge_llm")),
            }
        errors = []
        for field, name in names.items():
            if not isinstance(name, str):
                continue
            try:
                resolve_model(name, self.settings.default_model, self.settings.models)
            except UnknownModelError as exc:
                errors.append(_error(field, str(exc), "unknown_model"))
        return errors

    def create_task(self, payload: Payload, *, owner: str | None = None) -> TaskCreated:
        """Validate, admit, bind to a session (claimed atomically), record and enqueue one task.

        Without ``sessionId`` the task gets a one-off session that stops when the task ends.
        """
        request = redact_request(self.validate(payload))
        self.admit()
        task_id = uuid.uuid4()
        session = self._session_for_task(request, str(task_id), owner)
        session_id = session.id
        secrets_token = (
            crypto.encrypt_json(request.secrets, self.settings.secrets_key)
            if request.secrets
            else None
        )
        stored = request.model_dump(mode="json", exclude={"secrets"})
        stored["secret_names"] = sorted(request.secrets or {})
        record = TaskRecord(
            id=task_id,
            session_id=session_id,
            llm=request.llm,
            task=request.task,
            status=TaskStatus.created,
            created_at=utcnow(),
            metadata=dict(request.metadata or {}),
            request=stored,
            secrets_token=secrets_token,
            owner=owner or session.owner,
            proxy_country_code=session.proxy_country,
        )
        self.store.create(record)
        try:
            self.celery.send_task(
                RUN_TASK,
                args=[str(task_id)],
                task_id=str(task_id),
                queue=self.settings.queue,
                argsrepr=f"('{task_id}',)",
            )
        except Exception as exc:  # the broker's errors vary by transport
            self.store.delete(str(task_id), str(session_id))
            self._unclaim(session, str(task_id))
            raise EnqueueError(f"could not enqueue task: {exc}") from exc
        return TaskCreated(id=task_id, session_id=session_id)

    # -- read -------------------------------------------------------------
    def _record(
        self, task_id: str | uuid.UUID, with_steps: bool = False, owner: str | None = None
    ) -> TaskRecord:
        """The record; another owner's task is "not found" (its existence is not revealed)."""
        record = self.store.load(str(task_id), with_steps=with_steps)
        if record is None or (owner is not None and record.owner != owner):
            raise TaskNotFoundError(str(task_id))
        return record

    def get_task(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskView:
        return self._record(task_id, with_steps=True, owner=owner).view()

    def get_status(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskStatusView:
        return self._record(task_id, owner=owner).status_view()

    def list_tasks(
        self,
        page_size: int = 10,
        page_number: int = 1,
        session_id: str | uuid.UUID | None = None,
        filter_by: TaskStatus | None = None,
        after: datetime | None = None,
        before: datetime | None = None,
        owner: str | None = None,
    ) -> TaskListResponse:
        """Tasks newest first, filtered, one page at a time."""
        ids = self.store.list_ids(str(session_id) if session_id else None, after, before)
        records = self.store.load_many(ids)
        if filter_by is not None:
            records = [r for r in records if r.status == filter_by]
        if owner is not None:
            records = [r for r in records if r.owner == owner]
        start = (page_number - 1) * page_size
        page = records[start : start + page_size]
        return TaskListResponse(
            items=[r.item() for r in page],
            total_items=len(records),
            page_number=page_number,
            page_size=page_size,
        )

    def wait(
        self, task_id: str | uuid.UUID, timeout: float | None = None, poll_s: float = 0.25
    ) -> TaskView:
        """Block until the task is terminal; raises :class:`WaitTimeoutError` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self._record(task_id).status
            if status.terminal:
                return self.get_task(task_id)
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(f"task {task_id} still {status.value} after {timeout}s")
            time.sleep(poll_s)

    def follow(self, task_id: str | uuid.UUID, poll_s: float = 0.25) -> Iterator[TaskStepView]:
        """Yield steps as they are recorded, until the task is terminal."""
        seen = 0
        while True:
            status = self._record(task_id).status
            for step in self.store.steps(str(task_id), seen):
                seen += 1
                yield step
            if status.terminal:
                return
            time.sleep(poll_s)

    # -- control ----------------------------------------------------------
    def stop(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskView:
        """Ask the task to stop: a queued task stops at once, a running one before its next move."""
        tid = str(self._record(task_id, owner=owner).id)
        self._halt(tid)
        return self.get_task(tid)

    def stop_task_and_session(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskView:
        """Stop the task and, for good, the session it runs in."""
        record = self._record(task_id, owner=owner)
        self.stop_session(record.session_id)
        self._halt(str(record.id))
        return self.get_task(record.id)

    def list_skills(self) -> list[dict[str, Any]]:
        """The skill registry as workers published it (id, title, description, parameter schema)."""
        raw = self.store.redis.hgetall(keys.SKILLS)
        return [json.loads(value) for _, value in sorted(raw.items())]

    def queue_length(self) -> int:
        """Tasks waiting in the broker queue."""
        return self._broker.depth(self.settings.queue)

    def ping(self) -> bool:
        return bool(self.store.redis.ping())

    def metrics_registry(self) -> CollectorRegistry:
        """Prometheus collectors read live at scrape time: each queue's depth and oldest task's age."""
        registry = CollectorRegistry()
        queues = (self.settings.queue, self.settings.judge_queue)
        registry.register(QueueCollector(self._broker, lambda: self.store.redis, queues))
        return registry

    def queues(self) -> list[QueueHealth]:
        """The agent and judge queues: waiting tasks, live consumers, a warning when work has none."""
        registry = ConsumerRegistry(self.store.redis)
        return queue_health(registry, self._broker, (self.settings.queue, self.settings.judge_queue))


def _check_skills(skill_ids: list[str], known: list[str]) -> list[dict[str, Any]]:
    """Skill ids must be in the manifest workers published (``*`` means all of them)."""
    if "*" in skill_ids:
        return []
    unknown = [s for s in skill_ids if s not in known]
    if not unknown:
        return []
    if not known:
        msg = (f"unknown skill(s) {', '.join(map(repr, unknown))}: no skills are known yet "
               "(no worker has published its skill manifest; start a worker)")
    else:
        msg = f"unknown skill(s) {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
    return [_error("skillIds", msg, "unknown_skill")]


def _error(field: str, msg: str, kind: str) -> dict[str, Any]:
    return {"loc": [field], "msg": msg, "type": kind}

