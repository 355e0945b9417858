"""Account, skills, output files and the presigned downloads behind logs and files."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response

from producer.errors import TaskNotFoundError
from shared.skill_ids import skill_uuid

from . import downloads
from .auth import CallerDep
from .deps import ProducerDep
from .errors import detail, responses
from .params import IsoDateTime
from .schemas import (
    AccountView,
    ErrorDetail,
    ParameterSchema,
    ParameterType,
    PlanInfo,
    SkillCategory,
    SkillListResponse,
    SkillResponse,
    TaskOutputFileResponse,
)

router = APIRouter(responses=responses(401))
public = APIRouter()

_PARAM_TYPES = {"integer": ParameterType.number, "null": ParameterType.string}


@router.get("/billing/account", tags=["Billing"], summary="Get Account Billing")
def get_account(caller: CallerDep, producer: ProducerDep) -> AccountView:
    """No billing here: limits come from settings, usage from the fleet."""
    limit = producer.settings.max_active_sessions
    return AccountView(
        name="browserfleet",
        rate_limit=limit,
        concurrent_session_limit=limit,
        active_session_count=producer.sessions.count_active(caller.owner),
        plan_info=PlanInfo(plan_name="self-hosted"),
        project_id=uuid.uuid5(uuid.NAMESPACE_URL, f"browserfleet:project:{caller.owner or 'fleet'}"),
        api_key_id=caller.key_id,
        queued_tasks=producer.queue_length(),
        max_queued_tasks=producer.settings.max_queued_tasks,
    )


@router.get("/skills", tags=["Skills"], summary="List Skills")
def list_skills(
    caller: CallerDep,
    producer: ProducerDep,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(alias="pageNumber", ge=1)] = 1,
    is_public: Annotated[bool | None, Query(alias="isPublic")] = None,
    is_enabled: Annotated[bool | None, Query(alias="isEnabled")] = None,
    category: Annotated[SkillCategory | None, Query()] = None,
    query: Annotated[str | None, Query(max_length=100)] = None,
    from_date: Annotated[IsoDateTime | None, Query(alias="fromDate")] = None,
    to_date: Annotated[IsoDateTime | None, Query(alias="toDate")] = None,
) -> SkillListResponse:
    """The skills the workers registered (pass a skill's ``slug`` in ``skillIds``).

    They are all enabled, private to this fleet and uncategorised; the filters apply as such.
    """
    skills = [_skill(entry) for entry in producer.list_skills()]
    if is_enabled is False or is_public is True or category is not None:
        skills = []
    if query:
        needle = query.lower()
        skills = [s for s in skills if needle in f"{s.slug} {s.title} {s.description}".lower()]
    if from_date is not None:
        skills = [s for s in skills if s.created_at >= from_date]
    if to_date is not None:
        skills = [s for s in skills if s.created_at <= to_date]
    start = (page_number - 1) * page_size
    return SkillListResponse(
        items=skills[start : start + page_size],
        total_items=len(skills),
        page_number=page_number,
        page_size=page_size,
    )


@router.get("/skills/{skill_id}", tags=["Skills"], summary="Get Skill", responses=responses(404))
def get_skill(skill_id: UUID, caller: CallerDep, producer: ProducerDep) -> SkillResponse:
    for skill in (_skill(entry) for entry in producer.list_skills()):
        if skill.id == skill_id:
            return skill
    raise HTTPException(404, "Skill not found")


@router.get(
    "/files/tasks/{task_id}/output-files/{file_id}",
    tags=["Files"],
    summary="Get Task Output File Presigned Url",
    responses=responses(404),
)
def get_output_file(
    task_id: UUID, file_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep
) -> TaskOutputFileResponse:
    """A short-lived download URL (served here) of one file the task produced."""
    view = producer.get_task(task_id, owner=caller.owner)
    match = next((f for f in view.output_files if f.id == file_id), None)
    if match is None:
        raise HTTPException(404, "Output file not found")
    target = {"kind": "output-file", "task_id": str(task_id), "file_id": str(file_id)}
    url = downloads.issue(request, producer, target)
    return TaskOutputFileResponse(id=match.id, file_name=match.file_name, download_url=url)


@public.get(
    downloads.PATH + "/{token}",
    tags=["Files"],
    summary="Download a log or output file",
    response_class=Response,
    responses={
        200: {"description": "The file", "content": {"application/octet-stream": {}, "text/plain": {}}},
        404: {"model": ErrorDetail, "description": "Unknown or expired download URL"},
    },
)
def download(token: str, producer: ProducerDep) -> Response:
    """What a presigned URL points at; the URL is the credential, so no API key is needed."""
    gone = detail(404, "Download URL unknown or expired")
    target = downloads.resolve(producer, token)
    if target is None:
        return gone
    try:
        view = producer.get_task(target["task_id"])
    except TaskNotFoundError:
        return gone
    if target["kind"] == "task-log":
        return Response(
            downloads.render_log(view),
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="task-{view.id}.log"'},
        )
    found = producer.store.output_file(str(view.id), target["file_id"])
    if found is None:
        return gone
    meta, data = found
    name = str(meta.get("fileName", "output")).replace('"', "")
    return Response(
        data,
        media_type=str(meta.get("contentType") or "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _skill(entry: dict[str, Any]) -> SkillResponse:
    """A registry manifest entry as the v2 ``SkillResponse``."""
    slug = str(entry.get("id", ""))
    published = _time(entry.get("publishedAt"))
    schema = entry.get("parameters") or {}
    required = set(schema.get("required", []))
    params = []
    for name, prop in (schema.get("properties") or {}).items():
        params.append(ParameterSchema(
            name=name,
            type=_param_type(str(prop.get("type", "string"))),
            required=name in required,
            description=prop.get("description"),
            default=prop.get("default"),
        ))
    return SkillResponse(
        id=skill_uuid(slug),
        slug=slug,
        title=str(entry.get("title") or slug),
        description=str(entry.get("description") or ""),
        parameters=params,
        output_schema=dict(entry.get("outputSchema") or {}),
        first_published_at=published,
        last_published_at=published,
        created_at=published,
        updated_at=published,
    )


def _param_type(kind: str) -> ParameterType:
    if kind in _PARAM_TYPES:
        return _PARAM_TYPES[kind]
    try:
        return ParameterType(kind)
    except ValueError:
        return ParameterType.string


def _time(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return datetime.fromtimestamp(0, UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
