"""Download tokens: what a presigned download URL of the HTTP API points at.

The token is random and single-purpose and the URL is the credential (like a presigned S3
URL); tokens live in Redis with their expiry, so any API replica can serve them.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

import redis

from shared import keys


class DownloadTokens:
    """Issues and resolves download tokens."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def issue(self, target: dict[str, Any], ttl_s: int) -> str:
        """A fresh token for ``target`` (``{"kind": ..., "task_id": ..., ...}``), valid ``ttl_s``."""
        token = secrets.token_urlsafe(32)
        self._redis.set(keys.download(token), json.dumps(target), ex=max(1, ttl_s))
        return token

    def resolve(self, token: str) -> dict[str, Any] | None:
        if not token or len(token) > 100:
            return None
        raw = self._redis.get(keys.download(token))
        return json.loads(str(raw)) if raw else None
