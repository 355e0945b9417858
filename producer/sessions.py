"""The producer's sessions (``producer.sessions``) and the rules that bind a new task to one.

Python users and the HTTP API call the same methods. ``owner`` everywhere means "acting
as this API-key owner": records are tagged with it and only its own are visible; ``None``
acts as an administrator.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from shared import proxies
from shared.models import (
    CreateSessionRequest,
    CreateTaskRequest,
    SessionItemView,
    SessionListResponse,
    SessionSettings,
    SessionStatus,
    SessionView,
    TaskStatus,
)
from shared.proxies import ProxyConfigError, ProxyTable
from shared.session_store import Claim, SessionRecord
from shared.settings import Settings
from shared.stores import Stores
from shared.task_queue import OneOffSession
from shared.task_store import utcnow

from .browsers import custom_proxy_token
from .budgets import Budgets
from .errors import (
    SessionBusyError,
    SessionNotFoundError,
    SessionStoppedError,
    SessionValidationError,
    TaskValidationError,
    TooManySessionsError,
    field_errors,
)
from .profiles import Profiles

SessionPayload = CreateSessionRequest | Mapping[str, Any] | None


def halt_task(stores: Stores, task_id: str) -> bool:
    """Request a stop; a task still queued stops at once (and frees its session)."""
    stores.tasks.request_stop(task_id)
    stopped = stores.tasks.transition(
        task_id,
        TaskStatus.stopped,
        [TaskStatus.created],
        finished_at=utcnow(),
        error="stopped by request before it started",
    )
    if stopped:
        record = stores.tasks.load(task_id)
        if record is not None:
            stores.sessions.release(str(record.session_id), task_id)
    return stopped


class Sessions:
    """Session CRUD, and the session each new task runs in."""

    def __init__(self, settings: Settings, stores: Stores, profiles: Profiles, budgets: Budgets) -> None:
        self.settings = settings
        self.stores = stores
        self.store = stores.sessions
        self.profiles = profiles
        self.budgets = budgets

    # -- sessions ---------------------------------------------------------
    def create(
        self, payload: SessionPayload = None, *, owner: str | None = None, account: str | None = None
    ) -> SessionItemView:
        """Create an active session (no browser is held: its state lives in Redis between tasks).

        ``account``'s session limit (``maxActiveSessions``, else ``BROWSERFLEET_MAX_ACTIVE_SESSIONS``)
        answers :class:`TooManySessionsError`, a spent budget :class:`BudgetExceededError`.
        """
        request = _validate_session(payload)
        self.profiles.use(request.profile_id, owner)
        limit = self.budgets.controls.limits(account).max_active_sessions
        if limit > 0 and self.count_active(owner) >= limit:
            raise TooManySessionsError()
        self.budgets.check_spendable(account)
        custom = request.custom_proxy is not None
        explicit = "proxy_country_code" in request.model_fields_set
        try:  # a custom proxy replaces the country's
            proxy_country_code = (None if custom
                                  else self.proxy_table.choose(request.proxy_country_code, explicit))
        except ProxyConfigError as exc:
            raise SessionValidationError([_proxy_error(["proxyCountryCode"], exc)]) from None
        record = SessionRecord.new(request, owner=owner, proxy_country_code=proxy_country_code)
        proxy_token, _ = custom_proxy_token(request.custom_proxy, self.settings, "customProxy",
                                            str(record.id))
        if proxy_token:
            self.stores.custom_proxies.keep(str(record.id), proxy_token)
        self.store.create(record)
        return record.item()

    def get(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> SessionView:
        """The session with its tasks, oldest first."""
        record = self.record(session_id, owner)
        tasks = self.stores.tasks.load_many(self.store.task_ids(str(record.id)))
        return record.view([self.stores.tasks.settle(t).item() for t in tasks])

    def list(
        self,
        page_size: int = 10,
        page_number: int = 1,
        filter_by: SessionStatus | None = None,
        *,
        owner: str | None = None,
    ) -> SessionListResponse:
        """Sessions newest first, optionally only active or stopped ones: one page of an index.

        An idle session is stopped lazily, when read: such a one drops out of an ``active``
        page (which is then one shorter) and is filed under ``stopped`` from then on.
        """
        status = filter_by.value if filter_by is not None else None
        ids, total = self.store.page_ids(page_size, page_number, owner=owner, status=status)
        records = [r for r in self.store.load_many(ids) if filter_by is None or r.status == filter_by]
        return SessionListResponse(
            items=[r.item() for r in records],
            total_items=total,
            page_number=page_number,
            page_size=page_size,
        )

    def stop(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> SessionView:
        """Stop the session for good (and its running task); its saved browser state is dropped."""
        record = self.record(session_id, owner)
        running = self.store.stop(str(record.id))
        if running:
            halt_task(self.stores, running)
        return self.get(record.id, owner=owner)

    def delete(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """Stop the session and remove it with every record of its tasks.

        Their live links and the session's public share stop working at once and open viewers
        are told: each record goes in one step with the grants it owns (a link can neither
        outlive it nor be made for it meanwhile). A running task stops before its next move:
        the worker stops when the record it runs is gone, and a queued one is never started.
        """
        record = self.record(session_id, owner)
        sid = str(record.id)
        running = self.store.stop(sid)  # first: no new task can claim the session
        if running:
            halt_task(self.stores, running)
        for task_id in self.store.task_ids(sid):
            self.stores.tasks.delete(task_id, sid)
        self.store.delete(sid)

    def count_active(self, owner: str | None = None) -> int:
        """Active sessions (of ``owner``): those filed as active, settled as they are read."""
        active = self.store.active_ids(owner)
        return sum(r.status == SessionStatus.active for r in self.store.load_many(active))

    def record(self, session_id: str | uuid.UUID, owner: str | None) -> SessionRecord:
        """The session's record; another owner's is "not found"."""
        record = self.store.load(str(session_id), owner)
        if record is None:
            raise SessionNotFoundError(str(session_id))
        return record

    # -- tasks in sessions ------------------------------------------------
    def bind(
        self, request: CreateTaskRequest, task_id: str, owner: str | None
    ) -> SessionRecord | OneOffSession:
        """The session the new task runs in, claimed for it (the rules hold under concurrent creates).

        A one-off session is only described here: it is written with the task's record.
        """
        if request.session_id is None:
            settings = request.session_settings
            proxy_country_code = self._task_proxy_country_code(settings)
            self.profiles.use(settings.profile_id if settings else None, owner)
            return _one_off(settings, proxy_country_code)
        sid = str(request.session_id)
        claim = self.store.claim(sid, task_id, owner)
        if claim == Claim.missing:
            raise SessionNotFoundError(sid)
        if claim == Claim.stopped:
            raise SessionStoppedError()
        if claim == Claim.busy:
            raise SessionBusyError()
        record = self.store.load(sid)
        if record is None:  # deleted between the claim and now
            raise SessionNotFoundError(sid)
        return record

    def unbind(self, session: SessionRecord, task_id: str) -> None:
        """Undo the claim of :meth:`bind` for a task that was never enqueued."""
        self.store.release(str(session.id), task_id, ended=False)

    # -- helpers ----------------------------------------------------------
    @cached_property
    def proxy_table(self) -> ProxyTable:
        """The operator's upstream proxies (countries only are used here; workers connect)."""
        return proxies.table(self.settings)

    def _task_proxy_country_code(self, settings: SessionSettings | None) -> str | None:
        """The v2 rule: no ``sessionSettings`` → the default country; with them, a proxy only
        when ``proxyCountryCode`` is given (``null`` → direct)."""
        explicit = settings is not None
        given = settings is not None and "proxy_country_code" in settings.model_fields_set
        requested = settings.proxy_country_code if settings and given else None
        try:
            return self.proxy_table.choose(requested, explicit)
        except ProxyConfigError as exc:
            raise TaskValidationError([_proxy_error(["sessionSettings", "proxyCountryCode"], exc)]) from None


def _proxy_error(loc: list[str], exc: ProxyConfigError) -> dict[str, Any]:
    return {"loc": loc, "msg": str(exc), "type": "proxy_country_not_configured"}


def _validate_session(payload: SessionPayload) -> CreateSessionRequest:
    try:
        if isinstance(payload, CreateSessionRequest):
            request = payload
        else:
            request = CreateSessionRequest.model_validate(dict(payload or {}))
    except ValidationError as exc:
        raise SessionValidationError(field_errors(exc)) from None
    return request


def _one_off(settings: SessionSettings | None, proxy_country_code: str | None) -> OneOffSession:
    """A task's ``sessionSettings`` as its one-off session (no memory kept, stopped when it ends)."""
    if settings is None:
        return OneOffSession(proxy_country_code=proxy_country_code)
    return OneOffSession(
        screen_width=settings.browser_screen_width,
        screen_height=settings.browser_screen_height,
        profile_id=str(settings.profile_id) if settings.profile_id else None,
        enable_recording=settings.enable_recording,
        proxy_country_code=proxy_country_code,
    )

