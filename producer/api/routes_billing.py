"""``/billing/account``: no billing here; limits come from settings, usage from the fleet."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from .auth import CallerDep
from .deps import ProducerDep
from .errors import responses
from .schemas import AccountView, PlanInfo

router = APIRouter(tags=["Billing"], responses=responses(401))


@router.get("/billing/account", summary="Get Account Billing")
def get_account(caller: CallerDep, producer: ProducerDep) -> AccountView:
    """No billing here: limits come from settings, usage from the fleet."""
    limit = producer.settings.max_active_sessions
    return AccountView(
        name="browserfleet",
        rate_limit=limit,
        concurrent_session_limit=limit,
        active_session_count=producer.sessions.count_active(caller.owner),
        plan_info=PlanInfo(plan_name="self-hosted"),
        project_id=uuid.uuid5(uuid.NAMESPACE_URL, f"browserfleet:project:{caller.owner or 'fleet'}"),
        api_key_id=caller.key_id,
        queued_tasks=producer.queue_length(),
        max_queued_tasks=producer.settings.max_queued_tasks,
    )
