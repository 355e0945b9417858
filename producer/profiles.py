"""The producer's profile operations: create, list, read, rename, delete.

Mixed into :class:`producer.client.Producer`. Profiles are owned by the API key that
created them, like sessions: another owner's profile is "not found". The state a
profile holds is written by workers when a task of a session started from it ends
(see :mod:`shared.profiles`); the producer never reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from functools import cached_property
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared.models import ProfileCreateRequest, ProfileListResponse, ProfileUpdateRequest, ProfileView
from shared.profiles import ProfileRecord, ProfileStore
from shared.task_store import TaskStore

from .errors import ProfileNotFoundError, SessionValidationError

_M = TypeVar("_M", bound=BaseModel)


class ProfileMethods:
    """Profile CRUD; needs ``store`` from the producer."""

    store: TaskStore

    @cached_property
    def profiles(self) -> ProfileStore:
        return ProfileStore(self.store.redis)

    def create_profile(
        self, payload: ProfileCreateRequest | Mapping[str, Any] | None = None, *, owner: str | None = None
    ) -> ProfileView:
        """A new, empty profile; a session started from it fills it."""
        record = ProfileRecord.new(_validate(ProfileCreateRequest, payload), owner)
        self.profiles.create(record)
        return record.view()

    def get_profile(self, profile_id: str | uuid.UUID, *, owner: str | None = None) -> ProfileView:
        return self._profile(profile_id, owner).view()

    def list_profiles(
        self, page_size: int = 10, page_number: int = 1, query: str | None = None, *, owner: str | None = None
    ) -> ProfileListResponse:
        """Profiles newest first; ``query`` keeps those whose name or user id contains it."""
        records = self.profiles.load_many(self.profiles.list_ids())
        records = [r for r in records if owner is None or r.owner == owner]
        if query:
            needle = query.casefold()
            records = [r for r in records if any(needle in (v or "").casefold() for v in (r.name, r.user_id))]
        start = (page_number - 1) * page_size
        return ProfileListResponse(
            items=[r.view() for r in records[start : start + page_size]],
            total_items=len(records),
            page_number=page_number,
            page_size=page_size,
        )

    def update_profile(
        self,
        profile_id: str | uuid.UUID,
        payload: ProfileUpdateRequest | Mapping[str, Any],
        *,
        owner: str | None = None,
    ) -> ProfileView:
        """Change the fields given (``name``, ``userId``); the others keep their value."""
        request = _validate(ProfileUpdateRequest, payload)
        record = self._profile(profile_id, owner)
        changes = {name: getattr(request, name) for name in request.model_fields_set}
        if not self.profiles.update(str(record.id), changes):
            raise ProfileNotFoundError()
        return self._profile(record.id, owner).view()

    def delete_profile(self, profile_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """Remove the profile and its state (sessions already started from it keep theirs)."""
        self.profiles.delete(str(self._profile(profile_id, owner).id))

    def _profile(self, profile_id: str | uuid.UUID, owner: str | None) -> ProfileRecord:
        record = self.profiles.load(str(profile_id), owner)
        if record is None:
            raise ProfileNotFoundError()
        return record


def _validate(model: type[_M], payload: _M | Mapping[str, Any] | None) -> _M:
    if isinstance(payload, model):
        return payload
    try:
        return model.model_validate(dict(payload or {}))
    except ValidationError as exc:
        raise SessionValidationError(
            [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        ) from None
