"""The producer's session operations and the rules that bind a new task to a session.

Mixed into :class:`producer.client.Producer`, so Python users and the HTTP API call
the same methods. ``owner`` everywhere means "acting as this API-key owner": records
are tagged with it and only its own are visible; ``None`` acts as an administrator.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from shared import proxies
from shared.broker import BrokerQueues, broker_queues
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
from shared.profiles import ProfileStore
from shared.proxies import ProxyConfigError, ProxyTable
from shared.sessions import Claim, SessionRecord, SessionStore
from shared.settings import Settings
from shared.store import TaskStore, utcnow
from shared.task_queue import OneOffSession

from .errors import (
    ProfileNotFoundError,
    SessionBusyError,
    SessionNotFoundError,
    SessionStoppedError,
    SessionValidationError,
    TaskValidationError,
    TooManySessionsError,
)

SessionPayload = CreateSessionRequest | Mapping[str, Any] | None


class SessionMethods:
    """Session CRUD; needs ``settings`` and ``store`` from the producer."""

    settings: Settings
    store: TaskStore

    @cached_property
    def sessions(self) -> SessionStore:
        settings = self.settings
        return SessionStore(self.store.redis, settings.record_ttl_s, settings.session_idle_timeout_s)

    @cached_property
    def _broker(self) -> BrokerQueues:
        return broker_queues(self.settings.broker)

    # -- sessions ---------------------------------------------------------
    def create_session(self, payload: SessionPayload = None, *, owner: str | None = None) -> SessionItemView:
        """Create an active session (no browser is held: its state lives in Redis between tasks)."""
        request = _validate_session(payload)
        self._use_profile(request.profile_id, owner)
        limit = self.settings.max_active_sessions
        if limit > 0 and self.count_active_sessions(owner) >= limit:
            raise TooManySessionsError()
        explicit = "proxy_country_code" in request.model_fields_set
        try:
            country = self.proxy_table.choose(request.proxy_country_code, explicit)
        except ProxyConfigError as exc:
            raise SessionValidationError([_proxy_error(["proxyCountryCode"], exc)]) from None
        record = SessionRecord.new(request, owner=owner, proxy_country=country)
        self.sessions.create(record)
        return record.item()

    def get_session(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> SessionView:
        """The session with its tasks, oldest first."""
        record = self._session(session_id, owner)
        tasks = self.store.load_many(self.sessions.task_ids(str(record.id)))
        return record.view([t.item() for t in tasks])

    def list_sessions(
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
        ids, total = self.sessions.page_ids(page_size, page_number, owner=owner, status=status)
        records = [r for r in self.sessions.load_many(ids) if filter_by is None or r.status == filter_by]
        return SessionListResponse(
            items=[r.item() for r in records],
            total_items=total,
            page_number=page_number,
            page_size=page_size,
        )

    def stop_session(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> SessionView:
        """Stop the session for good (and its running task); its saved browser state is dropped."""
        record = self._session(session_id, owner)
        running = self.sessions.stop(str(record.id))
        if running:
            self._halt(running)
        return self.get_session(record.id, owner=owner)

    def delete_session(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """Stop the session and remove it with every record of its tasks."""
        record = self._session(session_id, owner)
        sid = str(record.id)
        running = self.sessions.stop(sid)
        if running:
            self._halt(running)
        for task_id in self.sessions.task_ids(sid):
            self.store.delete(task_id, sid)
        self.sessions.delete(sid)

    def count_active_sessions(self, owner: str | None = None) -> int:
        """Active sessions (of ``owner``): those filed as active, settled as they are read."""
        active = self.sessions.active_ids(owner)
        return sum(r.status == SessionStatus.active for r in self.sessions.load_many(active))

    # -- tasks in sessions ------------------------------------------------
    def _session_for_task(
        self, request: CreateTaskRequest, task_id: str, owner: str | None
    ) -> SessionRecord | OneOffSession:
        """The session the new task runs in, claimed for it (the rules hold under concurrent creates).

        A one-off session is only described here: it is written with the task's record.
        """
        if request.session_id is None:
            settings = request.session_settings
            country = self._task_proxy_country(settings)
            self._use_profile(settings.profile_id if settings else None, owner)
            return _one_off(settings, country)
        sid = str(request.session_id)
        claim = self.sessions.claim(sid, task_id, owner)
        if claim == Claim.missing:
            raise SessionNotFoundError(sid)
        if claim == Claim.stopped:
            raise SessionStoppedError()
        if claim == Claim.busy:
            raise SessionBusyError()
        record = self.sessions.load(sid)
        if record is None:  # deleted between the claim and now
            raise SessionNotFoundError(sid)
        return record

    def _unclaim(self, session: SessionRecord, task_id: str) -> None:
        """Undo the claim of :meth:`_session_for_task` for a task that was never enqueued."""
        self.sessions.release(str(session.id), task_id, ended=False)

    def _halt(self, task_id: str) -> bool:
        """Request a stop; a task still queued stops at once (and frees its session)."""
        self.store.request_stop(task_id)
        stopped = self.store.transition(
            task_id,
            TaskStatus.stopped,
            [TaskStatus.created],
            finished_at=utcnow(),
            error="stopped by request before it started",
        )
        if stopped:
            record = self.store.load(task_id)
            if record is not None:
                self.sessions.release(str(record.session_id), task_id)
        return stopped

    # -- helpers ----------------------------------------------------------
    @cached_property
    def proxy_table(self) -> ProxyTable:
        """The operator's upstream proxies (countries only are used here; workers connect)."""
        return proxies.table(self.settings)

    def _task_proxy_country(self, settings: SessionSettings | None) -> str | None:
        """The v2 rule: no ``sessionSettings`` → the default country; with them, a proxy only
        when ``proxyCountryCode`` is given (``null`` → direct)."""
        explicit = settings is not None
        given = settings is not None and "proxy_country_code" in settings.model_fields_set
        requested = settings.proxy_country_code if settings and given else None
        try:
            return self.proxy_table.choose(requested, explicit)
        except ProxyConfigError as exc:
            raise TaskValidationError([_proxy_error(["sessionSettings", "proxyCountryCode"], exc)]) from None

    def _use_profile(self, profile_id: uuid.UUID | None, owner: str | None) -> None:
        """A session may start only from a profile of its own owner; that profile is now "used"."""
        if profile_id is None:
            return
        profiles = ProfileStore(self.store.redis)
        if profiles.load(str(profile_id), owner) is None:
            raise ProfileNotFoundError()
        profiles.touch(str(profile_id))

    def _session(self, session_id: str | uuid.UUID, owner: str | None) -> SessionRecord:
        record = self.sessions.load(str(session_id), owner)
        if record is None:
            raise SessionNotFoundError(str(session_id))
        return record


def _proxy_error(loc: list[str], exc: ProxyConfigError) -> dict[str, Any]:
    return {"loc": loc, "msg": str(exc), "type": "proxy_country_not_configured"}


def _validate_session(payload: SessionPayload) -> CreateSessionRequest:
    try:
        if isinstance(payload, CreateSessionRequest):
            request = payload
        else:
            request = CreateSessionRequest.model_validate(dict(payload or {}))
    except ValidationError as exc:
        raise SessionValidationError(
            [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None
    if request.custom_proxy is not None:
        raise SessionValidationError([{
            "loc": ["customProxy"],
            "msg": "custom proxies are not supported by this server (browsers connect directly)",
            "type": "unsupported",
        }])
    return request


def _one_off(settings: SessionSettings | None, country: str | None) -> OneOffSession:
    """A task's ``sessionSettings`` as its one-off session (no memory kept, stopped when it ends)."""
    if settings is None:
        return OneOffSession(proxy_country=country)
    return OneOffSession(
        screen_width=settings.browser_screen_width,
        screen_height=settings.browser_screen_height,
        profile_id=str(settings.profile_id) if settings.profile_id else None,
        enable_recording=settings.enable_recording,
        proxy_country=country,
    )

