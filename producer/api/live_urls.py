"""``liveUrl`` and ``publicShareUrl`` on the views the API returns (they need the API's own address)."""

from __future__ import annotations

from fastapi import Request

from producer.client import Producer
from shared.models import SessionItemView, SessionStatus, SessionView, TaskView


def with_live_url(request: Request, producer: Producer, view: TaskView) -> TaskView:
    """The task's viewer page: live while it runs, a replay once it ended."""
    view.live_url = producer.live.task_url(view.id, base=str(request.base_url))
    return view


def with_session_urls(request: Request, producer: Producer, view: SessionView) -> SessionView:
    base = str(request.base_url)
    view.live_url = producer.live.session_url(view.id, base=base)
    view.public_share_url = producer.live.share_url(str(view.id), base=base)
    return view


def with_session_live_url(request: Request, producer: Producer, item: SessionItemView) -> SessionItemView:
    """An active session's viewer page (a stopped one has none, as in the hosted service)."""
    if item.status == SessionStatus.active:
        item.live_url = producer.live.session_url(item.id, base=str(request.base_url))
    return item
