"""``/sessions``: create, list, read (with tasks), stop, delete. Each route is one producer call."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Request, Response

from shared.models import (
    CreateSessionRequest,
    SessionItemView,
    SessionListResponse,
    SessionStatus,
    SessionView,
)

from .auth import CallerDep
from .compat import for_client
from .deps import ProducerDep
from .error_responses import responses
from .live_urls import with_session_live_url, with_session_urls
from .schemas import UpdateSessionRequest

router = APIRouter(prefix="/sessions", tags=["Sessions"], responses=responses(401))


@router.post("", status_code=201, summary="Create Session", responses=responses(402, 404, 429))
def create_session(
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
    body: Annotated[CreateSessionRequest | None, Body()] = None,
) -> SessionItemView:
    """An active session; its tasks share cookies, storage and (with persistMemory) memory."""
    created = producer.sessions.create(body, owner=caller.owner, account=caller.account)
    return with_session_live_url(request, producer, created)


@router.get("", summary="List Sessions")
def list_sessions(
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(alias="pageNumber", ge=1)] = 1,
    filter_by: Annotated[SessionStatus | None, Query(alias="filterBy")] = None,
) -> SessionListResponse:
    page = producer.sessions.list(page_size, page_number, filter_by, owner=caller.owner)
    page.items = [with_session_live_url(request, producer, item) for item in page.items]
    return page


@router.get("/{session_id}", summary="Get Session", responses=responses(404))
def get_session(session_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep) -> SessionView:
    return _for_client(request, producer.sessions.get(session_id, owner=caller.owner))


@router.patch("/{session_id}", summary="Update Session", responses=responses(404))
def update_session(
    session_id: UUID, body: UpdateSessionRequest, request: Request, caller: CallerDep, producer: ProducerDep
) -> SessionView:
    """``stop``: the session (and its running task) stops for good."""
    return _for_client(request, producer.sessions.stop(session_id, owner=caller.owner))


@router.delete("/{session_id}", status_code=204, summary="Delete Session", responses=responses(404))
def delete_session(session_id: UUID, caller: CallerDep, producer: ProducerDep) -> Response:
    """Remove the session and every record of its tasks; their live links and share stop working."""
    producer.sessions.delete(session_id, owner=caller.owner)
    return Response(status_code=204)


@router.delete("/{session_id}/live-url", status_code=204, summary="Revoke Session Live URL",
               responses=responses(404))
def revoke_session_live_url(session_id: UUID, caller: CallerDep, producer: ProducerDep) -> Response:
    """Our own: the session's ``liveUrl`` stops working at once and its open viewers are cut off;
    the next read of the session carries a new one. (Its public share has its own ``DELETE``.)"""
    producer.live.revoke_session_url(session_id, owner=caller.owner)
    return Response(status_code=204)


def _for_client(request: Request, view: SessionView) -> SessionView:
    view.tasks = [for_client(request, task) for task in view.tasks]
    return with_session_urls(request, request.app.state.producer, view)


@router.post("/{session_id}/purge", status_code=204, summary="Purge Session", responses=responses(404))
def purge_session(session_id: UUID, caller: CallerDep, producer: ProducerDep) -> Response:
    """Remove every stored trace of the session at once (records, steps, screenshots, recordings,
    output and uploaded files, live links, the profile state its tasks wrote, task results)."""
    producer.purge_session(session_id, owner=caller.owner)
    return Response(status_code=204)
