"""The producer's profiles: create, list, read, rename, delete (``producer.profiles``).

Profiles are owned by the API key that created them, like sessions: another owner's
profile is "not found". The state a profile holds is written by workers when a task of
a session started from it ends (see :mod:`shared.profile_store`); the producer never reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from shared import profile_store as store_errors
from shared.models import ProfileCreateRequest, ProfileListResponse, ProfileUpdateRequest, ProfileView
from shared.profile_store import ProfileRecord, ProfileStore

from .errors import ProfileLimitError, ProfileNotFoundError, SessionValidationError, field_errors

_M = TypeVar("_M", bound=BaseModel)


class Profiles:
    """Profile CRUD over the profile store."""

    def __init__(self, store: ProfileStore) -> None:
        self.store = store

    def create(
        self, payload: ProfileCreateRequest | Mapping[str, Any] | None = None, *, owner: str | None = None
    ) -> ProfileView:
        """A new, empty profile; a session started from it fills it."""
        record = ProfileRecord.new(_validate(ProfileCreateRequest, payload), owner)
        try:
            self.store.create(record)
        except store_errors.ProfileLimitError:
            raise ProfileLimitError(self.store.max_per_owner) from None
        return record.view()

    def get(self, profile_id: str | uuid.UUID, *, owner: str | None = None) -> ProfileView:
        return self._record(profile_id, owner).view()

    def list(
        self, page_size: int = 10, page_number: int = 1, query: str | None = None, *, owner: str | None = None
    ) -> ProfileListResponse:
        """Profiles newest first; ``query`` keeps those whose name or user id contains it.

        Reads the caller's own index (a scoped key's profiles are bounded by its quota), never
        every tenant's records: without ``query`` one page of it, with ``query`` all of it.
        """
        if not query:
            ids, total = self.store.page_ids(page_size, page_number, owner)
            items = [r.view() for r in self.store.load_many(ids)]
        else:
            needle = query.casefold()
            records = [r for r in self.store.load_many(self.store.list_ids(owner))
                       if any(needle in (v or "").casefold() for v in (r.name, r.user_id))]
            total, start = len(records), (page_number - 1) * page_size
            items = [r.view() for r in records[start : start + page_size]]
        return ProfileListResponse(items=items, total_items=total, page_number=page_number,
                                   page_size=page_size)

    def update(
        self,
        profile_id: str | uuid.UUID,
        payload: ProfileUpdateRequest | Mapping[str, Any],
        *,
        owner: str | None = None,
    ) -> ProfileView:
        """Change the fields given (``name``, ``userId``); the others keep their value."""
        request = _validate(ProfileUpdateRequest, payload)
        record = self._record(profile_id, owner)
        changes = {name: getattr(request, name) for name in request.model_fields_set}
        if not self.store.update(str(record.id), changes):
            raise ProfileNotFoundError()
        return self._record(record.id, owner).view()

    def delete(self, profile_id: str | uuid.UUID, *, owner: str | None = None) -> None:
        """Remove the profile and its state (sessions already started from it keep theirs)."""
        self.store.delete(str(self._record(profile_id, owner).id))

    def use(self, profile_id: uuid.UUID | None, owner: str | None) -> None:
        """A session may start only from a profile of its own owner; that profile is now "used"."""
        if profile_id is None:
            return
        self._record(profile_id, owner)
        self.store.touch(str(profile_id))

    def _record(self, profile_id: str | uuid.UUID, owner: str | None) -> ProfileRecord:
        record = self.store.load(str(profile_id), owner)
        if record is None:
            raise ProfileNotFoundError()
        return record


def _validate(model: type[_M], payload: _M | Mapping[str, Any] | None) -> _M:
    if isinstance(payload, model):
        return payload
    try:
        return model.model_validate(dict(payload or {}))
    except ValidationError as exc:
        raise SessionValidationError(field_errors(exc)) from None
