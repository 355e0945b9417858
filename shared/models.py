"""The wire contract (Browser Use Cloud v2) as pydantic models.

camelCase on the wire, snake_case in Python; both are accepted on input.
Field limits and defaults follow ``browser-use-cloud-v2.openapi.json``.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic.alias_generators import to_camel

from shared.domains import parse_pattern
from shared.output_schema import SchemaError, load_output_schema
from shared.urls import parse_url, with_scheme

_ISO_COUNTRY = r"^[a-z]{2}$"
# Secrets: bounded so that masking every text a task produces stays cheap, and long enough
# that masking can find them (a 3-character PIN is in ordinary text: it is refused, not typed).
MAX_SECRETS = 50
MAX_SECRET_CHARS = 1024
MIN_SECRET_CHARS = 4
MAX_SECRET_NAME_CHARS = 64


class WireModel(BaseModel):
    """Base of every wire model: camelCase aliases, snake_case accepted too."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        """The JSON-ready wire form (camelCase keys)."""
        return self.model_dump(mode="json", by_alias=True)


def _one_vision_error(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """One readable error for ``vision`` instead of one per union member."""
    try:
        return handler(value)
    except ValidationError:
        raise ValueError('must be true, false or "auto"') from None


class TaskStatus(StrEnum):
    created = "created"
    started = "started"
    finished = "finished"
    failed = "failed"
    stopped = "stopped"

    @property
    def terminal(self) -> bool:
        return self in {TaskStatus.finished, TaskStatus.failed, TaskStatus.stopped}


class ThinkingLevel(StrEnum):
    disabled = "disabled"
    low = "low"
    medium = "medium"
    high = "high"


class SessionSettings(WireModel):
    model_config = ConfigDict(extra="forbid")

    profile_id: UUID | None = None
    proxy_country_code: Annotated[str, Field(pattern=_ISO_COUNTRY)] | None = "us"
    browser_screen_width: Annotated[int, Field(ge=320, le=6144)] | None = None
    browser_screen_height: Annotated[int, Field(ge=320, le=3456)] | None = None
    enable_recording: bool = False


class CreateTaskRequest(WireModel):
    """The create-task body: every field of the v2 API, each validated."""

    model_config = ConfigDict(extra="forbid")

    task: Annotated[str, Field(min_length=1, max_length=50000)]
    llm: str = "browser-use-2.0"
    start_url: str | None = None
    max_steps: Annotated[int, Field(ge=1, le=10000)] = 100
    structured_output: str | None = None
    session_id: UUID | None = None
    metadata: dict[str, str] | None = None
    secrets: dict[str, str] | None = None
    allowed_domains: list[str] | None = None
    op_vault_id: str | None = None
    session_settings: SessionSettings | None = None
    highlight_elements: bool = False
    flash_mode: bool = False
    thinking: bool = False
    thinking_level: ThinkingLevel | None = None
    vision: Annotated[bool | Literal["auto"], WrapValidator(_one_vision_error)] = True
    system_prompt_extension: Annotated[str, Field(max_length=10000)] = ""
    judge: bool = False
    judge_ground_truth: Annotated[str, Field(max_length=10000)] | None = None
    judge_llm: str | None = None
    skill_ids: list[str] | None = None

    @field_validator("start_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        value = value.strip()
        if not value:
            return None
        value = with_scheme(value)
        parsed = parse_url(value)  # as the browser will read it, not as urlsplit would
        if parsed is None or not parsed.web:
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("structured_output")
    @classmethod
    def _schema(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            load_output_schema(value)  # bounded: size, depth, references, RE2 patterns
        except SchemaError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("metadata")
    @classmethod
    def _metadata(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > 10:
            raise ValueError(f"at most 10 key-value pairs, got {len(value)}")
        return value

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and len(value) > MAX_SECRETS:
            raise ValueError(f"at most {MAX_SECRETS} secrets, got {len(value)}")
        problems = []
        for name, secret in (value or {}).items():
            shown = repr(name[:MAX_SECRET_NAME_CHARS])
            if not name or not name.replace("_", "").replace("-", "").isascii() or not (
                name.replace("_", "").replace("-", "").isalnum()
            ):
                problems.append(f"secret name {shown} must be letters, digits, '_' or '-'")
            elif len(name) > MAX_SECRET_NAME_CHARS:
                problems.append(f"secret name {shown}... is longer than {MAX_SECRET_NAME_CHARS} characters")
            elif len(secret) < MIN_SECRET_CHARS:
                problems.append(
                    f"secret {shown} is shorter than {MIN_SECRET_CHARS} characters: too short to be "
                    "kept out of page text and the model's view, so it is refused"
                )
            elif len(secret) > MAX_SECRET_CHARS:
                problems.append(f"secret {shown} is longer than {MAX_SECRET_CHARS} characters")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("allowed_domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        errors = []
        for raw in value or []:
            try:
                parse_pattern(raw)
            except ValueError as exc:
                errors.append(str(exc))
        if errors:
            raise ValueError("; ".join(errors))
        return value

    @field_validator("skill_ids")
    @classmethod
    def _skills(cls, value: list[str] | None) -> list[str] | None:
        if value and any(not s.strip() for s in value):
            raise ValueError("skill ids must be non-empty strings")
        return value

    def output_schema(self) -> dict[str, Any] | None:
        """The parsed ``structuredOutput`` schema, if any."""
        return json.loads(self.structured_output) if self.structured_output else None


COST_SIGNIFICANT_DIGITS = 6


def format_cost(value: Decimal | None) -> str:
    """Dollars as a plain decimal string of 6 significant digits: ``0.0049504``, never
    ``0.0049504000000000002`` (float sums of token prices) nor ``4.9504E-3``."""
    if not value:
        return "0"
    with localcontext() as ctx:
        ctx.prec = COST_SIGNIFICANT_DIGITS
        rounded = +value
    return format(rounded.normalize(), "f")


Cost = Annotated[Decimal, PlainSerializer(format_cost, return_type=str)]


class TaskCreated(WireModel):
    id: UUID
    session_id: UUID


class TaskStepView(WireModel):
    number: int
    memory: str
    evaluation_previous_goal: str
    next_goal: str
    url: str
    screenshot_url: str | None = None
    actions: list[str]
    duration: float | None = None
    # Our own fields (the spec allows extra):
    results: list[str] = Field(default_factory=list)
    input_tokens: int | None = None
    output_tokens: int | None = None


class FileView(WireModel):
    id: UUID
    file_name: str


class _TaskBase(WireModel):
    id: UUID
    session_id: UUID
    llm: str
    task: str
    status: TaskStatus
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    output: str | None = None
    browser_use_version: str | None = None
    is_success: bool | None = None
    judgement: str | None = None
    judge_verdict: bool | None = None
    cost: Cost | None = None
    suggestions: list[dict[str, Any]] | None = None


class TaskItemView(_TaskBase):
    pass


class TaskView(_TaskBase):
    steps: list[TaskStepView] = Field(default_factory=list)
    output_files: list[FileView] = Field(default_factory=list)
    # Our own: why a task failed or stopped, readable.
    error: str | None = None
    # Our own: the viewer page (live while running, a replay once finished); set by the HTTP API.
    live_url: str | None = None
    # Our own: the country whose upstream proxy the task's browser used (None: no upstream proxy).
    proxy_country_code: str | None = None


class TaskStatusView(WireModel):
    id: UUID
    status: TaskStatus
    output: str | None = None
    finished_at: datetime | None = None
    is_success: bool | None = None
    cost: Cost | None = None


class TaskListResponse(WireModel):
    items: list[TaskItemView]
    total_items: int
    page_number: int
    page_size: int


# -- sessions -----------------------------------------------------------------


class SessionStatus(StrEnum):
    active = "active"
    stopped = "stopped"


class CustomProxy(WireModel):
    """The caller's own upstream proxy (``customProxy``) for a session's or browser's traffic: it
    rests encrypted (:mod:`shared.custom_proxies`) and the worker's egress guard sends through it."""

    model_config = ConfigDict(extra="forbid")

    host: Annotated[str, Field(min_length=1, max_length=255)]
    port: Annotated[int, Field(ge=1, le=65535)]
    username: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    password: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    ignore_cert_errors: bool = False


