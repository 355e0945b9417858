"""Enforce one task's :class:`RequestPolicy` on its browser context.

Two layers, each covering what the other cannot see:

- **Network** (always on): the context's only way out is the worker process's
  :class:`~workers.egress.proxy.EgressProxy`, which checks every connection after
  DNS: redirects, sub-resources, WebSockets and popups included. Service workers are
  blocked (``service_workers="block"``) so no script outlives the page to act on its
  own, and WebRTC is kept off raw UDP by the launcher flags. A refused request fails
  in the browser; the guard hears of it (``requestfailed``) and asks the proxy why.
- **allowedDomains** (when the task gives it): every *document* request (top-level
  pages of every tab, iframes, popups, form posts, script navigations) is checked
  before it is sent, with ``context.route``. Playwright's routing does not see
  redirect hops, so each tab also has a CDP session that pauses document responses
  and refuses a redirect whose ``Location`` is not allowed. A session only watches
  requests that start after it, so a document no session was watching in time (a
  popup's first request, a new tab's first page, an out-of-process iframe) is fetched
  here with redirects off instead, and a redirect to an allowed place continues as a
  fresh navigation the guard sees again. Routing turns off Chromium's HTTP cache,
  which is why it is only installed when the task restricts domains.

Blocked requests are kept until the agent loop :meth:`drains <BrowserGuard.drain>` them
into the step that was running: a blocked navigation is an error of that step.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from playwright.async_api import BrowserContext, CDPSession, Frame, Page, Request, Route
from playwright.async_api import Error as PlaywrightError

from shared.settings import Settings
from shared.urls import resolve
from workers.egress.proxy import EgressProxy, Refused, shared_proxy
from workers.egress.upstream import Upstream
from workers.policy.navigation import BlockedRequest, RequestPolicy
from workers.policy.network import NetworkPolicy
from workers.process import worker_metrics

log = logging.getLogger(__name__)

MAX_BLOCKED = 200
_DOCUMENT_RESPONSES = {
    "patterns": [{"urlPattern": "*", "resourceType": "Document", "requestStage": "Response"}]
}
# A refused document is answered "204 No Content": the browser then stays on the page it
# was on (an iframe stays empty, a popup blank) and no request leaves for the refused host.
_BLOCKED_HEADERS = {"x-browserfleet-blocked": "not allowed by the task's policy"}
# A refused redirect cannot be answered with 204 (Chromium follows the redirect anyway), so
# the redirecting page is answered with this notice instead.
_BLOCKED_CDP = [
    {"name": "content-type", "value": "text/html; charset=utf-8"},
    *({"name": k, "value": v} for k, v in _BLOCKED_HEADERS.items()),
]
_NOTICE = (
    "<!doctype html><html><head><title>Blocked redirect</title></head><body>"
    "<h1>Blocked by browserfleet</h1><p>This page redirects to {url}, which this task may not "
    "open: {reason}.</p></body></html>"
)
# A document fetched here (no CDP session watched it in time) whose response redirects to an
# allowed place continues as a new navigation of its own page, which the guard sees again.
_HOP_PAGE = (
    '<!doctype html><html><head><meta http-equiv="refresh" content="0;url={attr}">'
    "<script>location.replace({js})</script></head><body></body></html>"
)


class BrowserGuard:
    """The request guard of one task; ``guard(url)`` is also the agent's navigation check."""

    def __init__(self, policy: RequestPolicy, upstream: Upstream | None = None) -> None:
        self.policy = policy
        self.upstream = upstream  # the session's upstream proxy behind the egress (None: none)
        self._proxy: EgressProxy | None = None
        self._blocked: list[BlockedRequest] = []
        self._sessions: dict[Page, asyncio.Future[CDPSession | None]] = {}
        self._watched: set[Page] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._context: BrowserContext | None = None

    # -- what the agent sees ----------------------------------------------------
    def __call__(self, url: str) -> str | None:
        """Why the agent may not open (or type a secret into) ``url``; DNS is the proxy's job."""
        return self.policy.navigation_reason(url)

    def drain(self) -> list[BlockedRequest]:
        """Blocked requests since the last call, oldest first."""
        blocked, self._blocked = self._blocked, []
        return blocked

    def _record(self, blocked: BlockedRequest) -> None:
        worker_metrics.REQUESTS_BLOCKED.labels(kind=blocked.kind).inc()
        if len(self._blocked) < MAX_BLOCKED:
            self._blocked.append(blocked)

    # -- lifecycle ----------------------------------------------------------------
    @property
    def proxy(self) -> EgressProxy:
        if self._proxy is None:
            raise RuntimeError("BrowserGuard used outside `async with guard.running()`")
        return self._proxy

    @asynccontextmanager
    async def running(self) -> AsyncIterator[BrowserGuard]:
        """Hold the process's egress proxy, and stop this guard's work on exit."""
        self._proxy = await shared_proxy(self.policy.network, self.upstream)
        try:
            yield self
        finally:
            for task in list(self._tasks):
                task.cancel()

    def context_options(self) -> dict[str, Any]:
        """Options for ``browser.new_context``: the proxy, no service workers, no downloads.

        Playwright's contexts accept downloads by default, into one temporary directory per
        browser that every task's context shares, with no size limit: a page could fill the
        worker's disk, and one task's file would sit beside the next task's. Files a task keeps
        go through the ``download_file`` skill (bounded, the task's own output files).
        """
        return {"proxy": {"server": self.proxy.url}, "service_workers": "block", "accept_downloads": False}

    async def attach(self, context: BrowserContext) -> None:
        """Watch ``context``: its failed requests always, its documents under allowedDomains.

        Tabs the context already has (the pool opens one ahead of time) are watched before
        anything loads in them, so even the task's first navigation has its redirects
        checked in the browser.
        """
        self._context = context
        context.on("requestfailed", self._on_failed)
        if self.policy.domains is None:
            return
        context.on("page", lambda page: self._spawn(self._session_for(page)))
        await context.route("**/*", self._on_route)
        for page in context.pages or [await context.new_page()]:
            if await self._session_for(page) is not None:
                self._watched.add(page)

    def _on_failed(self, request: Request) -> None:
        """A request the egress proxy refused fails in the browser: record it with the reason."""
        failure = request.failure or ""
        if "ERR_TUNNEL_CONNECTION_FAILED" not in failure and "ERR_EMPTY_RESPONSE" not in failure:
            return
        target = self.policy.target(request.url)
        reason = self.proxy.refusal(target.host, target.port) if target else None
        if reason is None:
            return
        kind = "request"
        if request.resource_type == "document":
            frame = _frame_of(request)
            kind = "frame" if frame is not None and frame.parent_frame is not None else "page"
        self._record(BlockedRequest(request.url, reason, kind))

    # -- allowedDomains: documents before they are requested --------------------
    async def _on_route(self, route: Route) -> None:
        request = route.request
        if request.resource_type != "document":
            await route.fallback()
            return
        frame = _frame_of(request)
        kind = "frame" if frame is not None and frame.parent_frame is not None else "page"
        reason = self.policy.navigation_reason(request.url) or await self._address_reason(request.url)
        if reason:
            self._record(BlockedRequest(request.url, reason, kind))
            await route.fulfill(status=204, headers=_BLOCKED_HEADERS)
            return
        if await self._redirects_watched(frame):
            await route.fallback()
        else:
            await self._fetch_unwatched(route, kind)

    async def _redirects_watched(self, frame: Frame | None) -> bool:
        """Whether a CDP session was watching this document's responses before it was requested.

        True for the tabs' later navigations and their in-process iframes. False for a popup's
        first request (no page yet), a tab's first document (its session may have started
        after the request) and out-of-process iframes (their own target).
        """
        if frame is None:
            return False
        page = frame.page
        if frame.parent_frame is not None and await self._out_of_process(frame):
            return False
        if page in self._watched:
            return True
        if await self._session_for(page) is not None:
            self._watched.add(page)  # from its next document on
        return False

    async def _address_reason(self, url: str) -> str | None:
        """The proxy would refuse this document anyway; refusing here makes it a clear step error."""
        target = self.policy.target(url)
        if target is None:
            return None
        try:
            await self.proxy.addresses(target)
        except Refused as exc:
            return str(exc)
        return None

    async def _fetch_unwatched(self, route: Route, kind: str) -> None:
        """Fetch a document with redirects off and check where a redirect would go.

        A redirect to an allowed place continues as a navigation of the page itself, which
        the route (and, by then, the page's session) sees like any other.
        """
        try:
            response = await route.fetch(max_redirects=0)
        except PlaywrightError as exc:
            log.info("document fetch failed: %s", exc.message.splitlines()[0])
            await _quietly(route.abort("failed"))
            return
        location = response.headers.get("location")
        if not (300 <= response.status < 400 and location):
            await route.fulfill(response=response)
            return
        await _quietly(response.dispose())
        target = resolve(location, route.request.url) or location
        reason = self.policy.navigation_reason(target) or await self._address_reason(target)
        if reason:
            self._record(BlockedRequest(target, reason, kind))
            await route.fulfill(status=204, headers=_BLOCKED_HEADERS)
            return
        body = _HOP_PAGE.format(attr=html.escape(target), js=json.dumps(target).replace("</", "<\\/"))
        await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body)

    # -- allowedDomains: redirects, checked when the response arrives -----------
    async def _session_for(self, page: Page) -> CDPSession | None:
        """The page's CDP session pausing document responses (created once)."""
        if page not in self._sessions:
            self._sessions[page] = asyncio.ensure_future(self._open_session(page))
            page.on("close", lambda _: self._forget(page))
        return await asyncio.shield(self._sessions[page])

    async def _open_session(self, page: Page) -> CDPSession | None:
        assert self._context is not None
        try:
            session = await self._context.new_cdp_session(page)
            info = await session.send("Target.getTargetInfo")
            main_frame = info["targetInfo"]["targetId"]  # a tab's main frame id is its target id
            session.on(
                "Fetch.requestPaused",
                lambda event: self._spawn(self._on_response(session, main_frame, event)),
            )
            await session.send("Fetch.enable", _DOCUMENT_RESPONSES)
        except PlaywrightError as exc:
            log.warning("redirect watch unavailable for a tab: %s", exc.message.splitlines()[0])
            return None
        return session

    async def _out_of_process(self, frame: Frame) -> bool:
        """Whether ``frame`` is its own CDP target (an out-of-process iframe)."""
        assert self._context is not None
        try:
            session = await self._context.new_cdp_session(frame)
        except PlaywrightError:
            return False
        await _quietly(session.detach())
        return True

    def _forget(self, page: Page) -> None:
        self._sessions.pop(page, None)
        self._watched.discard(page)

    async def _on_response(self, session: CDPSession, main_frame: str, event: dict[str, Any]) -> None:
        request_id = event["requestId"]
        status = event.get("responseStatusCode") or 0
        location = _header(event.get("responseHeaders") or [], "location")
        if 300 <= status < 400 and location:
            target = resolve(location, event["request"]["url"]) or location
            reason = self.policy.navigation_reason(target) or await self._address_reason(target)
            if reason:
                kind = "page" if event.get("frameId") == main_frame else "frame"
                self._record(BlockedRequest(target, reason, kind))
                notice = _NOTICE.format(url=html.escape(target), reason=html.escape(reason))
                refuse = {
                    "requestId": request_id,
                    "responseCode": 200,
                    "responseHeaders": _BLOCKED_CDP,
                    "body": base64.b64encode(notice.encode()).decode(),
                }
                await _quietly(session.send("Fetch.fulfillRequest", refuse))
                return
        await _quietly(session.send("Fetch.continueRequest", {"requestId": request_id}))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _frame_of(request: Request) -> Frame | None:
    """The frame a document request is for; ``None`` for a popup that has no page yet."""
    try:
        return request.frame
    except PlaywrightError:
        return None


def _header(headers: list[dict[str, str]], name: str) -> str | None:
    for header in headers:
        if header.get("name", "").lower() == name:
            return header.get("value")
    return None


async def _quietly(awaitable: Any) -> None:
    """A CDP call on a target that may already be gone (closed tab, swapped iframe)."""
    with contextlib.suppress(PlaywrightError):
        await awaitable


class NetworkSettingsError(ValueError):
    """``BROWSERFLEET_ALLOWED_NETWORKS`` has entries that cannot be parsed."""


def guard_for(
    allowed_domains: list[str] | None, settings: Settings, upstream: Upstream | None = None
) -> BrowserGuard:
    """The guard of one task under the worker's network settings."""
    try:
        network = NetworkPolicy.from_entries(settings.allow_private_networks, settings.allowed_networks)
    except ValueError as exc:
        raise NetworkSettingsError(str(exc)) from None
    return BrowserGuard(RequestPolicy.build(network, allowed_domains), upstream)
