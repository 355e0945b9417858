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
MAX_NAME_BYTES = 255
SNIFF_BYTES = 512  # what content_problem looks at: the start of the file

# What a file of each accepted type starts with (None: text, checked as such).
_SIGNATURES: dict[str, tuple[bytes, ...] | None] = {
    "image/jpg": (b"\xff\xd8\xff",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
    "application/pdf": (b"%PDF-",),
    "application/msword": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "application/vnd.ms-excel": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (b"PK\x03\x04",),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": (b"PK\x03\x04",),
    "image/svg+xml": None,
    "text/plain": None,
    "text/csv": None,
    "text/markdown": None,
}


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name an uploaded file: a plain file name, no directory, no control characters."""
    if not name or name.strip() in {"", ".", ".."}:
        return "not a file name"
    if "/" in name or "\\" in name:
        return "a file name may not contain a path separator"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "a file name may not contain control characters"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"a file name is at most {MAX_NAME_BYTES} bytes"
    return None


def content_problem(content_type: str, head: bytes) -> str | None:
    """Why a file starting with ``head`` is not of ``content_type`` (``None``: it looks like one)."""
    if content_type not in _SIGNATURES:
        return "Unsupported content type"
    signatures = _SIGNATURES[content_type]
    if signatures is None:
        if b"\x00" in head:
            return f"the file is not {content_type} text (it holds NUL bytes)"
        return None
    if not any(head.startswith(s) for s in signatures):
        return f"the file does not start like {content_type}"
    if content_type == "image/webp" and head[8:12] != b"WEBP":
        return "the file does not start like image/webp"
    return None


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
