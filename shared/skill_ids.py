"""Skill identifiers: the registry's slug, or the UUID the HTTP API shows for it.

``GET /skills`` lists each skill with a stable UUID (the v2 wire type) and its slug;
``skillIds`` accepts either, and the producer stores slugs.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

ALL = "*"


def skill_uuid(slug: str) -> uuid.UUID:
    """The stable UUID of a skill slug."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"browserfleet:skill:{slug}")


def to_slugs(skill_ids: Iterable[str], known: Iterable[str]) -> list[str]:
    """Map UUIDs of known skills to their slugs; other ids are returned unchanged."""
    by_uuid = {str(skill_uuid(slug)): slug for slug in known}
    return [by_uuid.get(s.lower(), s) for s in skill_ids]