class CreateSessionRequest(WireModel):
    """The create-session body of the v2 API."""

    model_config = ConfigDict(extra="forbid")

    profile_id: UUID | None = None
    proxy_country_code: Annotated[str, Field(pattern=_ISO_COUNTRY)] | None = "us"
    start_url: str | None = None
    browser_screen_width: Annotated[int, Field(ge=320, le=6144)] | None = None
    browser_screen_height: Annotated[int, Field(ge=320, le=3456)] | None = None
    persist_memory: bool = True
    keep_alive: bool = True
    custom_proxy: CustomProxy | None = None
    enable_recording: bool = False

    @field_validator("start_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return CreateTaskRequest._url(value)


class SessionItemView(WireModel):
    id: UUID
    status: SessionStatus
    live_url: str | None = None
    recording_url: str | None = None
    started_at: datetime
    finished_at: datetime | None = None
    persist_memory: bool
    keep_alive: bool
    proxy_used_mb: str = "0"
    proxy_cost: str = "0"


class SessionView(SessionItemView):
    tasks: list[TaskItemView]
    public_share_url: str | None = None


class SessionListResponse(WireModel):
    items: list[SessionItemView]
    total_items: int
    page_number: int
    page_size: int


class ShareView(WireModel):
    """A session's public share (v2 contract): a read-only viewer link with its usage."""

    share_token: str
    share_url: str
    view_count: int
    last_viewed_at: datetime | None = None
    # Our own: when the link stops working.
    expires_at: datetime | None = None
# -- profiles -----------------------------------------------------------------


class ProfileCreateRequest(WireModel):
    """A new profile: a browser storage state (cookies, localStorage) that sessions start from."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(max_length=100)] | None = None
    user_id: Annotated[str, Field(max_length=255)] | None = None


class ProfileUpdateRequest(ProfileCreateRequest):
    """Rename a profile or re-tag its user (fields left out keep their value)."""


class ProfileView(WireModel):
    id: UUID
    user_id: str | None = None
    name: str | None = None
    last_used_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    cookie_domains: list[str] | None = None


class ProfileListResponse(WireModel):
    items: list[ProfileView]
    total_items: int
    page_number: int
    page_size: int
