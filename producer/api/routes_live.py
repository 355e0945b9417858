"""The viewer: ``/live/{token}`` (a page), its event stream, step screenshots; public shares.

The token in the URL is the credential (see :mod:`shared.live_links`), so a browser opens the
page with no API key. The page reads ``/live/{token}/events`` (Server-Sent Events): the
task's record and steps, then, while it runs, what is pushed on Redis pub/sub (frames, steps,
status changes), fanned out by the process's :class:`~producer.api.live_hub.LiveHub`. A
revoked token's streams end at once; an expired one's within a heartbeat. A public share's
viewers see a trimmed record (:func:`~producer.api.live_hub.share_task`).
"""

from __future__ import annotations

import asyncio
import base64
from functools import lru_cache
from importlib import resources
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse
from starlette.background import BackgroundTask

from producer.client import Producer
from producer.live_views import ShareNotFoundError
from shared.live_links import Grant
from shared.models import ShareView

from .auth import CallerDep
from .deps import ProducerDep
from .error_responses import responses
from .live_hub import Caps, LiveHub, ViewerLimitError

router = APIRouter(prefix="/sessions", tags=["Sessions"], responses=responses(401))
public = APIRouter(include_in_schema=False)

# The page loads nothing from elsewhere; frames are data: URLs.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'")


# -- public shares (the v2 contract) -------------------------------------------------
@router.post("/{session_id}/public-share", status_code=201, summary="Create Session Public Share",
             responses=responses(404))
def create_public_share(
    session_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep
) -> ShareView:
    """Create, or return the existing, read-only viewer link of the session (it expires)."""
    return producer.live.create_share(session_id, owner=caller.owner, base=str(request.base_url))


@router.get("/{session_id}/public-share", summary="Get Session Public Share", responses=responses(404))
def get_public_share(
    session_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep
) -> ShareView:
    try:
        return producer.live.get_share(session_id, owner=caller.owner, base=str(request.base_url))
    except ShareNotFoundError as exc:
        raise HTTPException(404, str(exc)) from None


@router.delete("/{session_id}/public-share", status_code=204, summary="Delete Session Public Share",
               responses=responses(404))
def delete_public_share(session_id: UUID, caller: CallerDep, producer: ProducerDep) -> Response:
    """Revoke the link: it stops working at once, and open viewers close."""
    producer.live.delete_share(session_id, owner=caller.owner)
    return Response(status_code=204)


# -- the viewer ------------------------------------------------------------------
def _grant(producer: Producer, token: str) -> Grant:
    """What ``token`` grants, while the task or session it names still exists."""
    grant = producer.stores.live.resolve(token)
    if grant is None or not _exists(producer, grant):
        raise HTTPException(404, "This live link is unknown, expired or revoked")
    return grant


def _exists(producer: Producer, grant: Grant) -> bool:
    if grant.kind == "task":
        return producer.store.exists(grant.id)
    return producer.stores.sessions.load(grant.id) is not None


def _task_for(producer: Producer, grant: Grant, wanted: UUID | None) -> str | None:
    """The task a viewer with ``grant`` watches: ``wanted`` if the grant covers it; else its own."""
    refused = HTTPException(403, "This link does not grant access to that task")
    if grant.kind == "task":
        if wanted is not None and str(wanted) != grant.id:
            raise refused
        return grant.id
    if wanted is not None:
        record = producer.store.load(str(wanted))
        if record is None or str(record.session_id) != grant.id:
            raise refused
        return str(wanted)
    return _session_task(producer, grant.id)


def _session_task(producer: Producer, session_id: str) -> str | None:
    """The session's running task, else its latest; ``None`` while it has none."""
    record = producer.stores.sessions.load(session_id)
    if record is None:
        raise HTTPException(404, "Session not found")
    candidates = [record.running_task] if record.running_task else []
    candidates += producer.stores.sessions.task_ids(session_id)[-1:]
    for task_id in candidates:  # a task is claimed a moment before its record is written
        if producer.store.exists(task_id):
            return task_id
    return None


@public.get("/live/{token}", response_class=HTMLResponse)
def viewer(token: str, producer: ProducerDep) -> HTMLResponse:
    """The viewer page (it reads its token from its own URL)."""
    grant = _grant(producer, token)
    if grant.kind == "share":
        producer.stores.live.count_view(grant.id)
    headers = {
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Content-Security-Policy": CSP,
    }
    return HTMLResponse(_page(), headers=headers)


@lru_cache(maxsize=1)
def _page() -> str:
    return resources.files("producer.api").joinpath("viewer.html").read_text()


@public.get("/live/{token}/screenshots/{task_id}/{number}")
def screenshot(token: str, task_id: UUID, number: int, producer: ProducerDep) -> Response:
    """A recorded step's screenshot (vision tasks; taken only when no secret was on screen)."""
    found = _task_for(producer, _grant(producer, token), task_id)
    if found is None or not producer.store.exists(found):  # the record went: so do its screenshots
        raise HTTPException(404, "Task not found")
    raw = producer.store.step_screenshot(found, number)
    if not raw:
        raise HTTPException(404, "No screenshot for this step")
    data = base64.b64decode(str(raw).partition(",")[2])
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=3600"})


@public.get("/live/{token}/events")
async def events(
    token: str,
    request: Request,
    producer: ProducerDep,
    task: Annotated[UUID | None, Query()] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``hello``, ``task`` (the record), ``step``, ``frame``, ``sealed``,
    ``end``, ``closed``, ``revoked``, ``deleted``. Pushed by this process's live hub; 429 with
    ``Retry-After`` past a viewer cap."""
    grant = await asyncio.to_thread(_grant, producer, token)
    task_id = await asyncio.to_thread(_task_for, producer, grant, task)
    if task_id is not None:
        await asyncio.to_thread(producer.get_status, task_id)  # a deleted task: 404 now, not a broken stream
    hub = _hub(request, producer)
    client = request.client.host if request.client else "unknown"
    try:
        viewer = hub.admit(token, grant, client)
    except ViewerLimitError as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(hub.caps.retry_after_s)}) from None
    follow = task is None and grant.kind != "task"
    return StreamingResponse(
        hub.stream(viewer, task_id, follow_session=follow),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        background=BackgroundTask(hub.release, viewer),  # also when the client left before the stream began
    )


def _hub(request: Request, producer: Producer) -> LiveHub:
    """The app's live hub, made on the first viewer (on the app's event loop)."""
    hub: LiveHub | None = getattr(request.app.state, "live_hub", None)
    if hub is None:
        settings = producer.settings
        caps = Caps(settings.live_max_viewers, settings.live_max_viewers_per_link,
                    settings.live_max_viewers_per_client, settings.retry_after_s)
        feed = request.app.state.loop_stores.live_feed()
        hub = request.app.state.live_hub = LiveHub(producer, feed, caps, _session_task)
    return hub
