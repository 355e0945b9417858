"""The producer's webhooks (``producer.webhooks``): an account's configuration, delivery log and
``test`` deliveries.

Nothing is delivered from here (nor from the API process): a test event is put in an outbox
like any status change, and the webhook workers deliver it (``workers/webhooks``). The
configuration is shown without its secret (a hint: its length and last characters).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.accounts import FLEET, Controls
from shared.consumers import ConsumerRegistry, QueueHealth
from shared.webhook_store import WebhookStore

from .errors import WebhookNotConfiguredError


class WebhookConfig(BaseModel):
    """An account's webhook as its owner may see it: never the secret itself."""

    url: str | None
    secret_hint: str | None
    source: str | None  # "key" (its own), "fleet" (the default) or None (no webhook)


class Webhooks:
    """Configuration, log and test deliveries per account; thread-safe."""

    def __init__(self, controls: Controls, store: WebhookStore) -> None:
        self.controls = controls
        self.store = store

    def config(self, account: str | None) -> WebhookConfig:
        endpoint = self.controls.webhook(account)
        if endpoint is None:
            return WebhookConfig(url=None, secret_hint=None, source=None)
        return WebhookConfig(url=endpoint.url, secret_hint=endpoint.secret_hint,
                             source=self.controls.webhook_source(account))

    def deliveries(self, account: str | None, limit: int = 100) -> list[dict[str, Any]]:
        """The account's last delivery attempts, newest first (``None``: tasks without a key)."""
        return self.store.log(account or FLEET, limit)

    def send_test(self, account: str | None) -> str:
        """Queue a ``test`` event for the account's webhook; returns its delivery id."""
        if self.controls.webhook(account) is None:
            raise WebhookNotConfiguredError()
        return self.store.add_test(account)

    def health(self, registry: ConsumerRegistry, queue: str) -> QueueHealth:
        """The webhook queue as ``/healthz`` lists it: tasks with undelivered events, live webhook
        workers, and a warning when events wait and no webhook worker runs."""
        pending, consumers = self.store.pending(), len(registry.live(queue))
        warning = None
        if pending and not consumers:
            warning = (f"{pending} task(s) have undelivered webhook events and no webhook worker consumes "
                       f"queue {queue!r}: start one (browserfleet worker --queues {queue})")
        return QueueHealth(name=queue, waiting=pending, consumers=consumers, warning=warning)
