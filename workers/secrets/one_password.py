"""``opVaultId``: a task's credentials, read from a 1Password vault just in time, in the worker.

The worker authenticates with the official ``onepassword-sdk`` and a service-account
token from its own settings (``OP_SERVICE_ACCOUNT_TOKEN``), lists the vault's items and
reads each one. Every usable field becomes a secret named ``<item>_<field>`` (a TOTP
field becomes ``<item>_totp``, so the agent types a fresh code), restricted to the item's
website domains when it has any. The producer never touches 1Password, and the token
never leaves this module: not in the vault, errors, logs or Redis.

Exceptions::

    OnePasswordError        the task ends failed with this message
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from importlib import metadata
from typing import Any, Protocol

from shared.settings import Settings
from shared.urls import DEFAULT_PORTS, parse_url
from workers.secrets.vault import TOTP_SUFFIX, SecretVault, SiteScope

INTEGRATION_NAME = "browserfleet"
# Field types whose values are things one types into a page; URLs, references, SSH keys,
# addresses and menus are not.
USABLE_TYPES = frozenset(
    {"Text", "Concealed", "Email", "Phone", "CreditCardNumber", "CreditCardType", "MonthYear", "Date", "Totp"}
)
MAX_PARALLEL_GETS = 4


class OnePasswordError(RuntimeError):
    """The vault could not be read; the message is safe to show (it never holds the token)."""


class Website(Protocol):
    @property
    def url(self) -> str: ...
    @property
    def autofill_behavior(self) -> Any: ...


class Field(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def field_type(self) -> Any: ...
    @property
    def value(self) -> str: ...


class ItemOverview(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...


class Item(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def fields(self) -> Sequence[Field]: ...
    @property
    def websites(self) -> Sequence[Website]: ...


class Items(Protocol):
    """The part of ``onepassword.Items`` browserfleet uses."""

    async def list(self, vault_id: str, *filters: Any) -> Sequence[ItemOverview]: ...

    async def get(self, vault_id: str, item_id: str) -> Item: ...


class Client(Protocol):
    """The part of ``onepassword.Client`` browserfleet uses."""

    @property
    def items(self) -> Items: ...


Authenticate = Callable[..., Awaitable[Client]]


def sdk_authenticate() -> Authenticate:
    """``onepassword.Client.authenticate``; a clear error when the SDK is not installed."""
    try:
        from onepassword import Client as SdkClient
    except ImportError:
        raise OnePasswordError(
            "opVaultId needs the onepassword-sdk package on the worker: "
            "pip install 'browserfleet[onepassword]'"
        ) from None
    return SdkClient.authenticate


def _version() -> str:
    try:
        return metadata.version("browserfleet")
    except metadata.PackageNotFoundError:
        return "0"


async def read_vault(vault_id: str, token: str, authenticate: Authenticate | None = None) -> SecretVault:
    """Every usable field of every active item in ``vault_id``, as scoped secrets."""
    auth = authenticate or sdk_authenticate()
    try:
        client = await auth(auth=token, integration_name=INTEGRATION_NAME, integration_version=_version())
        overviews = await client.items.list(vault_id)
        active = [o for o in overviews if _value(getattr(o, "state", "active")) != "archived"]
        gate = asyncio.Semaphore(MAX_PARALLEL_GETS)

        async def get(item_id: str) -> Item:
            async with gate:
                return await client.items.get(vault_id, item_id)

        items = await asyncio.gather(*(get(o.id) for o in active))
    except OnePasswordError:
        raise
    except Exception as exc:  # the SDK raises plain Exception with a message for most errors
        raise OnePasswordError(_describe(exc, vault_id, token)) from None
    return vault_from_items(items)


def _describe(exc: Exception, vault_id: str, token: str) -> str:
    message = str(exc) or type(exc).__name__
    if token:
        message = message.replace(token, "<token>")
    if type(exc).__name__ == "RateLimitExceededException":
        return f"1Password rate limit exceeded while reading vault {vault_id!r}; retry later ({message})"
    return f"1Password could not read vault {vault_id!r}: {message[:300]}"


def vault_from_items(items: Iterable[Item]) -> SecretVault:
    """Name, collect and scope the fields of ``items``."""
    values: dict[str, str] = {}
    scopes: dict[str, tuple[SiteScope, ...]] = {}
    bases: set[str] = set()
    for item in items:
        base = _slug(item.title) or "item"
        if base in bases:
            base = f"{base}_{_slug(item.id)[:8]}"
        bases.add(base)
        sites = _scopes(item.websites)
        if item.websites and not sites:
            continue  # every website says "never autofill": usable nowhere
        for field in item.fields:
            kind = _value(field.field_type)
            if kind not in USABLE_TYPES or not field.value:
                continue
            name = _field_name(base, field, kind, values)
            values[name] = field.value
            if sites:
                scopes[name] = sites
    return SecretVault(values, scopes)


def _field_name(base: str, field: Field, kind: str, taken: dict[str, str]) -> str:
    label = _slug(field.title) or _slug(field.id) or "field"
    if kind == "Totp":
        name = base + TOTP_SUFFIX
        if name in taken:
            name = f"{base}_{label}{TOTP_SUFFIX}"
    else:
        name = f"{base}_{label}"
    if name in taken:
        name = f"{name}_{_slug(field.id)}"
    return name


def _scopes(websites: Sequence[Website]) -> tuple[SiteScope, ...]:
    """1Password's autofill rules as sites: exact host (and port), or host and subdomains."""
    sites = []
    for site in websites:
        behavior = _value(site.autofill_behavior)
        if behavior == "Never":
            continue
        url = site.url if "://" in site.url else "https://" + site.url
        parsed = parse_url(url)
        if parsed is None or not parsed.host:
            continue
        exact = behavior == "ExactDomain"
        explicit = parsed.port if parsed.port != DEFAULT_PORTS.get(parsed.scheme) else None
        sites.append(SiteScope(host=parsed.host, subdomains=not exact, port=explicit if exact else None))
    return tuple(sites)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _value(enum_or_str: Any) -> str:
    return str(getattr(enum_or_str, "value", enum_or_str))


async def vault_for(
    vault_id: str, settings: Settings, authenticate: Authenticate | None = None
) -> SecretVault:
    """The secrets of 1Password vault ``vault_id``, read with the worker's service-account token."""
    token = settings.op_service_account_token
    if token is None or not token.get_secret_value():
        raise OnePasswordError(
            "opVaultId needs OP_SERVICE_ACCOUNT_TOKEN (a 1Password service-account token) on the worker"
        )
    return await read_vault(vault_id, token.get_secret_value(), authenticate)
