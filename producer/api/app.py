"""The HTTP API: Browser Use Cloud v2 under ``/api/v2``, over the same :class:`Producer`.

    uvicorn "producer.api.app:app_factory" --factory      # or: browserfleet api

Routes are thin: authenticate, call one producer method, return its wire model.
Errors are translated in :mod:`producer.api.error_responses`. ``GET /healthz`` is open (for
probes); everything under ``/api/v2`` needs ``X-Browser-Use-API-Key``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from producer.client import Producer
from shared.fleet_metrics import exposition
from shared.llms import model_table
from shared.settings import Settings, get_settings

from . import (
    browser_live,
    cdp_proxy,
    downloads,
    error_responses,
    routes_billing,
    routes_browsers,
    routes_files,
    routes_live,
    routes_profiles,
    routes_sessions,
    routes_skill_runs,
    routes_skills,
    routes_tasks,
    routes_uploads,
    routes_webhooks,
)
from .auth import ApiKeys
from .gate import GateMiddleware
from .polling import StatusReader
from .schemas import Health

PREFIX = "/api/v2"


def create_app(settings: Settings | None = None, producer: Producer | None = None) -> FastAPI:
    """The app for ``settings`` (keys are checked now: no keys, no server)."""
    settings = settings or get_settings()
    api_keys = ApiKeys(settings.api_keys, settings.scoped_api_keys, settings.api_key_op_vaults,
                       settings.api_key_skills)
    app = FastAPI(
        title="browserfleet",
        summary="Self-hosted browser agents, wire-compatible with the Browser Use Cloud API v2",
        version="2.0.0",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.api_keys = api_keys
    app.state.producer = producer or Producer(settings)
    app.state.metrics = app.state.producer.metrics_registry()
    app.state.loop_stores = app.state.producer.stores.for_event_loop()  # the status poll, live feeds
    app.state.status_reader = StatusReader(app.state.producer, app.state.loop_stores)
    error_responses.install(app)
    open_paths = {f"{PREFIX}/openapi.json", f"{PREFIX}/docs", f"{PREFIX}/docs/oauth2-redirect"}
    app.add_middleware(
        GateMiddleware, api_keys=api_keys, max_body=settings.api_max_body_bytes, prefix=PREFIX,
        open_paths=open_paths, open_prefixes=(downloads.PATH + "/", routes_uploads.PATH + "/"),
    )
    for router in (routes_tasks.router, routes_sessions.router, routes_profiles.router, routes_live.router,
                   routes_billing.router, routes_skills.router, routes_files.router, routes_webhooks.router,
                   routes_browsers.router, routes_uploads.router, routes_skill_runs.router):
        app.include_router(router, prefix=PREFIX)
    app.include_router(routes_files.public)
    app.include_router(routes_live.public)
    app.include_router(cdp_proxy.public)
    app.include_router(browser_live.public)
    app.include_router(routes_uploads.public)
    app.add_api_route("/healthz", healthz, include_in_schema=False)
    app.add_api_route("/metrics", metrics, include_in_schema=False)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory`` (several worker processes)."""
    return create_app()


def healthz(request: Request) -> JSONResponse:
    """Alive and able to reach Redis (no auth: for container probes), plus queue health.

    A queue with waiting work and no live consumer is reported under ``warnings`` but keeps
    the answer 200: the API itself is healthy, and restarting it would not help.
    """
    producer: Producer = request.app.state.producer
    try:
        ok = producer.ping()
        queues = producer.queues() if ok else []
    except Exception:
        ok, queues = False, []
    warnings = [q.warning for q in queues if q.warning]
    health = Health(status="ok" if ok else "redis unreachable", redis=ok, queues=queues, warnings=warnings)
    return JSONResponse(health.model_dump(), status_code=200 if ok else 503)


def metrics(request: Request) -> Response:
    """Prometheus metrics (no auth, like /healthz: keep the port off the public internet)."""
    return Response(exposition(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The generated document, plus what pydantic cannot say: the accepted model names."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
    doc["servers"] = [{"url": "/"}]
    settings: Settings = app.state.settings
    names = sorted(model_table(settings.default_model, settings.models))
    request_schema = doc["components"]["schemas"].get("CreateTaskRequest", {})
    for field in ("llm", "judgeLlm"):
        prop = request_schema.get("properties", {}).get(field)
        if prop is not None:
            _restrict_strings(prop, names)
    app.openapi_schema = doc
    return doc


def _restrict_strings(prop: dict[str, Any], names: list[str]) -> None:
    if prop.get("type") == "string":
        prop["enum"] = names
    for option in prop.get("anyOf", []):
        _restrict_strings(option, names)
