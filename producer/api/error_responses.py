"""Producer errors → HTTP responses, in this one place.

Every error body is ``{"detail": "<message>"}``; validation errors are FastAPI's
``{"detail": [{"loc", "msg", "type"}]}`` (without echoing the input back: a payload
may hold secrets). Session messages are the v2 API's own.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from producer.errors import (
    BrowserTimeoutLimitError,
    BudgetExceededError,
    EnqueueError,
    ProfileLimitError,
    ProfileNotFoundError,
    QueueFullError,
    SessionBusyError,
    SessionNotFoundError,
    SessionStoppedError,
    SessionValidationError,
    SkillExecutionError,
    TaskNotFoundError,
    TaskValidationError,
    TooManyActiveTasksError,
    TooManySessionsError,
    UploadError,
    WebhookNotConfiguredError,
)
from shared.redis_client import StoreError

from .schemas import ErrorDetail

log = logging.getLogger(__name__)

_UNPARSABLE = "There was an error parsing the body"  # FastAPI's 400 when a body cannot even be decoded

_PLAIN: dict[type[Exception], int] = {
    SessionNotFoundError: 404,
    ProfileNotFoundError: 404,
    ProfileLimitError: 402,  # the v2 contract's answer for "no more profiles"
    SessionStoppedError: 400,
    SessionBusyError: 400,
    TooManySessionsError: 429,
    BudgetExceededError: 402,
    WebhookNotConfiguredError: 404,
    BrowserTimeoutLimitError: 403,
}


def detail(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status, headers=headers)


def validation_errors(errors: list[dict[str, Any]], prefix: tuple[str, ...] = ()) -> JSONResponse:
    """422 in FastAPI's shape, keeping only loc/msg/type."""
    clean = [
        {"loc": [*prefix, *e.get("loc", [])], "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in errors
    ]
    return JSONResponse({"detail": clean}, status_code=422)


async def _request_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return validation_errors(list(exc.errors()))


async def _payload_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TaskValidationError | SessionValidationError)
    errors = [e for e in exc.errors]
    for e in errors:  # the producer's locs are body-relative
        if not e["loc"] or e["loc"][0] != "body":
            e["loc"] = ["body", *e["loc"]]
    return validation_errors(errors)


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors, with a 405's ``Allow`` listing every method of the path."""
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 400 and exc.detail == _UNPARSABLE:  # e.g. a body that is not UTF-8
        error = {"loc": ["body"], "msg": "the body is not valid JSON", "type": "json_invalid"}
        return validation_errors([error])
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(sorted(_methods(request)))
    return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)


def _methods(request: Request) -> set[str]:
    """Starlette names only the first route of a path; a path here has a route per method."""
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return methods


async def _task_not_found(request: Request, exc: Exception) -> Response:
    return detail(404, "Task not found")


async def _queue_full(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, QueueFullError)
    return detail(429, str(exc), {"Retry-After": str(exc.retry_after_s)})


async def _too_many_active(request: Request, exc: Exception) -> Response:
    """The v2 API's TooManyConcurrentActiveSessionsError body, with a ``Retry-After``."""
    assert isinstance(exc, TooManyActiveTasksError)
    return detail(429, str(exc), {"Retry-After": str(exc.retry_after_s)})


async def _plain(request: Request, exc: Exception) -> Response:
    return detail(_PLAIN[type(exc)], str(exc))


async def _with_status(request: Request, exc: Exception) -> Response:
    """Errors that carry their own HTTP status (uploads, skill executions)."""
    assert isinstance(exc, UploadError | SkillExecutionError)
    return detail(exc.status, str(exc))


async def _unavailable(request: Request, exc: Exception) -> Response:
    log.warning("%s %s: %s", request.method, request.url.path, exc)
    return detail(503, f"service unavailable: {type(exc).__name__}", {"Retry-After": "5"})


async def _internal(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return detail(500, "An internal server error occurred")


def install(app: FastAPI) -> None:
    """Register every translation on ``app``."""
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(TaskValidationError, _payload_validation)
    app.add_exception_handler(SessionValidationError, _payload_validation)
    app.add_exception_handler(TaskNotFoundError, _task_not_found)
    app.add_exception_handler(QueueFullError, _queue_full)
    app.add_exception_handler(TooManyActiveTasksError, _too_many_active)
    for kind in _PLAIN:
        app.add_exception_handler(kind, _plain)
    app.add_exception_handler(UploadError, _with_status)
    app.add_exception_handler(SkillExecutionError, _with_status)
    app.add_exception_handler(EnqueueError, _unavailable)
    app.add_exception_handler(StoreError, _unavailable)
    app.add_exception_handler(Exception, _internal)


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error statuses a route can answer."""
    described = {
        400: "Session is stopped or already has a running task",
        401: "Missing or invalid API key",
        402: "The API key's LLM budget (per UTC day or month) is spent",
        403: "This API key may not use the requested opVaultId",
        404: "Not found",
        413: "Request body over the server's limit (BROWSERFLEET_API_MAX_BODY_BYTES)",
        429: "Too many tasks waiting (the fleet's or the API key's; retry after Retry-After seconds) or "
             "too many active sessions/tasks for the API key",
        503: "Redis or the broker is unreachable",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorDetail, "description": described.get(code, "Error")}
        if code in (429, 503):
            entry["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
        out[code] = entry
    return out
