"""The API's front gate: the key is checked, and the body bounded, before a byte of it is read.

FastAPI resolves a route's body before its dependencies, so an unauthenticated client
could make the server read and parse any body it likes. This ASGI middleware runs first:
a request under ``/api/v2`` (except the OpenAPI document, the docs and presigned download
URLs, whose token is their credential) without a valid key
gets 401 at once; a body over the limit gets 413, whether its ``Content-Length`` says so
or its chunks grow past it.
"""

from __future__ import annotations

from collections.abc import Set

from starlette._utils import get_route_path  # the router's own reading of the path
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .auth import HEADER, ApiKeys


class GateMiddleware:
    """Authenticate, then let at most ``max_body`` bytes of body through."""

    def __init__(
        self,
        app: ASGIApp,
        api_keys: ApiKeys,
        max_body: int,
        prefix: str,
        open_paths: Set[str],
        open_prefixes: tuple[str, ...] = (),
    ) -> None:
        self.app, self.api_keys, self.max_body = app, api_keys, max_body
        self.prefix, self.open_paths, self.open_prefixes = prefix + "/", open_paths, open_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # The path as the router matches it: behind ``--root-path`` (or a prefix a proxy adds)
        # ``scope["path"]`` starts with that prefix, and comparing it raw let every request
        # past the gate (no key check before the body, no body limit).
        path = get_route_path(scope) if scope["type"] == "http" else ""
        if (
            scope["type"] != "http"
            or not path.startswith(self.prefix)
            or path in self.open_paths
            or path.startswith(self.open_prefixes)
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            self.api_keys.check(headers.get(HEADER))
        except HTTPException as exc:
            await JSONResponse({"detail": exc.detail}, status_code=exc.status_code)(scope, receive, send)
            return
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await self._too_large(scope, receive, send)
            return
        await self.app(scope, self._bounded(receive), send)

    def _bounded(self, receive: Receive) -> Receive:
        seen = 0

        async def bounded() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise HTTPException(413, self._message())
            return message

        return bounded

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse({"detail": self._message()}, status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)

    def _message(self) -> str:
        return f"Request body larger than {self.max_body} bytes"
