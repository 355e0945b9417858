"""The producer's browser sessions (``producer.browsers``): a fleet Chromium the caller drives over CDP.

``create`` validates, admits (the queue's backlog limit and the active-browser limit, per
scoped key or fleet-wide), writes the record and sends ``browserfleet.browser_session``
to the agent queue: a worker takes it like a task, holds one slot of its concurrency
for the session's life and registers where its CDP relay serves it. The caller gets a
``cdpUrl`` on the HTTP API (``/cdp/{token}``), never a worker's address or a DevTools port.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from celery import Celery
from pydantic import ValidationError

from shared import crypto, custom_proxies, proxies
from shared.broker import BrokerQueues
from shared.browser_models import (
    MAX_TIMEOUT_MIN,
    BrowserSessionStatus,
    CreateBrowserSessionRequest,
)
from shared.browser_store import BrowserRecord
from shared.celery_config import BROWSER_TASK
from shared.proxies import ProxyConfigError, ProxyTable
from shared.settings import Settings
from shared.stores import Stores

from .admission import Admission
from .errors import (
    BrowserTimeoutLimitError,
    SessionNotFoundError,
    SessionValidationError,
    TooManySessionsError,
    field_errors,
)
from .profiles import Profiles

BrowserPayload = CreateBrowserSessionRequest | Mapping[str, Any] | None


def custom_proxy_token(proxy: Any, settings: Settings, field: str, owner: str) -> tuple[str | None, bool]:
    """A ``customProxy`` encrypted for the record (and its ``ignoreCertErrors``), or a 422 naming ``field``.

    Only syntax is checked here; the worker checks the proxy's address against its network policy.
    """
    if proxy is None:
        return None, False
    host = proxy.host.strip()
    if not host or (any(c in host for c in "/\\@?#[] \t\r\n") and not _bracketed_ip(host)):
        raise SessionValidationError(
            [{"loc": [field, "host"], "msg": "a host name or address, nothing else", "type": "value_error"}]
        )
    if not crypto.key_list(settings.secrets_key):
        raise SessionValidationError([{"loc": [field], "msg": crypto.MISSING_KEY, "type": "secrets_key"}])
    data = {
        "host": host.strip("[]"),
        "port": proxy.port,
        "username": proxy.username,
        "password": proxy.password,
        "ignoreCertErrors": proxy.ignore_cert_errors,
    }
    token = crypto.encrypt_json(data, settings.secrets_key, purpose=custom_proxies.PURPOSE, owner=owner)
    return token, proxy.ignore_cert_errors


def _bracketed_ip(host: str) -> bool:
    return host.startswith("[") and host.endswith("]") and ":" in host


class Browsers:
    """Browser sessions: create, read, list, stop, downloads."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        profiles: Profiles,
        celery: Celery,
        broker: Callable[[], BrokerQueues],
    ) -> None:
        self.settings = settings
        self.store = stores.browsers
        self.profiles = profiles
        self.celery = celery
        self._broker = broker

    @cached_property
    def admission(self) -> Admission:
        """The agent queue's backlog limit: a browser session waits in that queue for a worker slot."""
        s = self.settings
        return Admission(self._broker(), s.queue, s.max_queued_tasks, s.retry_after_s)

    @cached_property
    def proxy_table(self) -> ProxyTable:
        return proxies.table(self.settings)

    def create(self, payload: BrowserPayload = None, *, owner: str | None = None) -> BrowserRecord:
        """Record and enqueue a new browser session (403 over 240 minutes, 429 over the limits)."""
        request = _validate(payload)
        if request.timeout > MAX_TIMEOUT_MIN:
            raise BrowserTimeoutLimitError()
        self.profiles.use(request.profile_id, owner)
        limit = self.settings.max_active_browsers
        if limit > 0 and self.count_active(owner) >= limit:
            raise TooManySessionsError()
        browser_id = uuid.uuid4()  # the customProxy token is bound to it
        token, ignore_certs = custom_proxy_token(
            request.custom_proxy, self.settings, "customProxy", str(browser_id)
        )
        proxy_country_code = None
        if token is None:
            try:
                proxy_country_code = self.proxy_table.choose(
                    request.proxy_country_code, "proxy_country_code" in request.model_fields_set
                )
            except ProxyConfigError as exc:
                raise SessionValidationError(
                    [{"loc": ["proxyCountryCode"], "msg": str(exc), "type": "proxy_country_not_configured"}]
                ) from None
        self.admission.check(1)
        record = BrowserRecord.new(
            id=browser_id,
            owner=owner,
            timeout_min=request.timeout,
            screen_width=request.browser_screen_width,
            screen_height=request.browser_screen_height,
            allow_resizing=request.allow_resizing,
            profile_id=request.profile_id,
            proxy_country_code=proxy_country_code,
            custom_proxy_token=token,
            ignore_cert_errors=ignore_certs,
            enable_recording=request.enable_recording,
            metadata=request.metadata or {},
        )
        self.store.create(record)
        try:
            self.celery.send_task(
                BROWSER_TASK, args=[str(record.id)], task_id=str(record.id), queue=self.settings.queue
            )
        except BaseException:
            self.store.delete(str(record.id))
            raise
        return record

    def get(self, browser_id: str | uuid.UUID, *, owner: str | None = None) -> BrowserRecord:
        record = self.store.load(str(browser_id), owner)
        if record is None:
            raise SessionNotFoundError(str(browser_id))
        return record

    def list(
        self,
        page_size: int = 10,
        page_number: int = 1,
        filter_by: BrowserSessionStatus | None = None,
        *,
        owner: str | None = None,
    ) -> tuple[list[BrowserRecord], int]:
        status = filter_by.value if filter_by is not None else None
        ids, total = self.store.page_ids(page_size, page_number, owner=owner, status=status)
        records = [r for r in self.store.load_many(ids) if filter_by is None or r.status == filter_by]
        return records, total

    def stop(self, browser_id: str | uuid.UUID, *, owner: str | None = None) -> BrowserRecord:
        """Stop for good; the worker closes the browser and its connections within a tick."""
        record = self.get(browser_id, owner=owner)
        self.store.stop(str(record.id))
        return self.get(record.id, owner=owner)

    def count_active(self, owner: str | None = None) -> int:
        records = self.store.load_many(self.store.active_ids(owner))
        return sum(r.status == BrowserSessionStatus.active for r in records)

    def downloads(
        self, browser_id: str | uuid.UUID, *, owner: str | None = None
    ) -> builtins.list[dict[str, Any]]:
        return self.store.downloads(str(self.get(browser_id, owner=owner).id))


def _validate(payload: BrowserPayload) -> CreateBrowserSessionRequest:
    try:
        if isinstance(payload, CreateBrowserSessionRequest):
            return payload
        return CreateBrowserSessionRequest.model_validate(dict(payload or {}))
    except ValidationError as exc:
        raise SessionValidationError(field_errors(exc)) from None
