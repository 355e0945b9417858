"""Wire models only the HTTP layer uses (request actions, account, skills, errors, downloads).

The task and session models live in :mod:`shared.models`; these complete the v2
contract for the routes this server answers.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from shared.consumers import QueueHealth
from shared.models import WireModel


class ErrorDetail(BaseModel):
    """Every non-validation error: ``{"detail": "<message>"}``."""

    detail: str


class TaskUpdateAction(StrEnum):
    stop = "stop"
    stop_task_and_session = "stop_task_and_session"


class UpdateTaskRequest(WireModel):
    model_config = ConfigDict(extra="forbid")

    action: TaskUpdateAction


class SessionUpdateAction(StrEnum):
    stop = "stop"


class UpdateSessionRequest(WireModel):
    model_config = ConfigDict(extra="forbid")

    action: SessionUpdateAction


class TaskLogFileResponse(WireModel):
    download_url: str


class TaskOutputFileResponse(WireModel):
    id: UUID
    file_name: str
    download_url: str


class PlanInfo(WireModel):
    plan_name: str
    subscription_status: str | None = None
    subscription_id: str | None = None
    subscription_current_period_end: str | None = None
    subscription_canceled_at: str | None = None


class AccountView(WireModel):
    """A self-hosted account: the API key's budget and limits, its usage, the fleet's queue.

    The credit balances are what the key may still spend in USD (``totalCreditsBalanceUsd``: now,
    the smaller of what is left today and this month; ``monthlyCreditsBalanceUsd``: this month);
    ``0`` when it has no budget (then ``dailyBudgetUsd``/``monthlyBudgetUsd`` are null).
    """

    name: str | None = None
    total_credits_balance_usd: float = 0.0
    monthly_credits_balance_usd: float = 0.0
    additional_credits_balance_usd: float = 0.0
    rate_limit: int
    concurrent_session_limit: int
    active_session_count: int
    plan_info: PlanInfo
    is_free_tier: bool = False
    project_id: UUID
    api_key_id: UUID | None = None
    tracing_disabled: bool = True
    # Our own: the fleet's queue.
    queued_tasks: int
    max_queued_tasks: int
    # Our own: the key's budget (USD, null: none), spend (UTC day and month) and task limits (0: none).
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None
    spent_today_usd: float = 0.0
    spent_this_month_usd: float = 0.0
    max_task_cost_usd: float | None = None
    max_active_tasks: int = 0
    active_task_count: int = 0
    key_max_queued_tasks: int = 0
    key_queued_tasks: int = 0


class WebhookConfigView(WireModel):
    """The calling key's webhook (``source``: ``key``, ``fleet`` or null); the secret is never shown."""

    url: str | None
    secret_hint: str | None
    source: str | None


class WebhookDelivery(WireModel):
    """One delivery attempt of the key's delivery log."""

    delivery_id: str
    event: str
    task_id: str | None = None
    status: str | None = None
    attempt: int
    at: datetime
    result: str  # delivered, failed, expired, blocked, unconfigured
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None
    url: str | None = None
    next_attempt_at: datetime | None = None


class WebhookDeliveryList(WireModel):
    items: list[WebhookDelivery]


class WebhookTestQueued(WireModel):
    delivery_id: str


class ParameterType(StrEnum):
    string = "string"
    number = "number"
    boolean = "boolean"
    object = "object"
    array = "array"
    cookie = "cookie"


class ParameterSchema(WireModel):
    name: str
    type: ParameterType
    required: bool = True
    description: str | None = None
    default: Any = None


class SkillCategory(StrEnum):
    search = "search"
    e_commerce = "e_commerce"
    financial = "financial"
    news = "news"
    real_estate = "real_estate"
    social_media = "social_media"
    travel = "travel"
    marketplace = "marketplace"
    lead_generation = "lead_generation"
    seo = "seo"
    jobs = "jobs"
    developer = "developer"
    media = "media"
    automation = "automation"
    integration = "integration"
    other = "other"


class SkillResponse(WireModel):
    """A skill of the workers' registry; ``slug`` is the id that ``skillIds`` takes."""

    id: UUID
    slug: str | None = None
    title: str
    description: str
    categories: list[SkillCategory] = Field(default_factory=list)
    domains: list[str] = Field(default_factory=list)
    goal: str | None = None
    agent_prompt: str | None = None
    status: str = "finished"
    parameters: list[ParameterSchema] = Field(default_factory=list)
    output_schema: dict[str, Any] = Field(default_factory=dict)
    is_enabled: bool = True
    is_public: bool = False
    icon_url: str | None = None
    first_published_at: datetime | None = None
    last_published_at: datetime | None = None
    current_version: int | None = 1
    created_at: datetime
    updated_at: datetime


class SkillListResponse(WireModel):
    items: list[SkillResponse]
    total_items: int
    page_number: int
    page_size: int


class Health(BaseModel):
    status: str
    redis: bool
    queues: list[QueueHealth] = []
    warnings: list[str] = []
