"""Compatibility with the older Fern-generated ``browser-use-sdk`` (0.x-2.0.x).

Its ``create_task(...).complete()`` polls until ``finished``, ``stopped`` or ``paused``;
it knows no ``failed``, so a failed task would make it poll forever. For those clients
(recognised by the ``X-Fern-SDK-Name`` header they send) a failed task reads as
``stopped``: terminal, with ``isSuccess`` false and the reason in ``error``.
"""

from __future__ import annotations

from typing import TypeVar

from fastapi import Request

from shared.models import TaskItemView, TaskStatus, TaskStatusView, TaskView

View = TypeVar("View", TaskView, TaskStatusView, TaskItemView)


def is_legacy_client(request: Request) -> bool:
    return request.headers.get("x-fern-sdk-name") == "browser-use-sdk"


def for_client(request: Request, view: View) -> View:
    """``view`` as this client can understand it."""
    if view.status == TaskStatus.failed and is_legacy_client(request):
        return view.model_copy(update={"status": TaskStatus.stopped})
    return view
