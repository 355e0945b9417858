"""Uploads into sessions (``producer.uploads``): presigned URLs served by browserfleet itself.

``presign`` checks the declared file (a plain name, an accepted type, at most 10 MB) and that
the session (agent or browser) is the caller's and active, and issues a grant valid
``upload_url_ttl_s`` seconds for one upload. ``receive`` consumes the grant first (a URL
works once, even if the upload then fails) and reads the body as it streams: more bytes
than declared, a start that does not look like the declared type, or a form part of
another type ends the upload at once with nothing kept. The file is kept with its session
by its declared name; the session's next tasks (the agent's ``upload_file`` action) and
the browser session's CDP relay (``DOM.setFileInputFiles``) use it by that name.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from shared.browser_models import BrowserSessionStatus, UploadFileRequest
from shared.models import SessionStatus
from shared.settings import Settings
from shared.stores import Stores
from shared.upload_store import SNIFF_BYTES, content_problem, name_problem

from .browsers import Browsers
from .errors import SessionNotFoundError, SessionStoppedError, UploadError
from .sessions import Sessions


class Uploads:
    """Grants and the streaming receipt of uploads."""

    def __init__(self, settings: Settings, stores: Stores, sessions: Sessions, browsers: Browsers) -> None:
        self.settings = settings
        self.store = stores.uploads
        self.sessions = sessions
        self.browsers = browsers

    def presign(
        self, scope: str, session_id: str | uuid.UUID, request: UploadFileRequest, *, owner: str | None = None
    ) -> str:
        """A single-use upload token for one declared file into the caller's active session."""
        problem = name_problem(request.file_name)
        if problem:
            raise UploadError(f"fileName: {problem}", 400)
        if content_problem(request.content_type, b"") == "Unsupported content type":
            raise UploadError("Unsupported content type", 400)
        sid = self._active(scope, session_id, owner)
        target = {
            "scope": scope,
            "id": sid,
            "fileName": request.file_name,
            "contentType": request.content_type,
            "sizeBytes": request.size_bytes,
        }
        return self.store.grant(target, self.settings.upload_url_ttl_s)

    def _active(self, scope: str, session_id: str | uuid.UUID, owner: str | None) -> str:
        if scope == "browser":
            record = self.browsers.get(session_id, owner=owner)
            if record.status != BrowserSessionStatus.active:
                raise SessionStoppedError()
            return str(record.id)
        session = self.sessions.record(session_id, owner)
        if session.status != SessionStatus.active:
            raise SessionStoppedError()
        return str(session.id)

    async def receive(self, token: str, content_type: str, body: AsyncIterator[bytes]) -> dict[str, Any]:
        """Read one upload, checked as it streams (the grant is used up first, whatever follows)."""
        grant = self.store.consume(token)
        if grant is None:
            raise UploadError("Upload URL unknown, expired or already used", 404)
        declared, limit = str(grant["contentType"]), int(grant["sizeBytes"])
        if content_type.split(";", 1)[0].strip().lower() != declared:
            raise UploadError(f"the upload is {content_type or 'untyped'}, not the declared {declared}", 415)
        data = bytearray()
        async for chunk in body:
            data.extend(chunk)
            if len(data) > limit:
                raise UploadError(f"the upload is larger than the declared {limit} bytes", 413)
            if len(data) - len(chunk) < SNIFF_BYTES <= len(data):
                self._sniff(declared, bytes(data[:SNIFF_BYTES]))
        if not data:
            raise UploadError("the upload is empty", 400)
        self._sniff(declared, bytes(data[:SNIFF_BYTES]))
        if grant["scope"] == "session" and self._gone(grant):
            raise SessionNotFoundError(grant["id"])
        self.store.keep(grant["scope"], grant["id"], grant["fileName"], declared, bytes(data))
        return {"fileName": grant["fileName"], "size": len(data), "contentType": declared}

    def _gone(self, grant: dict[str, Any]) -> bool:
        return self.sessions.store.load(grant["id"]) is None

    @staticmethod
    def _sniff(declared: str, head: bytes) -> None:
        problem = content_problem(declared, head)
        if problem:
            raise UploadError(problem, 415)
