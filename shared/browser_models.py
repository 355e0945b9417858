"""The wire contract of browser sessions (``/browsers``) and uploads (v2), as pydantic models.

Kept apart from :mod:`shared.models` (tasks, sessions, profiles): a browser session is a
Chromium the caller drives itself over CDP, with no agent.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import ConfigDict, Field, field_validator

from shared.models import CreateTaskRequest, CustomProxy, WireModel

MAX_TIMEOUT_MIN = 240  # the contract's 4 hours; more is a 403
UPLOAD_MAX_BYTES = 10 * 1024 * 1024  # the contract's sizeBytes maximum
UPLOAD_CONTENT_TYPES = (
    "image/jpg",
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "image/svg+xml",
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "text/plain",
    "text/csv",
    "text/markdown",
)


class BrowserSessionStatus(StrEnum):
    active = "active"
    stopped = "stopped"


class CreateBrowserSessionRequest(WireModel):
    """The create-browser body of the v2 API (``timeout`` in minutes; over 240 is a 403, not a 422)."""

    model_config = ConfigDict(extra="forbid")

    profile_id: UUID | None = None
    proxy_country_code: Annotated[str, Field(pattern=r"^[a-z]{2}$")] | None = "us"
    timeout: Annotated[int, Field(ge=1)] = 60
    browser_screen_width: Annotated[int, Field(ge=320, le=6144)] | None = None
    browser_screen_height: Annotated[int, Field(ge=320, le=3456)] | None = None
    allow_resizing: bool = False
    custom_proxy: CustomProxy | None = None
    enable_recording: bool = False
    metadata: dict[str, str] | None = None  # the SDK sends it; stored, not shown

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        return CreateTaskRequest._metadata(value)  # the same rule as a task's


class BrowserSessionItemView(WireModel):
    id: UUID
    status: BrowserSessionStatus
    live_url: str | None = None
    cdp_url: str | None = None
    timeout_at: datetime
    started_at: datetime
    finished_at: datetime | None = None
    proxy_used_mb: str = "0"
    proxy_cost: str = "0"
    browser_cost: str = "0"
    agent_session_id: UUID | None = None
    recording_url: str | None = None
    # Our own: why the browser stopped before it was asked to (worker lost, proxy refused, ...).
    error: str | None = None
    # Our own: the country whose proxy the browser uses (None: no upstream proxy, or a custom one).
    proxy_country_code: str | None = None


class BrowserSessionView(BrowserSessionItemView):
    pass


class BrowserSessionListResponse(WireModel):
    items: list[BrowserSessionItemView]
    total_items: int
    page_number: int
    page_size: int


class BrowserSessionUpdateAction(StrEnum):
    stop = "stop"


class UpdateBrowserSessionRequest(WireModel):
    model_config = ConfigDict(extra="forbid")

    action: BrowserSessionUpdateAction


class BrowserDownloadFile(WireModel):
    path: str
    size: int
    last_modified: datetime
    url: str | None = None


class BrowserDownloadListResponse(WireModel):
    files: list[BrowserDownloadFile]
    next_cursor: str | None = None
    has_more: bool = False


class UploadFileRequest(WireModel):
    """A file to upload into a session (agent or browser): checked again while it streams."""

    model_config = ConfigDict(extra="forbid")

    file_name: Annotated[str, Field(min_length=1, max_length=255)]
    content_type: Annotated[
        str, Field(min_length=1, max_length=255)
    ]  # unsupported: a 400, as the contract says
    size_bytes: Annotated[int, Field(ge=1, le=UPLOAD_MAX_BYTES)]


class UploadFilePresignedUrlResponse(WireModel):
    url: str
    method: Literal["POST"] = "POST"
    fields: dict[str, str] = Field(default_factory=dict)
    file_name: str
    expires_in: int
