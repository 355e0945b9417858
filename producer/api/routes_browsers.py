"""``/browsers``: browser sessions a caller drives over CDP (create, list, read, stop, downloads)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, HTTPException, Query, Request

from shared.browser_models import (
    BrowserDownloadFile,
    BrowserDownloadListResponse,
    BrowserSessionItemView,
    BrowserSessionListResponse,
    BrowserSessionStatus,
    BrowserSessionView,
    CreateBrowserSessionRequest,
    UpdateBrowserSessionRequest,
)
from shared.browser_store import BrowserRecord

from . import downloads
from .auth import CallerDep
from .browser_live import live_url
from .cdp_proxy import cdp_url
from .deps import ProducerDep
from .error_responses import responses

router = APIRouter(prefix="/browsers", tags=["Browsers"], responses=responses(401))


def _view(request: Request, record: BrowserRecord) -> BrowserSessionView:
    view = BrowserSessionView.model_validate(record.item().model_dump())
    if record.status == BrowserSessionStatus.active:
        view.cdp_url = cdp_url(request, record.cdp_token)
        view.live_url = live_url(request, record.live_token) if record.live_token else None
    return view


@router.post("", status_code=201, summary="Create Browser Session", responses=responses(403, 404, 429, 503))
def create_browser(
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
    body: Annotated[CreateBrowserSessionRequest | None, Body()] = None,
) -> BrowserSessionItemView:
    """A Chromium of the fleet for ``timeout`` minutes (at most 240), driven through ``cdpUrl``."""
    record = producer.browsers.create(body, owner=caller.owner)
    return BrowserSessionItemView.model_validate(_view(request, record).model_dump())


@router.get("", summary="List Browser Sessions")
def list_browsers(
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
    page_size: Annotated[int, Query(alias="pageSize", ge=1, le=100)] = 10,
    page_number: Annotated[int, Query(alias="pageNumber", ge=1)] = 1,
    filter_by: Annotated[BrowserSessionStatus | None, Query(alias="filterBy")] = None,
) -> BrowserSessionListResponse:
    records, total = producer.browsers.list(page_size, page_number, filter_by, owner=caller.owner)
    items = [BrowserSessionItemView.model_validate(_view(request, r).model_dump()) for r in records]
    return BrowserSessionListResponse(
        items=items, total_items=total, page_number=page_number, page_size=page_size
    )


@router.get("/{session_id}", summary="Get Browser Session", responses=responses(404))
def get_browser(
    session_id: UUID, request: Request, caller: CallerDep, producer: ProducerDep
) -> BrowserSessionView:
    """The session; once it ended with a recording, ``recordingUrl`` is a short-lived download URL."""
    record = producer.browsers.get(session_id, owner=caller.owner)
    view = _view(request, record)
    if record.status == BrowserSessionStatus.stopped and producer.stores.browsers.has_recording(
        str(record.id)
    ):
        target = {"kind": "browser-recording", "browser_id": str(record.id)}
        view.recording_url = downloads.issue(request, producer, target)
    return view


@router.patch("/{session_id}", summary="Update Browser Session", responses=responses(404))
def update_browser(
    session_id: UUID,
    body: UpdateBrowserSessionRequest,
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
) -> BrowserSessionView:
    """``stop``: for good; its CDP connections close and its browser is torn down within a second."""
    return _view(request, producer.browsers.stop(session_id, owner=caller.owner))


@router.get("/{session_id}/downloads", summary="List Browser Session Downloads", responses=responses(404))
def list_downloads(
    session_id: UUID,
    request: Request,
    caller: CallerDep,
    producer: ProducerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
    include_urls: Annotated[bool, Query(alias="includeUrls")] = False,
) -> BrowserDownloadListResponse:
    """Files the browser downloaded (kept as they complete); ``includeUrls`` adds download URLs."""
    metas = producer.browsers.downloads(session_id, owner=caller.owner)
    start = 0
    if cursor:
        names = [m["path"] for m in metas]
        if cursor not in names:
            raise HTTPException(400, "Unknown cursor")
        start = names.index(cursor) + 1
    page = metas[start : start + limit]
    files = []
    for meta in page:
        url = None
        if include_urls:
            target = {"kind": "browser-download", "browser_id": str(session_id), "name": meta["path"]}
            url = downloads.issue(request, producer, target)
        files.append(
            BrowserDownloadFile(
                path=meta["path"],
                size=meta["size"],
                last_modified=datetime.fromtimestamp(meta["lastModified"], UTC),
                url=url,
            )
        )
    more = start + limit < len(metas)
    return BrowserDownloadListResponse(
        files=files, has_more=more, next_cursor=page[-1]["path"] if more else None
    )
