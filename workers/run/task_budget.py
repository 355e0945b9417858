"""A running task's cost against its cap and its API key's budget (``shared.accounts``).

After each step the task's cost so far (``LLMClient.cost``, litellm's prices) is charged to
its key's spend for the day and month when the key has a budget: one store call per step
(:meth:`SpendStore.charge`, which also writes the cost so far to the record, so views show it
live). A key without a budget is charged once, when the run ends, and a task with no key
never. When the task's cost reaches its cap, or the key's spend reaches a budget, the agent
stops before its next step with the reason (``stopped``), its cost so far recorded. What the
last, interrupted step spent is charged when the run ends (:meth:`settle`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import Decimal

from shared.accounts import Limits
from shared.models import format_cost
from shared.spend import SpendStore, Spent, usd
from workers.agent.llm import LLMClient
from workers.process import worker_metrics


@dataclass
class TaskBudget:
    """One task's spend: charged after each step, checked before the next."""

    spend: SpendStore
    task_id: str
    account: str | None
    limits: Limits
    llm: LLMClient
    charged: Decimal = Decimal(0)
    reason: str | None = None

    async def before_start(self) -> None:
        """A key whose budget was spent while the task waited: it does not start (one read)."""
        if self.account is None or not self.limits.budgeted:
            return
        spent = await asyncio.to_thread(self.spend.spent, self.account)
        over = spent.over(self.limits)
        if over:
            self.reason = f"{over}; the task did not start"
            reason = "daily_budget" if "daily" in over else "monthly_budget"
            worker_metrics.BUDGET_STOPS.labels(reason=reason).inc()

    async def after_step(self) -> None:
        """Charge what the step cost and check the limits: one store call, and only when the key has
        a budget (a key without one is charged once, when the run ends: :meth:`settle`)."""
        spent = None
        if self.account is not None and self.limits.budgeted and self.llm.cost > self.charged:
            spent = await asyncio.to_thread(self._charge)
        if self.reason is not None:
            return
        cap = self.limits.max_task_cost_usd
        if cap is not None and self.llm.cost >= cap:
            self.reason = (f"the task's LLM cost (${format_cost(self.llm.cost)}) reached its cap of "
                           f"${usd(cap)}; stopped before its next step")
            worker_metrics.BUDGET_STOPS.labels(reason="task_cap").inc()
        elif spent is not None and (over := spent.over(self.limits)):
            self.reason = f"{over}; stopped before its next step"
            kind = "daily_budget" if "daily" in over else "monthly_budget"
            worker_metrics.BUDGET_STOPS.labels(reason=kind).inc()

    def settle(self) -> None:
        """Charge what is not charged yet (the run ended mid-step); blocking, at the run's end."""
        if self.account is not None and self.llm.cost > self.charged:
            self._charge()

    def _charge(self) -> Spent:
        assert self.account is not None
        total = self.llm.cost
        spent = self.spend.charge(self.account, total - self.charged, self.task_id, total)
        self.charged = total
        return spent
