"""Per-key quotas and budgets on the producer's side: refuse before anything is enqueued.

The checks themselves run inside the create script (one round trip, atomic with the write:
two racing creates cannot both take the last slot; see ``shared.task_queue``); this module
says what each account's gate is, turns a refusal into the producer's error (429 for the
quotas, 402 for a spent budget), counts it, and reports what an account has left
(``GET /billing/account``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from shared.accounts import Controls, Limits
from shared.fleet_metrics import BUDGET_REFUSALS
from shared.spend import AccountGate, SpendStore, Spent

from .errors import BudgetExceededError, KeyQueueFullError, ProducerError, TooManyActiveTasksError


@dataclass(frozen=True)
class Usage:
    """What an account may still do: its limits, its spend and its tasks now."""

    limits: Limits
    spent: Spent
    active_tasks: int
    queued_tasks: int

    def remaining(self, budget: Decimal | None, spent: Decimal) -> Decimal | None:
        return None if budget is None else max(Decimal(0), budget - spent)

    @property
    def remaining_today(self) -> Decimal | None:
        return self.remaining(self.limits.daily_budget_usd, self.spent.today)

    @property
    def remaining_this_month(self) -> Decimal | None:
        return self.remaining(self.limits.monthly_budget_usd, self.spent.this_month)

    @property
    def remaining_now(self) -> Decimal | None:
        """What the account may still spend now: the smaller of what is left today and this month."""
        left = [r for r in (self.remaining_today, self.remaining_this_month) if r is not None]
        return min(left) if left else None


class Budgets:
    """The accounts' gates, refusals and usage; thread-safe."""

    def __init__(self, controls: Controls, spend: SpendStore, retry_after_s: int) -> None:
        self.controls = controls
        self.spend = spend
        self.retry_after_s = max(1, retry_after_s)

    def gate(self, account: str | None) -> AccountGate | None:
        """What the create script checks for ``account`` (None: nothing to check)."""
        if account is None:
            return None
        return AccountGate(account, self.controls.limits(account))

    def refused(self, account: str, reason: str) -> ProducerError:
        """The error for a batch the create script refused for ``reason`` (see ``shared.task_queue``)."""
        BUDGET_REFUSALS.labels(reason=reason).inc()
        limits = self.controls.limits(account)
        if reason in ("daily_budget", "monthly_budget"):
            return BudgetExceededError(self._over(account, limits))
        active, queued = self.spend.counts(account)
        if reason == "queued":
            return KeyQueueFullError(queued, limits.max_queued_tasks, self.retry_after_s)
        return TooManyActiveTasksError(active, limits.max_active_tasks, self.retry_after_s)

    def check_spendable(self, account: str | None) -> None:
        """Raise :class:`BudgetExceededError` when ``account``'s budget is spent (new sessions)."""
        if account is None:
            return
        limits = self.controls.limits(account)
        if limits.budgeted and self.spend.spent(account).over(limits):
            BUDGET_REFUSALS.labels(reason="session_budget").inc()
            raise BudgetExceededError(self._over(account, limits))

    def usage(self, account: str) -> Usage:
        active, queued = self.spend.counts(account)
        return Usage(self.controls.limits(account), self.spend.spent(account), active, queued)

    def _over(self, account: str, limits: Limits) -> str:
        return self.spend.spent(account).over(limits) or "the API key's LLM budget is spent"
