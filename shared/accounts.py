"""Accounts: one per API key, the unit that quotas, budgets, spend and webhooks belong to.

Every API key, full-access or scoped, is an account named ``key:<first 16 hex digits of the
key's SHA-256>`` (a scoped key's owner has the same name, so for tenants "account" and
"owner" coincide). Operators configure keys as raw keys or ``sha256:<hex>`` digests; only
the digest is needed here, so workers (which check budgets and deliver webhooks) never
need the keys themselves. Tasks created without a key (the Python producer) have no
account: the per-task cost cap and the fleet's default webhook still apply, per-key quotas
and budgets do not.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property

from shared.settings import Settings

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
FLEET = "fleet"  # the name of "no account" in delivery logs and metrics


class KeyEntryError(ValueError):
    """A configured key entry is unusable (a malformed ``sha256:`` digest)."""


def key_digest(entry: str) -> str:
    """The SHA-256 hex digest of a configured key (raw, or already ``sha256:<hex>``)."""
    if entry.startswith("sha256:"):
        value = entry.removeprefix("sha256:").strip().lower()
        if not _HEX64.match(value):
            raise KeyEntryError("an API key entry 'sha256:...' must hold 64 hex digits")
        return value
    return hashlib.sha256(entry.encode()).hexdigest()


def account_of_digest(hexdigest: str) -> str:
    return f"key:{hexdigest[:16]}"


def account_of(entry: str) -> str:
    """The account of a configured key entry (raw key or ``sha256:<hex>``)."""
    return account_of_digest(key_digest(entry))


@dataclass(frozen=True)
class Limits:
    """What applies to one account (``0``: no limit; ``None``: no budget or cap)."""

    max_active_tasks: int = 0
    max_queued_tasks: int = 0
    max_active_sessions: int = 0
    daily_budget_usd: Decimal | None = None
    monthly_budget_usd: Decimal | None = None
    max_task_cost_usd: Decimal | None = None

    @property
    def budgeted(self) -> bool:
        return self.daily_budget_usd is not None or self.monthly_budget_usd is not None

    def for_record(self) -> dict[str, str] | None:
        """What a running task must respect (its cap, its key's budgets), as kept on its record:
        the producer decides at creation, so workers need no per-key settings."""
        found = {name: str(value) for name, value in (
            ("max_task_cost_usd", self.max_task_cost_usd), ("daily_budget_usd", self.daily_budget_usd),
            ("monthly_budget_usd", self.monthly_budget_usd)) if value is not None}
        return found or None

    @classmethod
    def from_record(cls, stored: dict[str, str] | None) -> Limits:
        """The limits :meth:`for_record` kept (none: no cap, no budget)."""
        stored = stored or {}

        def money(name: str) -> Decimal | None:
            return Decimal(stored[name]) if stored.get(name) is not None else None

        return cls(max_task_cost_usd=money("max_task_cost_usd"), daily_budget_usd=money("daily_budget_usd"),
                   monthly_budget_usd=money("monthly_budget_usd"))


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where an account's events go, and the secret they are signed with."""

    url: str
    secret: str

    @property
    def secret_hint(self) -> str:
        """Enough to recognise the secret, never enough to use it: its length and last 4 characters."""
        tail = self.secret[-4:] if len(self.secret) >= 16 else ""
        return f"…{tail} ({len(self.secret)} characters)"


class Controls:
    """The fleet controls of these settings, resolved per account (built once per process)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def _limits(self) -> dict[str, Limits]:
        s = self.settings
        out = {}
        for entry, over in s.api_key_limits.items():
            given = over.model_fields_set
            out[account_of(entry)] = Limits(
                max_active_tasks=_pick(over.max_active_tasks, s.key_max_active_tasks),
                max_queued_tasks=_pick(over.max_queued_tasks, s.key_max_queued_tasks),
                max_active_sessions=_pick(over.max_active_sessions, s.max_active_sessions),
                daily_budget_usd=(over.daily_budget_usd if "daily_budget_usd" in given
                                  else s.key_daily_budget_usd),
                monthly_budget_usd=(over.monthly_budget_usd if "monthly_budget_usd" in given
                                    else s.key_monthly_budget_usd),
                max_task_cost_usd=(over.max_task_cost_usd if "max_task_cost_usd" in given
                                   else s.max_task_cost_usd),
            )
        return out

    def limits(self, account: str | None) -> Limits:
        """The account's limits: its overrides over the per-key defaults (no account: only the
        fleet's per-task cap and session limit)."""
        s = self.settings
        if account is None:
            return Limits(max_active_sessions=s.max_active_sessions, max_task_cost_usd=s.max_task_cost_usd)
        found = self._limits.get(account)
        if found is not None:
            return found
        return Limits(
            max_active_tasks=s.key_max_active_tasks,
            max_queued_tasks=s.key_max_queued_tasks,
            max_active_sessions=s.max_active_sessions,
            daily_budget_usd=s.key_daily_budget_usd,
            monthly_budget_usd=s.key_monthly_budget_usd,
            max_task_cost_usd=s.max_task_cost_usd,
        )

    @cached_property
    def _webhooks(self) -> dict[str, WebhookEndpoint | None]:
        fleet_secret = self.settings.webhook_secret_value
        out: dict[str, WebhookEndpoint | None] = {}
        for entry, hook in self.settings.key_webhooks.items():
            secret = hook.secret.get_secret_value() if hook.secret is not None else fleet_secret
            out[account_of(entry)] = WebhookEndpoint(hook.url, secret) if hook.url else None
        return out

    def webhook(self, account: str | None) -> WebhookEndpoint | None:
        """Where the account's events go: its own webhook, else the fleet default, else nowhere."""
        if account is not None and account in self._webhooks:
            return self._webhooks[account]
        url = self.settings.webhook_url
        return WebhookEndpoint(url, self.settings.webhook_secret_value) if url else None

    def webhook_source(self, account: str | None) -> str | None:
        """``"key"``, ``"fleet"`` or ``None``: where :meth:`webhook`'s answer comes from."""
        if account is not None and account in self._webhooks:
            return "key" if self._webhooks[account] else None
        return "fleet" if self.settings.webhook_url else None


def _pick(override: int | None, default: int) -> int:
    return default if override is None else override
