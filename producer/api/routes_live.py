"""The viewer: ``/live/{token}`` (a page), its event stream, step screenshots; public shares.

The token in the URL is the credential (see :mod:`shared.live`), so a browser opens the
page with no API key. The page reads ``/live/{token}/events`` (Server-Sent Events): the
task's record and steps, then, while it runs, frames the worker publishes on Redis
pub/sub and new steps as they are recorded. While the stream is open it renews a
viewer heartbeat in Redis; the worker casts only while one is fresh. A revoked or
expired token ends its open streams at the next heartbeat.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, StreamingResponse

from producer.client import Producer
from producer.errors import TaskNotFoundError
from producer.live import ShareNotFoundError
from shared.live import Grant, LiveFeed, LiveLinks
from shared.models import SessionStatus, ShareView, TaskView

from .auth import CallerDep
from .deps import ProducerDep
from .errors import responses

router = APIRouter(prefix="/sessions", tags=["Sessions"], responses=responses(401))
public = APIRouter(include_in_schema=False)

# The page loads nothing from elsewhere; frames are data: URLs.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'")
POLL_S = 0.25  # how often a stream reads new steps and the status (two small Redis reads)


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
    producer: ProducerDep,
    task: Annotated[UUID | None, Query()] = None,
) -> StreamingResponse:
    """Server-Sent Events: ``task`` (the record), ``step``, ``frame``, ``sealed``, ``end``, ``revoked``."""
    grant = await asyncio.to_thread(_grant, producer, token)
    task_id = await asyncio.to_thread(_task_for, producer, grant, task)
    if task_id is not None:
        await asyncio.to_thread(producer.get_status, task_id)  # a deleted task: 404 now, not a broken stream
    stream = _Stream(producer, token, grant, task_id, follow_session=task is None and grant.kind != "task")
    return StreamingResponse(
        stream.run(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _sse(payload: dict[str, Any] | str) -> str:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n"


class _Revoked(Exception):
    pass


class _Stream:
    """One viewer's stream; follows the session's tasks one after another when it may."""

    def __init__(
        self, producer: Producer, token: str, grant: Grant, task_id: str | None, *, follow_session: bool
    ) -> None:
        self.producer = producer
        self.links: LiveLinks = producer.stores.live
        self.token = token
        self.grant = grant
        self.task_id = task_id
        self.follow_session = follow_session
        self.viewer = uuid.uuid4().hex
        self.heartbeat_s = max(0.2, producer.settings.live_heartbeat_s)
        self._next_beat = 0.0

    async def run(self) -> AsyncIterator[str]:
        feed = LiveFeed(self.producer.settings.redis_url)
        watched: str | None = None
        try:
            yield _sse({"type": "hello", "kind": self.grant.kind, "heartbeatS": self.heartbeat_s})
            if self.task_id is None:
                yield _sse({"type": "waiting"})
                self.task_id = await self._next_task(None)
            while self.task_id is not None:
                watched = self.task_id
                async for event in self._follow(feed, self.task_id):
                    yield event
                if not self.follow_session:
                    break
                self.task_id = await self._next_task(self.task_id)
            yield _sse({"type": "closed"})  # nothing more will come: the page stops reconnecting
        except _Revoked:
            yield _sse({"type": "revoked"})
        except (TaskNotFoundError, HTTPException):  # the task or session was deleted while watched
            yield _sse({"type": "deleted"})
        finally:
            if watched is not None:
                with contextlib.suppress(Exception):
                    self.links.leave(watched, self.viewer)
            with contextlib.suppress(Exception):
                await asyncio.shield(feed.close())

    async def _check_token(self) -> None:
        if await asyncio.to_thread(self.links.resolve, self.token) is None:
            raise _Revoked

    async def _next_task(self, after: str | None) -> str | None:
        """Wait for the session's next task (running or latest, not ``after``); ``None``: it stopped."""
        while True:
            await self._check_token()
            found = await asyncio.to_thread(_session_task, self.producer, self.grant.id)
            if found is not None and found != after:
                return found
            session = await asyncio.to_thread(self.producer.stores.sessions.load, self.grant.id)
            if session is None or session.status != SessionStatus.active:
                return None
            await asyncio.sleep(self.heartbeat_s)

    async def _beat(self, task_id: str, now: float) -> None:
        if now < self._next_beat:
            return
        self._next_beat = now + self.heartbeat_s
        await self._check_token()
        await asyncio.to_thread(self.links.beat, task_id, self.viewer, self.heartbeat_s * 3)

    async def _follow(self, feed: LiveFeed, task_id: str) -> AsyncIterator[str]:
        """The record, then frames and steps until the task ends."""
        loop = asyncio.get_running_loop()
        await feed.watch(task_id)
        try:
            view = await asyncio.to_thread(self.producer.get_task, task_id)
            seen = len(view.steps)
            yield _sse({"type": "task", "task": await asyncio.to_thread(self._snapshot, view)})
            if view.status.terminal:
                yield _sse({"type": "end", "status": view.status.value})
                return
            await self._beat(task_id, loop.time())
            last = await feed.last_frame(task_id)
            if last:
                yield _sse(last)
            status, next_poll = view.status, 0.0
            while True:
                frame = await feed.next_frame(POLL_S)
                if frame is not None and ('"type": "frame"' in frame[:40] or frame == '{"type": "sealed"}'):
                    yield _sse(frame)
                now = loop.time()
                await self._beat(task_id, now)
                if now < next_poll:
                    continue
                next_poll = now + POLL_S
                for step in await asyncio.to_thread(self.producer.store.steps, task_id, seen):
                    seen += 1
                    yield _sse({"type": "step", "step": step.wire(),
                                "screenshot": await feed.has_screenshot(task_id, step.number)})
                current = (await asyncio.to_thread(self.producer.get_status, task_id)).status
                if current != status:
                    status = current
                    view = await asyncio.to_thread(self.producer.get_task, task_id)
                    yield _sse({"type": "task", "task": await asyncio.to_thread(self._snapshot, view)})
                    if current.terminal:
                        yield _sse({"type": "end", "status": current.value})
                        return
        finally:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.links.leave, task_id, self.viewer)

    def _snapshot(self, view: TaskView) -> dict[str, Any]:
        """What the page shows: the record (secrets are already placeholders in it)."""
        data = view.wire()
        data["screenshotSteps"] = self.producer.store.step_screenshot_numbers(str(view.id))
        return data
