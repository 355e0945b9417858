"""Flushing one stream's outbox to its webhook: in order, at least once, with backoff.

A stream (one task's events, or one ``test`` event) is flushed by one worker thread at a
time (a lock in Redis). The head event is delivered; a 2xx removes it and the next one
follows; anything else (an error status, a redirect, a timeout, a refused address) counts a
failed attempt and makes the stream due again after an exponential backoff
(``webhook_backoff_s`` doubling up to ``webhook_max_backoff_s``, with jitter), so later
events wait behind it and a task's events arrive in order. An event older than
``webhook_max_age_s`` is dropped (logged ``expired``). Every attempt goes to the account's
delivery log; the secret never does, nor the URL's path or query (they may hold tokens).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from shared.accounts import FLEET, Controls
from shared.settings import Settings
from shared.task_events import Event
from shared.urls import parse_url
from shared.webhook_store import Head, WebhookStore
from workers.policy.network import NetworkPolicy
from workers.process import worker_metrics
from workers.process.per_process import PerProcess
from workers.webhooks import transport
from workers.webhooks.signing import serialize, signed_headers

log = logging.getLogger(__name__)
# Who holds a delivery lock: this process (a forked child is another holder).
_host: PerProcess[str] = PerProcess(lambda: f"{socket.gethostname()}:{os.getpid()}")
EVENTS_PER_FLUSH = 20  # then the stream goes back to the queue, so one chatty stream cannot hog a thread
# (a flush also stops while its lock still has a whole attempt's time left)


@dataclass(frozen=True)
class Outcome:
    result: str  # delivered, failed, blocked
    status_code: int | None = None
    error: str | None = None


def redact_url(url: str) -> str:
    """Scheme, host and port only: a webhook URL's path or query may hold a token."""
    parsed = parse_url(url)
    if parsed is None:
        return "<invalid URL>"
    rest = "/…" if parsed.href.rstrip("/") != parsed.origin else "/"
    return parsed.origin + rest


def backoff_s(attempts: int, settings: Settings) -> float:
    """The delay after the ``attempts``-th failure: doubling, capped, with ±20% jitter."""
    base = min(settings.webhook_max_backoff_s, settings.webhook_backoff_s * 2 ** max(0, attempts - 1))
    return base * random.uniform(0.8, 1.2)


class Deliverer:
    """Delivers outboxes for one worker process; thread-safe (Celery runs several flushes at once)."""

    def __init__(self, settings: Settings, store: WebhookStore, controls: Controls) -> None:
        self.settings = settings
        self.store = store
        self.controls = controls
        self.policy = NetworkPolicy.from_entries(settings.allow_private_networks, settings.allowed_networks)

    def flush(self, stream: str) -> int:
        """Deliver the stream's events in order until one fails or none is left; returns how many
        were delivered. Another thread already flushing the stream makes this a no-op."""
        owner = f"{_host.get()}:{uuid.uuid4().hex[:8]}"
        lock_s = self.settings.webhook_timeout_s * 6 + 30  # an attempt: resolve, connect, send, read
        if not self.store.lock(stream, owner, lock_s):
            return 0
        delivered, started = 0, time.monotonic()
        try:
            for _ in range(EVENTS_PER_FLUSH):
                # never attempt past the lock: another worker could then flush the stream too
                if time.monotonic() - started + 4 * self.settings.webhook_timeout_s > lock_s:
                    break
                head = self.store.head(stream)
                if head is None:
                    break
                if not self._attempt(stream, head):
                    return delivered  # the stream is due again after its backoff
                delivered += 1
            self.store.settle(stream)
            return delivered
        finally:
            self.store.unlock(stream, owner)

    def _attempt(self, stream: str, head: Head) -> bool:
        """One attempt at the head event; True when it left the outbox (delivered or dropped)."""
        event, attempt = head.event, head.attempts + 1
        account = event.account or FLEET
        if time.time() - event.at > self.settings.webhook_max_age_s:
            self.store.ack(stream, event)
            worker_metrics.WEBHOOK_DELIVERIES.labels(result="expired").inc()
            reason = f"given up after {head.attempts} attempts over {self.settings.webhook_max_age_s}s"
            log.warning("webhook event %s expired: %s; dropped", event.delivery_id, reason)
            self._log(account, event, attempt - 1, "expired", None, reason, None, None)
            return True
        endpoint = self.controls.webhook(event.account)
        if endpoint is None:
            self.store.ack(stream, event)
            worker_metrics.WEBHOOK_DELIVERIES.labels(result="unconfigured").inc()
            self._log(account, event, attempt, "unconfigured", None, "no webhook configured now", None, None)
            return True
        started = time.monotonic()
        outcome = self._post(endpoint.url, endpoint.secret, event, attempt)
        elapsed = time.monotonic() - started
        worker_metrics.WEBHOOK_LATENCY.observe(elapsed)
        worker_metrics.WEBHOOK_DELIVERIES.labels(result=outcome.result).inc()
        if outcome.result == "delivered":
            self.store.ack(stream, event)
            worker_metrics.WEBHOOK_EVENT_AGE.observe(max(0.0, time.time() - event.at))
            self._log(account, event, attempt, "delivered", outcome.status_code, None, elapsed, endpoint.url)
            return True
        retry_at = time.time() + backoff_s(attempt, self.settings)
        self.store.fail(stream, retry_at)
        log.warning("webhook %s to %s failed (attempt %d): %s", event.delivery_id, redact_url(endpoint.url),
                    attempt, outcome.error)
        self._log(account, event, attempt, outcome.result, outcome.status_code, outcome.error, elapsed,
                  endpoint.url, retry_at)
        return False

    def _post(self, url: str, secret: str, event: Event, attempt: int) -> Outcome:
        body = serialize(event.body)
        headers = signed_headers(body, int(time.time()), secret, event.delivery_id, attempt)
        try:
            answer = transport.post(url, body.encode(), headers, self.policy, self.settings.webhook_timeout_s)
        except transport.BlockedError as exc:
            return Outcome("blocked", error=f"blocked by the network policy: {exc}")
        except Exception as exc:  # the receiver's side: refused, reset, timed out, bad TLS...
            return Outcome("failed", error=f"{type(exc).__name__}: {str(exc)[:300] or 'no answer'}")
        if 200 <= answer.status < 300:
            return Outcome("delivered", answer.status)
        if 300 <= answer.status < 400:
            where = redact_url(answer.location or "")
            return Outcome("failed", answer.status, f"redirect to {where} not followed")
        return Outcome("failed", answer.status, f"HTTP {answer.status}: {answer.excerpt[:200]}".strip())

    def _log(
        self, account: str, event: Event, attempt: int, result: str, status_code: int | None,
        error: str | None, elapsed: float | None, url: str | None, retry_at: float | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "delivery_id": event.delivery_id, "event": event.type, "task_id": event.task_id,
            "status": event.status, "attempt": attempt, "at": time.time(), "result": result,
            "status_code": status_code, "error": error,
            "duration_ms": None if elapsed is None else round(elapsed * 1000, 1),
            "url": redact_url(url) if url else None, "next_attempt_at": retry_at,
        }
        try:
            self.store.record(account, entry)
        except Exception as exc:  # the log is for people; the delivery itself already happened
            log.warning("webhook delivery log not written: %s", exc)
