"""The shapes of the fleet-control settings (per-key limits, per-key webhooks, LLM rate limits).

Pure pydantic models, read by :mod:`shared.settings` from JSON environment values and by
:mod:`shared.accounts` when it resolves what applies to one API key. Money is ``Decimal``
dollars (litellm's prices are fractions of a cent; floats would drift).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel

from shared.urls import has_credentials, parse_url

Dollars = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=9)]


class _Config(BaseModel):
    """camelCase or snake_case keys; anything else is an error naming the key."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class KeyLimits(_Config):
    """One API key's overrides of the fleet defaults (a field left out keeps the default).

    ``0`` means "no limit" for the counts; a budget of ``null`` means "no budget".
    """

    max_active_tasks: Annotated[int, Field(ge=0)] | None = None
    max_queued_tasks: Annotated[int, Field(ge=0)] | None = None
    max_active_sessions: Annotated[int, Field(ge=0)] | None = None
    daily_budget_usd: Dollars | None = None
    monthly_budget_usd: Dollars | None = None
    max_task_cost_usd: Dollars | None = None


class KeyWebhook(_Config):
    """One API key's webhook: its URL (``null``: none, even with a fleet default) and signing
    secret (left out: the fleet's ``BROWSERFLEET_WEBHOOK_SECRET``)."""

    url: str | None
    secret: SecretStr | None = None

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return check_webhook_url(value) if value is not None else None


class LlmLimit(_Config):
    """Requests and tokens per minute (per window, see ``llm_limit_window_s``); ``null``: unlimited."""

    rpm: Annotated[int, Field(ge=1)] | None = None
    tpm: Annotated[int, Field(ge=1)] | None = None


def check_webhook_url(value: str) -> str:
    """An absolute http(s) URL without credentials, as the browser parses it (else ``ValueError``)."""
    parsed = parse_url(value.strip())
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError("a webhook URL must be an absolute http(s) URL")
    if has_credentials(parsed.href):
        raise ValueError("a webhook URL must not hold credentials (sign with the secret instead)")
    return parsed.href
