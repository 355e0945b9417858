"""The skill manifest: which skills the workers have, as they published them.

Agent workers write their registry here at start (``workers.skills.registry``); the producer
reads it to validate ``skillIds`` and to answer ``GET /skills``. One hash, one entry per skill.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import redis

from shared import keys


class SkillManifests:
    """Reads and writes the published manifest entries (id → JSON manifest)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def publish(self, entries: Mapping[str, Mapping[str, Any]]) -> None:
        """Add or replace these skills' entries (other workers' skills stay)."""
        if entries:
            self._redis.hset(keys.SKILLS, mapping={k: json.dumps(v) for k, v in entries.items()})

    def ids(self) -> list[str]:
        return sorted(str(k) for k in self._redis.hkeys(keys.SKILLS))

    def all(self) -> list[dict[str, Any]]:
        """Every entry, ordered by id."""
        raw = self._redis.hgetall(keys.SKILLS)
        return [json.loads(value) for _, value in sorted(raw.items())]
