"""Presigned uploads into agent and browser sessions, and the URL they point at (:mod:`producer.uploads`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from uuid import UUID

from fastapi import APIRouter, Request, Response

from shared.browser_models import UploadFilePresignedUrlResponse, UploadFileRequest

from .auth import CallerDep
from .deps import ProducerDep
from .error_responses import detail, responses
from .multipart import Chunk, MultipartError, Part, boundary_of, parts

PATH = "/api/v2/uploads"
FILE_FIELD = "file"
MAX_FIELDS_BYTES = 64 * 1024

router = APIRouter(tags=["Files"], responses=responses(401))
public = APIRouter(include_in_schema=False)


def _presign(
    scope: str,
    session_id: UUID,
    body: UploadFileRequest,
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
) -> UploadFilePresignedUrlResponse:
    token = producer.uploads.presign(scope, session_id, body, owner=caller.owner)
    base = producer.settings.public_url or str(request.base_url)
    return UploadFilePresignedUrlResponse(
        url=f"{base.rstrip('/')}{PATH}/{token}",
        fields={"Content-Type": body.content_type},
        file_name=body.file_name,
        expires_in=producer.settings.upload_url_ttl_s,
    )


@router.post(
    "/files/sessions/{session_id}/presigned-url",
    summary="Agent Session Upload File Presigned Url",
    responses=responses(400, 404),
)
def session_upload_url(
    session_id: UUID, body: UploadFileRequest, request: Request, caller: CallerDep, producer: ProducerDep
) -> UploadFilePresignedUrlResponse:
    """A single-use URL (POST the file: raw, or as the ``file`` field of a form) for the session's tasks."""
    return _presign("session", session_id, body, request, caller, producer)


@router.post(
    "/files/browsers/{session_id}/presigned-url",
    summary="Browser Session Upload File Presigned Url",
    responses=responses(400, 404),
)
def browser_upload_url(
    session_id: UUID, body: UploadFileRequest, request: Request, caller: CallerDep, producer: ProducerDep
) -> UploadFilePresignedUrlResponse:
    """A single-use URL for a file the browser session's CDP clients hand to file inputs by name."""
    return _presign("browser", session_id, body, request, caller, producer)


@public.post(PATH + "/{token}", status_code=204)
async def upload(token: str, request: Request, producer: ProducerDep) -> Response:
    """The presigned URL (the token is the credential): the body is the file, sent with its declared
    ``Content-Type``, or an S3-style ``multipart/form-data`` form whose ``file`` part is."""
    content_type = request.headers.get("content-type", "")
    body: AsyncIterator[bytes] = request.stream()
    try:
        if content_type.lower().startswith("multipart/form-data"):
            content_type, body = await _form_file(parts(body, boundary_of(content_type)))
        await producer.uploads.receive(token, content_type, body)
    except MultipartError as exc:
        return detail(400, f"the form cannot be read: {exc}")
    return Response(status_code=204)


async def _form_file(items: AsyncIterator[Part | Chunk]) -> tuple[str, AsyncIterator[bytes]]:
    """The file part's type and bytes. Fields before it are read (64 kB at most); a
    ``Content-Type`` field, as S3 forms carry, says the type, else the part's own header does."""
    fields: dict[str, bytearray] = {}
    current: Part | None = None
    async for item in items:
        if isinstance(item, Part):
            current = item
            if item.name == FILE_FIELD:
                declared = fields.get("Content-Type") or fields.get("content-type")
                return (declared.decode("latin-1") if declared else item.content_type), _file_bytes(items)
            fields[item.name] = bytearray()
            continue
        assert current is not None
        fields[current.name] += item.data
        if sum(len(v) for v in fields.values()) > MAX_FIELDS_BYTES:
            raise MultipartError("form fields over 64 kB")
    raise MultipartError(f"no {FILE_FIELD!r} part in the form")


async def _file_bytes(items: AsyncIterator[Part | Chunk]) -> AsyncIterator[bytes]:
    async for item in items:
        if isinstance(item, Part):
            return
        if item.data:
            yield item.data
        if item.end:
            return
