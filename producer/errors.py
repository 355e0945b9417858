"""Errors the producer raises.

    ProducerError
    ├── TaskValidationError   the payload is invalid; nothing was written or enqueued
    ├── TaskNotFoundError     no task with that id
    ├── EnqueueError          the broker refused the task; its record was removed
    │   └── PartlyEnqueuedError  Redis failed mid-batch: ``created`` were enqueued, the rest not at all
    ├── WaitTimeoutError      ``wait`` gave up before the task ended
    ├── QueueFullError        the fleet's backlog is over its limit; retry after ``retry_after_s``
    ├── SessionValidationError  the create-session (or profile) payload is invalid
    ├── SessionNotFoundError  no session with that id (or not yours)
    ├── SessionStoppedError   the session is stopped; start a new one
    ├── SessionBusyError      the session already runs a task
    ├── TooManySessionsError  the limit of active sessions is reached
    ├── ProfileNotFoundError  no profile with that id (or not yours)
    └── ProfileLimitError     the key holds as many profiles as it may

The session errors' messages are the v2 API's own, word for word.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from shared.models import TaskCreated


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


class PartlyEnqueuedError(EnqueueError):
    """Redis failed between two chunks of a batch: the first ``written`` tasks are enqueued.

    They are complete (record, session, message) and listed in ``created``; none of the
    others was written. Resend only the payloads after ``written``.
    """

    def __init__(self, message: str, written: int) -> None:
        self.written = written
        self.created: list[TaskCreated] = []  # set by the producer
        super().__init__(message)


class WaitTimeoutError(ProducerError, TimeoutError):
    pass


class QueueFullError(ProducerError):
    """Admission control: the queue backlog is at its limit, so the task was not accepted."""

    def __init__(self, backlog: int, limit: int, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(
            f"the fleet is at capacity ({backlog} tasks waiting, limit {limit}); "
            f"retry in {retry_after_s} seconds"
        )


class SessionValidationError(ProducerError, ValueError):
    """Every bad field of a create-session payload."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        super().__init__("invalid session: " + "; ".join(f"{_path(e['loc'])}: {e['msg']}" for e in errors))


class SessionNotFoundError(ProducerError, LookupError):
    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__("Session not found")


class SessionStoppedError(ProducerError):
    def __init__(self) -> None:
        super().__init__("Browser session is stopped. Please start a new session and try again.")


class SessionBusyError(ProducerError):
    def __init__(self) -> None:
        super().__init__(
            "Agent session already has a running task. Please wait for it to finish or stop it manually."
        )


class TooManySessionsError(ProducerError):
    def __init__(self) -> None:
        super().__init__(
            "Too many concurrent active sessions. "
            "Please wait for one to finish, kill one, or upgrade your plan."
        )


class ProfileLimitError(ProducerError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"This API key already has {limit} profiles, the most it may hold "
            "(BROWSERFLEET_MAX_PROFILES_PER_KEY); delete one first."
        )


class ProfileNotFoundError(ProducerError, LookupError):
    def __init__(self) -> None:
        super().__init__("Profile not found")


def _path(loc: Any) -> str:
    return ".".join(str(part) for part in loc) or "body"


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """pydantic's errors as the producer reports them: path, message and kind of each bad field."""
    return [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
