"""``/billing/account``: the calling key's budget, limits and usage (no billing provider here)."""

from __future__ import annotations

import uuid
from decimal import Decimal

from fastapi import APIRouter

from .auth import CallerDep
from .deps import ProducerDep
from .error_responses import responses
from .schemas import AccountView, PlanInfo

router = APIRouter(tags=["Billing"], responses=responses(401))


@router.get("/billing/account", summary="Get Account Billing")
def get_account(caller: CallerDep, producer: ProducerDep) -> AccountView:
    """The key's budget left (as credit balances) and limits, its usage, and the fleet's queue."""
    account = caller.account
    usage = producer.budgets.usage(account) if account else None
    limits = usage.limits if usage else producer.controls.limits(None)
    view = AccountView(
        name="browserfleet",
        rate_limit=limits.max_active_sessions,
        concurrent_session_limit=limits.max_active_sessions,
        active_session_count=producer.sessions.count_active(caller.owner),
        plan_info=PlanInfo(plan_name="self-hosted"),
        project_id=uuid.uuid5(uuid.NAMESPACE_URL, f"browserfleet:project:{caller.owner or 'fleet'}"),
        api_key_id=caller.key_id,
        queued_tasks=producer.queue_length(),
        max_queued_tasks=producer.settings.max_queued_tasks,
        daily_budget_usd=_usd(limits.daily_budget_usd),
        monthly_budget_usd=_usd(limits.monthly_budget_usd),
        max_task_cost_usd=_usd(limits.max_task_cost_usd),
        max_active_tasks=limits.max_active_tasks,
        key_max_queued_tasks=limits.max_queued_tasks,
    )
    if usage is not None:
        view.total_credits_balance_usd = _usd(usage.remaining_now) or 0.0
        view.monthly_credits_balance_usd = _usd(usage.remaining_this_month) or 0.0
        view.spent_today_usd = float(usage.spent.today)
        view.spent_this_month_usd = float(usage.spent.this_month)
        view.active_task_count = usage.active_tasks
        view.key_queued_tasks = usage.queued_tasks
    return view


def _usd(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
