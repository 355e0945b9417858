"""Output files and the presigned downloads behind task logs and files (:mod:`.downloads`)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, HTTPException, Request, Response

from producer.errors import TaskNotFoundError

from . import downloads
from .auth import CallerDep
from .deps import ProducerDep
from .error_responses import detail, responses
from .schemas import ErrorDetail, TaskOutputFileResponse

router = APIRouter(tags=["Files"], responses=responses(401))
public = APIRouter(tags=["Files"])


@router.get(
    "/files/tasks/{task_id}/output-files/{file_id}",
    summary="Get Task Output File Presigned Url",
    responses=responses(404),
)
def get_output_file(
    task_id: UUID, file_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep
) -> TaskOutputFileResponse:
    """A short-lived download URL (served here) of one file the task produced."""
    view = producer.get_task(task_id, owner=caller.owner)
    match = next((f for f in view.output_files if f.id == file_id), None)
    if match is None:
        raise HTTPException(404, "Output file not found")
    target = {"kind": "output-file", "task_id": str(task_id), "file_id": str(file_id)}
    url = downloads.issue(request, producer, target)
    return TaskOutputFileResponse(id=match.id, file_name=match.file_name, download_url=url)


@public.get(
    downloads.PATH + "/{token}",
    summary="Download a log or output file",
    response_class=Response,
    responses={
        200: {"description": "The file", "content": {"application/octet-stream": {}, "text/plain": {}}},
        404: {"model": ErrorDetail, "description": "Unknown or expired download URL"},
    },
)
def download(token: str, producer: ProducerDep) -> Response:
    """What a presigned URL points at; the URL is the credential, so no API key is needed."""
    gone = detail(404, "Download URL unknown or expired")
    target = downloads.resolve(producer, token)
    if target is None:
        return gone
    if target["kind"] == "browser-download":
        return downloads.browser_file(producer, target) or gone
    if target["kind"] == "browser-recording":
        return downloads.browser_recording(producer, target) or gone
    if target["kind"] == "skill-output":
        return downloads.skill_output(producer, target) or gone
    try:
        view = producer.get_task(target["task_id"])
    except TaskNotFoundError:
        return gone
    if target["kind"] == "task-log":
        return Response(
            downloads.render_log(view),
            media_type="text/plain; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="task-{view.id}.log"'},
        )
    found = producer.store.output_file(str(view.id), target["file_id"])
    if found is None:
        return gone
    meta, data = found
    name = str(meta.get("fileName", "output")).replace('"', "")
    return Response(
        data,
        media_type=str(meta.get("contentType") or "application/octet-stream"),
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
