"""The producer's live-view operations: ``liveUrl`` of tasks and sessions, public shares.

Mixed into :class:`producer.client.Producer`. The links point at the HTTP API's viewer
page (``/live/{token}``), so they need the API's external address: ``base`` when the
caller knows it (the API passes its request's), else ``BROWSERFLEET_PUBLIC_URL``, else
the ``browserfleet api`` default.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from shared.live import LiveLinks, Share, live_url
from shared.models import SessionStatus, ShareView, TaskStatusView
from shared.session_store import SessionRecord
from shared.settings import Settings
from shared.task_store import TaskStore

DEFAULT_BASE = "http://127.0.0.1:8000"


class ShareNotFoundError(LookupError):
    def __init__(self) -> None:
        super().__init__("Public share not found")


class LiveMethods:
    """Needs ``settings``, ``store`` and the producer's task and session look-ups."""

    settings: Settings
    store: TaskStore

    if TYPE_CHECKING:  # provided by Producer and SessionMethods

        def get_status(self, task_id: str | uuid.UUID, *, owner: str | None = None) -> TaskStatusView: ...

        def _session(self, session_id: str | uuid.UUID, owner: str | None) -> SessionRecord: ...

    def _session_status(self, session_id: str | uuid.UUID, owner: str | None) -> tuple[str, SessionStatus]:
        record = self._session(session_id, owner)
        return str(record.id), record.status

    @cached_property
    def live(self) -> LiveLinks:
        return LiveLinks(self.store.redis, self.settings.record_ttl_s)

    def _base(self, base: str | None) -> str:
        return self.settings.public_url or base or DEFAULT_BASE

    def live_url(self, task_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None) -> str:
        """The task's viewer page: live while it runs, a replay once it finished."""
        view = self.get_status(task_id, owner=owner)
        return live_url(self._base(base), self.live.task_token(str(view.id)))

    def session_live_url(
        self, session_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None
    ) -> str | None:
        """The session's viewer page (follows its tasks) while the session is active."""
        sid, status = self._session_status(session_id, owner)
        if status != SessionStatus.active:
            return None
        return live_url(self._base(base), self.live.session_token(sid))

    # -- public shares (POST/GET/DELETE /sessions/{id}/public-share) -------------
    def create_public_share(
        self, session_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None
    ) -> ShareView:
        sid, _ = self._session_status(session_id, owner)
        return self._share_view(self.live.create_share(sid, self.settings.public_share_ttl_s), base)

    def get_public_share(
        self, session_id: str | uuid.UUID, *, owner: str | None = None, base: str | None = None
    ) -> ShareView:
        sid, _ = self._session_status(session_id, owner)
        share = self.live.get_share(sid)
        if share is None:
            raise ShareNotFoundError()
        return self._share_view(share, base)

    def public_share_url(self, session_id: str, base: str | None = None) -> str | None:
        share = self.live.get_share(session_id)
        return live_url(self._base(base), share.token) if share else None

    def delete_public_share(self, session_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """Revoke the share; viewers holding it are cut off within a heartbeat."""
        sid, _ = self._session_status(session_id, owner)
        self.live.delete_share(sid)

    def forget_links(self, session_id: str, task_ids: list[str]) -> None:
        """After a session was deleted: its and its tasks' links stop resolving at once."""
        for task_id in task_ids:
            self.live.revoke_all(task_id=task_id)
        self.live.revoke_all(session_id=session_id)

    def _share_view(self, share: Share, base: str | None) -> ShareView:
        return ShareView(
            share_token=share.token,
            share_url=live_url(self._base(base), share.token),
            view_count=share.view_count,
            last_viewed_at=share.last_viewed,
            expires_at=datetime.fromtimestamp(share.expires_at, UTC),
        )
