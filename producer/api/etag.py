"""Conditional GETs for polled views: an ``ETag`` on every answer, ``304`` when it still matches.

A client polling a task (``If-None-Match`` with the last ``ETag``) gets an empty 304 until
something it would see has changed. The tag is a hash of the exact JSON body, so it
changes exactly when the body does, and the body is encoded once, here, instead of by
FastAPI's response validation (the same JSON: camelCase, compact).
"""

from __future__ import annotations

import hashlib
from typing import Any

from fastapi import Request, Response
from pydantic import BaseModel

NOT_MODIFIED: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified since the ETag given in If-None-Match"},
}


def conditional_json(request: Request, view: BaseModel) -> Response:
    """``view`` as JSON with its ETag, or a bodiless 304 when the client already has it."""
    body = view.model_dump_json(by_alias=True).encode()
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    headers = {"ETag": tag, "Cache-Control": "no-cache"}
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def _matches(header: str | None, tag: str) -> bool:
    """RFC 9110 weak comparison of ``If-None-Match`` (a list of tags, or ``*``) with ``tag``."""
    if not header:
        return False
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == tag:
            return True
    return False
