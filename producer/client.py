"""The producer: validate create-task payloads, write the record, enqueue by name.

Thin on purpose: no browser or LLM code is imported here, and the worker's task
is addressed by name (``send_task``), so any Python app can enqueue with only
``shared`` installed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from celery import Celery
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from shared import crypto
from shared.accounts import Controls
from shared.broker import BrokerQueues, broker_queues
from shared.celery_config import RUN_TASK, celery_config
from shared.consumers import QueueHealth, queue_health
from shared.domains import parse_pattern, url_allowed
from shared.fleet_metrics import QueueCollector, WebhookCollector
from shared.ids import new_ids
from shared.llms import UnknownModelError, model_table, resolve_model
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
from shared.session_store import SessionRecord
from shared.settings import Settings, get_settings
from shared.skill_ids import to_slugs
from shared.stores import Stores
from shared.task_queue import AccountRefusedError, ListPublisher, NewTask, OneOffSession
from shared.task_store import TaskRecord

from .admission import Admission
from .browsers import Browsers
from .budgets import Budgets
from .enqueue import CeleryPublisher, Enqueuer, Publisher, RedisListPublisher
from .errors import (
    PartlyEnqueuedError,
    TaskNotFoundError,
    TaskValidationError,
    WaitTimeoutError,
    field_errors,
)
from .live_views import Live
from .profiles import Profiles
from .purge import purge_session
from .sessions import Sessions, halt_task
from .skill_runs import SkillRuns
from .uploads import Uploads
from .webhooks import Webhooks
from .wire import WireFormat

Payload = CreateTaskRequest | Mapping[str, Any]


class Producer:
    """Creates, reads, waits for and stops tasks; ``sessions``, ``profiles`` and ``live`` do the
    same for sessions, profiles and viewer links. Thread-safe; make one per process."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()
        self.stores = Stores(self.settings)
        self.store = self.stores.tasks
        self.controls = Controls(self.settings)
        self.budgets = Budgets(self.controls, self.stores.spend, self.settings.retry_after_s)
        self.webhooks = Webhooks(self.controls, self.stores.webhooks)
        self.profiles = Profiles(self.stores.profiles)
        self.sessions = Sessions(self.settings, self.stores, self.profiles, self.budgets)
        self.live = Live(self.settings, self.stores.live, self.store, self.sessions, self.stores.api_address)
        self.celery = Celery("browserfleet-producer")
        self.celery.conf.update(celery_config(self.settings))
        self.browsers = Browsers(self.settings, self.stores, self.profiles, self.celery, lambda: self.broker)
        self.uploads = Uploads(self.settings, self.stores, self.sessions, self.browsers)
        self.skill_runs = SkillRuns(self.settings, self.stores, self.sessions, self.celery)

    @cached_property
    def broker(self) -> BrokerQueues:
        """The broker's queues, for admission, ``queue_length``, health and metrics."""
        settings = self.settings
        return broker_queues(settings.broker, None if settings.amqp else settings.broker_target)

    @cached_property
    def enqueuer(self) -> Enqueuer:
        """The records' Redis is the broker: one script records and pushes. Another Redis or
        RabbitMQ: the script records, a publisher sends (see :mod:`producer.enqueue`)."""
        settings = self.settings
        broker_redis = None if settings.amqp else ListPublisher.from_url(settings.broker_target)
        wire = WireFormat(
            self.celery,
            RUN_TASK,
            settings.queue,
            events_db=broker_redis.db if broker_redis else 0,
            sent_event=bool(self.celery.conf.task_send_sent_event),
        )
        publisher: Publisher | None = None
        if broker_redis is None:
            publisher = CeleryPublisher(self.celery, RUN_TASK, settings.queue)
        elif settings.broker != settings.redis_url:
            publisher = RedisListPublisher(broker_redis, wire)
        return Enqueuer(
            self.stores.task_queue,
            wire,
            admission=Admission(
                self.broker, settings.queue, settings.max_queued_tasks, settings.retry_after_s
            ),
            publisher=publisher,
        )

    # -- create -----------------------------------------------------------
    def validate(self, payload: Payload, known_skills: list[str] | None = None) -> CreateTaskRequest:
        """The validated request; raises :class:`TaskValidationError` listing every bad field.

        ``known_skills`` is the skill manifest, when the caller has already read it.
        """
        errors: list[dict[str, Any]] = []
        try:
            # exclude_unset: what the caller left out stays left out (sessionSettings.proxyCountryCode)
            data = (
                payload.model_dump(mode="json", by_alias=True, exclude_unset=True)
                if isinstance(payload, CreateTaskRequest) else dict(payload)
            )
            request = CreateTaskRequest.model_validate(data)
        except ValidationError as exc:
            errors = field_errors(exc)
            request = None
        errors += self._check_models(payload, request)
        if request is not None and request.skill_ids:
            known = self._known_skills() if known_skills is None else known_skills
            request.skill_ids = to_slugs(request.skill_ids, known)
            errors += _check_skills(request.skill_ids, known)
        if request is not None and request.start_url and request.allowed_domains:
            patterns = [parse_pattern(p) for p in request.allowed_domains]
            if not url_allowed(request.start_url, patterns):
                errors.append(_error("startUrl", "is outside allowedDomains", "start_url_not_allowed"))
        if request is not None and request.secrets and not crypto.key_list(self.settings.secrets_key):
            errors.append(_error("secrets", crypto.MISSING_KEY, "secrets_key"))
        if errors:
            raise TaskValidationError(errors)
        assert request is not None
        return request

    def _known_skills(self) -> list[str]:
        return self.stores.skills.ids()

    @cached_property
    def _model_names(self) -> frozenset[str]:
        """The model names these settings accept (built once: a batch checks one per payload)."""
        return frozenset(model_table(self.settings.default_model, self.settings.models))

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
            if not isinstance(name, str) or name in self._model_names:
                continue
            try:
                resolve_model(name, self.settings.default_model, self.settings.models)
            except UnknownModelError as exc:
                errors.append(_error(field, str(exc), "unknown_model"))
        return errors

    def create_task(
        self, payload: Payload, *, owner: str | None = None, account: str | None = None
    ) -> TaskCreated:
        """Validate, admit, bind to a session (claimed atomically), record and enqueue one task.

        Without ``sessionId`` the task gets a one-off session that stops when the task ends.
        Recording and enqueueing are one Redis round trip (see :mod:`producer.enqueue`).
        ``account`` (an API key's, :mod:`shared.accounts`) brings its quotas, budget and webhook:
        :class:`TooManyActiveTasksError`/:class:`KeyQueueFullError` (429) and
        :class:`BudgetExceededError` (402) refuse the task before anything is written.
        """
        return self._create([self.validate(payload)], owner, account)[0]

    def create_tasks(
        self, payloads: Iterable[Payload], *, owner: str | None = None, account: str | None = None
    ) -> list[TaskCreated]:
        """Create many tasks at once, all or none: one Redis request per ``CHUNK`` (100) tasks,
        pipelined (plus one per ``sessionId``).

        Every payload is validated on its own; if any is invalid, :class:`TaskValidationError`
        lists every bad field of every bad payload, each path starting with the payload's
        index (``[3, "llm"]``), and nothing is written or enqueued, not even the valid ones.
        A full queue (``backlog + len(payloads) > max_queued_tasks``) refuses the whole batch
        with :class:`QueueFullError`; a session error (busy, stopped, not found) does too.
        Only a Redis failure between two chunks splits a batch: :class:`PartlyEnqueuedError`
        then lists the tasks enqueued (whole chunks, complete); the others were not written.
        """
        requests: list[CreateTaskRequest] = []
        errors: list[dict[str, Any]] = []
        known: list[str] | None = None
        for index, payload in enumerate(payloads):
            if known is None and _wants_skills(payload):
                known = self._known_skills()
            try:
                requests.append(self.validate(payload, known))
            except TaskValidationError as exc:
                errors += [{**e, "loc": [index, *e["loc"]]} for e in exc.errors]
        if errors:
            raise TaskValidationError(errors)
        return self._create(requests, owner, account)

    def _create(
        self, requests: list[CreateTaskRequest], owner: str | None, account: str | None
    ) -> list[TaskCreated]:
        """Bind each request to its session, then record and enqueue them (see :mod:`producer.enqueue`)."""
        webhook = self.controls.webhook(account) is not None
        cost_limits = self.controls.limits(account).for_record()
        tasks: list[NewTask] = []
        claimed: dict[str, SessionRecord] = {}  # task id -> the existing session claimed for it
        ids = iter(new_ids(2 * len(requests)))  # each task's id and its one-off session's
        try:
            for validated in requests:
                request = redact_request(validated)
                task_id, session_id = next(ids), next(ids)
                session = self.sessions.bind(request, task_id, owner)
                token = (crypto.encrypt_json(request.secrets, self.settings.secrets_key,
                                             purpose=crypto.TASK_SECRETS, owner=task_id)
                         if request.secrets else None)
                if isinstance(session, OneOffSession):
                    tasks.append(NewTask(task_id, session_id, request, owner, token,
                                         session.proxy_country_code, session, account, webhook, cost_limits))
                else:
                    claimed[task_id] = session
                    tasks.append(NewTask(task_id, str(session.id), request, owner or session.owner, token,
                                         session.proxy_country_code, None, account, webhook, cost_limits))
            self.enqueuer.push(tasks, self.budgets.gate(account))
        except AccountRefusedError as exc:
            self._unclaim_all(claimed, set())
            assert account is not None
            raise self.budgets.refused(account, exc.reason) from None
        except PartlyEnqueuedError as exc:
            exc.created = [TaskCreated(id=t.task_id, session_id=t.session_id) for t in tasks[: exc.written]]
            self._unclaim_all(claimed, {t.task_id for t in tasks[: exc.written]})
            raise
        except BaseException:
            self._unclaim_all(claimed, set())
            raise
        return [TaskCreated(id=t.task_id, session_id=t.session_id) for t in tasks]

    def _unclaim_all(self, claimed: dict[str, SessionRecord], enqueued: set[str]) -> None:
        """Release the sessions claimed for tasks that were not enqueued."""
        for task_id, session in claimed.items():
            if task_id not in enqueued:
                self.sessions.unbind(session, task_id)

    # -- read -------------------------------------------------------------
    def _record(
        self, task_id: str | uuid.UUID, with_steps: bool = False, owner: str | None = None
    ) -> TaskRecord:
        """The record; another owner's task is "not found" (its existence is not revealed)."""
        record = self.store.load(str(task_id), with_steps=with_steps)
        if record is None or (owner is not None and record.owner != owner):
            raise TaskNotFoundError(str(task_id))
        return self.store.settle(record, with_steps)

    def get_task(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskView:
        return self._record(task_id, with_steps=True, owner=owner).view()

    def get_status(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskStatusView:
        """The lightweight view for polling (reads only its own fields)."""
        found = self.store.load_status(str(task_id))
        if found is None or (owner is not None and found.owner != owner):
            raise TaskNotFoundError(str(task_id))
        if found.judge_overdue:
            return self._record(task_id, owner=owner).status_view()
        return found.view

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
        """Tasks newest first, filtered, one page at a time.

        Reads one page of an index (per owner, per status, per both: see ``keys.tasks_by``)
        and that page's records: two round trips whatever the number of tasks. A session's
        tasks are few and are filtered as a whole.
        """
        status = filter_by.value if filter_by is not None else None
        if session_id is None:
            ids, total = self.store.page_ids(page_size, page_number, owner=owner, status=status,
                                             after=after, before=before)
            items = [self.store.settle(r).item() for r in self.store.load_many(ids)]
        else:
            records = [self.store.settle(r) for r in
                       self.store.load_many(self.store.session_ids(str(session_id), after, before))]
            records = [r for r in records if (status is None or r.status == filter_by)
                       and (owner is None or r.owner == owner)]
            total, start = len(records), (page_number - 1) * page_size
            items = [r.item() for r in records[start : start + page_size]]
        return TaskListResponse(items=items, total_items=total, page_number=page_number, page_size=page_size)

    def wait(
        self, task_id: str | uuid.UUID, timeout: float | None = None, poll_s: float = 0.25
    ) -> TaskView:
        """Block until the task is terminal; raises :class:`WaitTimeoutError` after ``timeout``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.get_status(task_id).status
            if status.terminal:
                return self.get_task(task_id)
            if deadline is not None and time.monotonic() > deadline:
                raise WaitTimeoutError(f"task {task_id} still {status.value} after {timeout}s")
            time.sleep(poll_s)

    def follow(self, task_id: str | uuid.UUID, poll_s: float = 0.25) -> Iterator[TaskStepView]:
        """Yield steps as they are recorded, until the task is terminal."""
        seen = 0
        while True:
            status = self.get_status(task_id).status
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
        halt_task(self.stores, tid)
        return self.get_task(tid)

    def stop_task_and_session(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskView:
        """Stop the task and, for good, the session it runs in."""
        record = self._record(task_id, owner=owner)
        self.sessions.stop(record.session_id)
        halt_task(self.stores, str(record.id))
        return self.get_task(record.id)

    def purge_session(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """Remove every stored trace of a session (see :mod:`producer.purge`); 404 if not ``owner``'s."""
        purge_session(self.sessions, self.stores, self.celery, session_id, owner)

    def list_skills(self) -> list[dict[str, Any]]:
        """The skill registry as workers published it (id, title, description, parameter schema)."""
        return self.stores.skills.all()

    def queue_length(self) -> int:
        """Tasks waiting in the broker queue."""
        return self.broker.depth(self.settings.queue)

    def ping(self) -> bool:
        return self.stores.ping()

    def metrics_registry(self) -> CollectorRegistry:
        """Prometheus collectors read live at scrape time: each queue's depth and oldest task's age."""
        registry = CollectorRegistry()
        queues = (self.settings.queue, self.settings.judge_queue)
        registry.register(QueueCollector(self.broker, self.store, queues))
        registry.register(WebhookCollector(self.stores.webhooks))
        return registry

    def queues(self) -> list[QueueHealth]:
        """The agent and judge queues (and, with webhooks, the tasks whose events wait for delivery):
        waiting work, live consumers, a warning when work has none."""
        queues = (self.settings.queue, self.settings.judge_queue)
        health = queue_health(self.stores.consumers, self.broker, queues)
        if self.settings.webhooks_configured:
            health.append(self.webhooks.health(self.stores.consumers, self.settings.webhook_queue))
        return health


def _wants_skills(payload: Payload) -> bool:
    if isinstance(payload, CreateTaskRequest):
        return bool(payload.skill_ids)
    return bool(payload.get("skillIds") or payload.get("skill_ids"))


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

