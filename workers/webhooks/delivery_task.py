"""The webhook queue's Celery task (``webhook_queue``): flush one stream's outbox.

Imported by every worker through ``conf.imports``; nothing here loads browser code.
"""

from __future__ import annotations

from shared.celery_config import WEBHOOK_TASK
from workers.process.celery_instance import app


@app.task(name=WEBHOOK_TASK, acks_late=True, ignore_result=True)
def deliver_webhooks(stream: str) -> int:
    """Deliver the stream's due events in order (the message carries only the stream's id)."""
    from workers.webhooks.worker_state import deliverer

    return deliverer().flush(stream)
