"""``/tasks``: create, list, read, stop, logs. Each route is one producer call."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response

from shared.models import (
    CreateTaskRequest,
    TaskCreated,
    TaskListResponse,
    TaskStatus,
    TaskStatusView,
    TaskView,
)
from shared.skill_ids import ALL, to_slugs

from . import downloads
from .auth import Caller, CallerDep
from .compat import for_client
from .deps import ProducerDep
from .error_responses import responses
from .etag import NOT_MODIFIED, conditional_json
from .live_urls import with_live_url
from .params import IsoDateTime
from .polling import StatusReader
from .schemas import TaskLogFileResponse, TaskUpdateAction, UpdateTaskRequest

router = APIRouter(prefix="/tasks", tags=["Tasks"], responses=responses(401))


@router.post(
    "",
    status_code=202,
    summary="Create Task",
    responses=responses(400, 402, 403, 404, 413, 429, 503),
)
def create_task(body: CreateTaskRequest, caller: CallerDep, producer: ProducerDep) -> TaskCreated:
    """Validate and enqueue a task; without ``sessionId`` it runs in a one-off session."""
    if body.op_vault_id and not caller.may_use_vault(body.op_vault_id):
        raise HTTPException(403, "This API key may not use that opVaultId")
    if body.skill_ids and caller.skills is not None:
        body.skill_ids = own_skills(body.skill_ids, caller, producer.stores.skills.ids())
    return producer.create_task(body, owner=caller.owner, account=caller.account)


def own_skills(requested: list[str], caller: Caller, known: list[str]) -> list[str]:
    """The skills a scoped key asked for, as slugs, if it may use them all (else 403); ``*`` is
    every skill *it* may use, never the operator's whole registry."""
    slugs = to_slugs(requested, known)
    if ALL in slugs:
        mine = [s for s in known if caller.may_use_skill(s)]
        if not mine:
            raise HTTPException(403, "This API key may not use any skill")
        return mine
    refused = [s[:100] for s in slugs if not caller.may_use_skill(s)]
    if refused:
        raise HTTPException(403, f"This API key may not use the skill(s): {', '.join(refused)}")
    return slugs


@router.get("", summary="List Tasks")
def list_tasks(
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(alias="pageNumber", ge=1)] = 1,
    session_id: Annotated[UUID | None, Query(alias="sessionId")] = None,
    filter_by: Annotated[TaskStatus | None, Query(alias="filterBy")] = None,
    after: Annotated[IsoDateTime | None, Query()] = None,
    before: Annotated[IsoDateTime | None, Query()] = None,
) -> TaskListResponse:
    """Tasks newest first; ``after``/``before`` bound the creation time (UTC if no offset)."""
    page = producer.list_tasks(
        page_size, page_number, session_id, filter_by, after, before, owner=caller.owner
    )
    page.items = [for_client(request, item) for item in page.items]
    return page


@router.get(
    "/{task_id}", summary="Get Task", response_model=TaskView, responses={**responses(404), **NOT_MODIFIED}
)
def get_task(task_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep) -> Response:
    """The full view with its live URL, and an ``ETag`` (``If-None-Match``: 304 while unchanged)."""
    view = for_client(request, producer.get_task(task_id, owner=caller.owner))
    return conditional_json(request, with_live_url(request, producer, view))


@router.patch("/{task_id}", summary="Update Task", responses=responses(404))
def update_task(
    task_id: UUID, body: UpdateTaskRequest, request: Request, caller: CallerDep, producer: ProducerDep
) -> TaskView:
    """``stop`` the task, or ``stop_task_and_session``."""
    if body.action == TaskUpdateAction.stop_task_and_session:
        view = producer.stop_task_and_session(task_id, owner=caller.owner)
    else:
        view = producer.stop(task_id, owner=caller.owner)
    return with_live_url(request, producer, for_client(request, view))


@router.get(
    "/{task_id}/status",
    summary="Get Task Status",
    response_model=TaskStatusView,
    responses={**responses(404), **NOT_MODIFIED},
)
async def get_task_status(task_id: UUID, request: Request, caller: CallerDep) -> Response:
    """The lightweight view for polling, with an ``ETag`` (``If-None-Match`` answers 304 while unchanged).

    Async: one ``HMGET`` on the event loop, no thread-pool hop (see :mod:`.polling`).
    """
    reader: StatusReader = request.app.state.status_reader
    return conditional_json(request, for_client(request, await reader.get(task_id, caller.owner)))


@router.delete("/{task_id}/live-url", status_code=204, summary="Revoke Task Live URL",
               responses=responses(404))
def revoke_task_live_url(task_id: UUID, caller: CallerDep, producer: ProducerDep) -> Response:
    """Our own: the task's ``liveUrl`` stops working at once and its open viewers are cut off;
    the next read of the task carries a new one."""
    producer.live.revoke_task_url(task_id, owner=caller.owner)
    return Response(status_code=204)


@router.get("/{task_id}/logs", summary="Get Task Logs", responses=responses(404))
def get_task_logs(
    task_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep
) -> TaskLogFileResponse:
    """A short-lived URL (served here) of the task's plain-text execution log."""
    view = producer.get_status(task_id, owner=caller.owner)
    url = downloads.issue(request, producer, {"kind": "task-log", "task_id": str(view.id)})
    return TaskLogFileResponse(download_url=url)

