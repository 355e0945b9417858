"""The producer: validate and enqueue browser-agent tasks, read their results.

    >>> from producer import Producer
    >>> p = Producer()
    >>> created = p.create_task({"task": "Find the title of example.com", "startUrl": "https://example.com"})
    >>> p.wait(created.id, timeout=600).output
"""

from producer.client import Producer
from producer.errors import (
    BudgetExceededError,
    EnqueueError,
    KeyQueueFullError,
    PartlyEnqueuedError,
    ProducerError,
    ProfileNotFoundError,
    QueueFullError,
    SessionBusyError,
    SessionNotFoundError,
    SessionStoppedError,
    SessionValidationError,
    TaskNotFoundError,
    TaskValidationError,
    TooManyActiveTasksError,
    TooManySessionsError,
    WaitTimeoutError,
    WebhookNotConfiguredError,
)

__all__ = [
    "BudgetExceededError",
    "EnqueueError",
    "KeyQueueFullError",
    "PartlyEnqueuedError",
    "Producer",
    "ProducerError",
    "ProfileNotFoundError",
    "QueueFullError",
    "SessionBusyError",
    "SessionNotFoundError",
    "SessionStoppedError",
    "SessionValidationError",
    "TaskNotFoundError",
    "TaskValidationError",
    "TooManyActiveTasksError",
    "TooManySessionsError",
    "WaitTimeoutError",
    "WebhookNotConfiguredError",
]
