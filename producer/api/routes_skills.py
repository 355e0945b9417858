"""``/skills``: the skills the workers published (:mod:`shared.skill_manifests`) as v2 skill views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query

from shared.skill_ids import skill_uuid

from .auth import CallerDep
from .deps import ProducerDep
from .error_responses import responses
from .params import IsoDateTime
from .schemas import ParameterSchema, ParameterType, SkillCategory, SkillListResponse, SkillResponse

router = APIRouter(tags=["Skills"], responses=responses(401))

_PARAM_TYPES = {"integer": ParameterType.number, "null": ParameterType.string}


@router.get("/skills", summary="List Skills")
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
    skills = [_skill(entry) for entry in producer.list_skills() if caller.may_use_skill(str(entry.get("id")))]
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


@router.get("/skills/{skill_id}", summary="Get Skill", responses=responses(404))
def get_skill(skill_id: UUID, caller: CallerDep, producer: ProducerDep) -> SkillResponse:
    for skill in (_skill(entry) for entry in producer.list_skills()):
        if skill.id == skill_id and caller.may_use_skill(str(skill.slug)):
            return skill
    raise HTTPException(404, "Skill not found")



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
