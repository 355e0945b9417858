"""Sends due webhook streams to the webhook queue (a thread in every webhook worker process).

Status changes mark their task's stream due in Redis in the same script that writes them
(``shared.task_events``); this thread, every ``POLL_S``, claims the due streams for a while
(so that no other webhook worker sends them too) and sends one Celery message per stream,
which some webhook worker's thread then flushes (:mod:`workers.webhooks.delivery`). A
message that is lost, or a flush whose worker died, leaves its stream due again once the
claim runs out: at least once, without a scan of Redis.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from shared.redis_client import StoreError
from shared.webhook_store import WebhookStore

log = logging.getLogger(__name__)
POLL_S = 0.25
CLAIM_S = 60.0  # a claimed stream not flushed by then (a lost message, a dead worker) comes due again


class Sweeper(threading.Thread):
    """Claims due streams and hands each to ``send`` (a Celery ``send_task``)."""

    def __init__(self, store: WebhookStore, send: Callable[[str], None], poll_s: float = POLL_S) -> None:
        super().__init__(name="webhook-sweeper", daemon=True)
        self.store, self.send, self.poll_s = store, send, poll_s
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                for stream in self.store.claim_due(CLAIM_S):
                    self.send(stream)
            except StoreError as exc:
                log.warning("webhook sweeper: Redis unavailable: %s", exc)
            except Exception:  # the broker refused a message: the claim runs out, it is sent again
                log.exception("webhook sweeper: sending failed")

    def stop(self) -> None:
        self._stop.set()
