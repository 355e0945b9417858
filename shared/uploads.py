"""Files uploaded into a session (an agent session or a browser session), and their upload URLs.

``POST /files/{sessions|browsers}/{id}/presigned-url`` issues a grant: a random token, valid
a few minutes, for one file of a declared name, type and size. The upload consumes the
grant atomically (``GETDEL``: a URL works once); the file is kept with the session, by
name (a second upload of a name replaces the first), until the session is deleted or
purged or its record expires. Workers read them by name: a task's agent puts one into a
file input, a browser session's CDP relay hands one to ``DOM.setFileInputFiles``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from typing import Any

import redis

from shared import keys

SCOPES = ("session", "browser")


class UploadStore:
    """Grants and uploaded files, per ``(scope, id)``."""

    def __init__(self, client: redis.Redis, ttl_s: int) -> None:
        self._redis = client
        self.ttl_s = ttl_s

    def grant(self, target: dict[str, Any], ttl_s: int) -> str:
        """A single-use token for ``target`` (scope, id, fileName, contentType, sizeBytes)."""
        token = secrets.token_urlsafe(32)
        self._redis.set(keys.upload_grant(token), json.dumps(target), ex=max(1, ttl_s))
        return token

    def consume(self, token: str) -> dict[str, Any] | None:
        """The grant of ``token``, which stops working now (``None``: unknown, expired or used)."""
        if not token or len(token) > 100:
            return None
        raw = self._redis.getdel(keys.upload_grant(token))
        return json.loads(str(raw)) if raw else None

    def keep(self, scope: str, owner_id: str, name: str, content_type: str, data: bytes) -> None:
        meta = {"fileName": name, "contentType": content_type, "size": len(data), "uploadedAt": time.time()}
        pipe = self._redis.pipeline()
        pipe.hset(keys.uploads(scope, owner_id), name, json.dumps(meta))
        pipe.hset(keys.upload_data(scope, owner_id), name, base64.b64encode(data).decode())
        pipe.expire(keys.uploads(scope, owner_id), self.ttl_s)
        pipe.expire(keys.upload_data(scope, owner_id), self.ttl_s)
        pipe.execute()

    def names(self, scope: str, owner_id: str) -> list[str]:
        return sorted(str(n) for n in self._redis.hkeys(keys.uploads(scope, owner_id)))

    def meta(self, scope: str, owner_id: str, name: str) -> dict[str, Any] | None:
        raw = self._redis.hget(keys.uploads(scope, owner_id), name)
        return json.loads(str(raw)) if raw else None

    def read(self, scope: str, owner_id: str, name: str) -> bytes | None:
        raw = self._redis.hget(keys.upload_data(scope, owner_id), name)
        return None if raw is None else base64.b64decode(raw)

    def drop_all(self, scope: str, owner_id: str) -> None:
        self._redis.delete(keys.uploads(scope, owner_id), keys.upload_data(scope, owner_id))
