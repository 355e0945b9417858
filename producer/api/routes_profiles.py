"""``/profiles``: create, list, read, rename, delete. Each route is one producer call."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Query, Response

from shared.models import ProfileCreateRequest, ProfileListResponse, ProfileUpdateRequest, ProfileView

from .auth import CallerDep
from .deps import ProducerDep
from .error_responses import responses

router = APIRouter(prefix="/profiles", tags=["Profiles"], responses=responses(401))


@router.post("", status_code=201, summary="Create Profile")
def create_profile(
    caller: CallerDep, producer: ProducerDep, body: Annotated[ProfileCreateRequest | None, Body()] = None
) -> ProfileView:
    """An empty profile: a session started from it fills it with its cookies and local storage."""
    return producer.profiles.create(body, owner=caller.owner)


@router.get("", summary="List Profiles")
def list_profiles(
    caller: CallerDep,
    producer: ProducerDep,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(alias="pageNumber", ge=1)] = 1,
    query: Annotated[str | None, Query(max_length=200)] = None,
) -> ProfileListResponse:
    return producer.profiles.list(page_size, page_number, query, owner=caller.owner)


@router.get("/{profile_id}", summary="Get Profile", responses=responses(404))
def get_profile(profile_id: UUID, caller: CallerDep, producer: ProducerDep) -> ProfileView:
    return producer.profiles.get(profile_id, owner=caller.owner)


@router.patch("/{profile_id}", summary="Update Profile", responses=responses(404))
def update_profile(
    profile_id: UUID, body: ProfileUpdateRequest, caller: CallerDep, producer: ProducerDep
) -> ProfileView:
    return producer.profiles.update(profile_id, body, owner=caller.owner)


@router.delete("/{profile_id}", status_code=204, summary="Delete Profile", responses=responses(404))
def delete_profile(profile_id: UUID, caller: CallerDep, producer: ProducerDep) -> Response:
    """Remove the profile and its stored state."""
    producer.profiles.delete(profile_id, owner=caller.owner)
    return Response(status_code=204)
