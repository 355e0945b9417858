"""The producer's live views (``producer.live``): ``liveUrl`` of tasks and sessions, public shares.

The links point at the HTTP API's viewer page (``/live/{token}``), so they need the API's
external address: ``BROWSERFLEET_PUBLIC_URL`` when set, else ``base`` when the caller knows it
(the API passes its request's), else the address the running ``browserfleet api`` announced
(:mod:`shared.api_address`: the CLI's ``watch live`` link names the port ``up`` was given),
else the ``browserfleet api`` default.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from shared.api_address import ApiAddress
from shared.live_links import LiveLinks, Share, live_url
from shared.models import SessionStatus, ShareView
from shared.settings import Settings
from shared.task_store import TaskStore

from .errors import SessionNotFoundError, TaskNotFoundError
from .sessions import Sessions

DEFAULT_BASE = "http://127.0.0.1:8000"


class ShareNotFoundError(LookupError):
    def __init__(self) -> None:
        super().__init__("Public share not found")


class Live:
    """Viewer links over the live-link store; owners are checked against the task and session records."""

    def __init__(
        self, settings: Settings, links: LiveLinks, tasks: TaskStore, sessions: Sessions, api: ApiAddress
    ) -> None:
        self.settings = settings
        self.links = links
        self.api = api
        self.tasks = tasks
        self.sessions = sessions

    def _base(self, base: str | None) -> str:
        return self.settings.public_url or base or self.api.current() or DEFAULT_BASE

    def task_url(self, task_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None) -> str:
        """The task's viewer page: live while it runs, a replay once it finished."""
        found = self.tasks.load_status(str(task_id))
        if found is None or (owner is not None and found.owner != owner):
            raise TaskNotFoundError(str(task_id))
        token = self.links.task_token(str(found.view.id))
        if token is None:  # deleted meanwhile
            raise TaskNotFoundError(str(task_id))
        return live_url(self._base(base), token)

    def revoke_task_url(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """The task's ``liveUrl`` stops working at once, open viewers are cut off, and the task
        gets a new one the next time it is read."""
        found = self.tasks.load_status(str(task_id))
        if found is None or (owner is not None and found.owner != owner):
            raise TaskNotFoundError(str(task_id))
        self.links.revoke_task_url(str(found.view.id))

    def revoke_session_url(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """The same for a session's ``liveUrl``."""
        self.links.revoke_session_url(str(self.sessions.record(session_id, owner).id))

    def session_url(
        self, session_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None
    ) -> str | None:
        """The session's viewer page (follows its tasks) while the session is active."""
        record = self.sessions.record(session_id, owner)
        if record.status != SessionStatus.active:
            return None
        token = self.links.session_token(str(record.id))
        return live_url(self._base(base), token) if token else None

    # -- public shares (POST/GET/DELETE /sessions/{id}/public-share) -------------
    def create_share(
        self, session_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None
    ) -> ShareView:
        sid = str(self.sessions.record(session_id, owner).id)
        share = self.links.create_share(sid, self.settings.public_share_ttl_s)
        if share is None:  # deleted meanwhile
            raise SessionNotFoundError(sid)
        return self._share_view(share, base)

    def get_share(
        self, session_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None
    ) -> ShareView:
        share = self.links.get_share(str(self.sessions.record(session_id, owner).id))
        if share is None:
            raise ShareNotFoundError()
        return self._share_view(share, base)

    def share_url(self, session_id: str, base: str | None = None) -> str | None:
        share = self.links.get_share(session_id)
        return live_url(self._base(base), share.token) if share else None

    def delete_share(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """Revoke the share; viewers holding it are cut off within a heartbeat."""
        self.links.delete_share(str(self.sessions.record(session_id, owner).id))

    def _share_view(self, share: Share, base: str | None) -> ShareView:
        return ShareView(
            share_token=share.token,
            share_url=live_url(self._base(base), share.token),
            view_count=share.view_count,
            last_viewed_at=share.last_viewed,
            expires_at=datetime.fromtimestamp(share.expires_at, UTC),
        )
