"""Errors the producer raises.

    ProducerError
    ├── TaskValidationError   the payload is invalid; nothing was written or enqueued
    ├── TaskNotFoundError     no task with that id
    ├── EnqueueError          the broker refused the task; its record was removed
    └── WaitTimeoutError      ``wait`` gave up before the task ended
"""

from __future__ import annotations

from typing import Any


class ProducerError(Exception):
    """Base of every producer error."""


class TaskValidationError(ProducerError, ValueError):
    """Every bad field of a payload, each with its path and reason."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        lines = [f"{_path(e['loc'])}: {e['msg']}" for e in errors]
        super().__init__("invalid task: " + "; ".join(lines))


class TaskNotFoundError(ProducerError, LookupError):
    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        super().__init__(f"task {task_id} not found")


class EnqueueError(ProducerError):
    """The broker could not take the task."""


class WaitTimeoutError(ProducerError, TimeoutError):
    pass


def _path(loc: Any) -> str:
    return ".".join(str(part) for part in loc) or "body"
