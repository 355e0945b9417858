"""``/webhooks``: the calling key's webhook (secret never shown), its delivery log, a test event.

Our own routes (the hosted service configures webhooks in its dashboard). Deliveries are made
by the webhook workers, never by this process: ``POST /webhooks/test`` queues the event and
answers 202 with its delivery id, which the log then shows with the receiver's answer.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from shared.accounts import FLEET

from .auth import Caller, CallerDep
from .deps import ProducerDep
from .error_responses import responses
from .schemas import WebhookConfigView, WebhookDelivery, WebhookDeliveryList, WebhookTestQueued

router = APIRouter(prefix="/webhooks", tags=["Webhooks"], responses=responses(401))

AccountQuery = Annotated[
    str | None,
    Query(description="Full-access keys only: another key's account (`key:<16 hex>`), or `fleet` for "
          "tasks created without a key.", max_length=64, pattern=r"^(key:[0-9a-f]{16}|fleet)$"),
]


def _account(caller: Caller, asked: str | None) -> str | None:
    """Whose webhook: the caller's own; a full-access key may name another account."""
    if asked is None:
        return caller.account
    if caller.owner is not None:
        raise HTTPException(403, "only full-access keys may read another key's webhook")
    return None if asked == FLEET else asked


@router.get("", summary="Get Webhook", responses=responses(403))
def get_webhook(caller: CallerDep, producer: ProducerDep, account: AccountQuery = None) -> WebhookConfigView:
    """Where the key's task events go (``source``: its own webhook or the fleet's), without the secret."""
    config = producer.webhooks.config(_account(caller, account))
    return WebhookConfigView.model_validate(config.model_dump())


@router.get("/deliveries", summary="List Webhook Deliveries", responses=responses(403))
def list_deliveries(
    caller: CallerDep,
    producer: ProducerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    account: AccountQuery = None,
) -> WebhookDeliveryList:
    """The key's last delivery attempts, newest first: status code, error, duration, next attempt."""
    entries = producer.webhooks.deliveries(_account(caller, account), limit)
    return WebhookDeliveryList(items=[WebhookDelivery.model_validate(e) for e in entries])


@router.post("/test", status_code=202, summary="Send Test Webhook", responses=responses(403, 404))
def send_test(caller: CallerDep, producer: ProducerDep, account: AccountQuery = None) -> WebhookTestQueued:
    """Queue a ``test`` event to the key's webhook (404 when it has none); the log shows the answer."""
    return WebhookTestQueued(delivery_id=producer.webhooks.send_test(_account(caller, account)))
