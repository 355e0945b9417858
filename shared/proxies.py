"""Upstream proxies per country, as the operator configures them.

``BROWSERFLEET_PROXIES`` is either a JSON object mapping country codes to proxy URLs
(``{"us": "http://user:pass@host:3128", "de": "socks5://host:1080"}``) or one URL
template with ``{country}`` in it, for providers that put the country in the user name
(``http://user-country-{country}:pass@gate.example:7000``). ``BROWSERFLEET_PROXY_DEFAULT_COUNTRY``
is the country used when a task says nothing (the v2 contract's ``us``); without it such
tasks have no upstream proxy (the worker's egress guard connects to sites itself).

Only country codes travel and rest, always under the wire's name, ``proxy_country_code``
(task, session and browser records, the task view); the URLs,
which hold credentials, are read from settings by whoever connects, and shown only as
:func:`display` (scheme, host and port).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shared.settings import Settings

# The field session and browser records called it before it had one name everywhere; such
# records live until their TTL, so reads fall back to it (``stored_country_code``).
LEGACY_FIELD = "proxy_country"


def stored_country_code(raw: Mapping[str, str]) -> str | None:
    """The proxy country code of a stored session or browser record (``None``: no upstream proxy)."""
    return raw.get("proxy_country_code") or raw.get(LEGACY_FIELD) or None

SCHEMES = ("http", "socks5", "socks5h")


def table(settings: Settings) -> ProxyTable:
    """The operator's proxy table (:class:`ProxyConfigError` if it cannot be used)."""
    raw = settings.proxies.get_secret_value() if settings.proxies else ""
    return ProxyTable.parse(raw, settings.proxy_default_country)


class ProxyConfigError(ValueError):
    """``BROWSERFLEET_PROXIES`` or ``BROWSERFLEET_PROXY_DEFAULT_COUNTRY`` cannot be used."""


def display(url: str) -> str:
    """The URL without credentials, safe for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    if ":" in host:
        host = f"[{host}]"
    port = f":{parts.port}" if _port(url) else ""
    return f"{parts.scheme}://{host}{port}"


def _port(url: str) -> int | None:
    try:
        return urlsplit(url).port
    except ValueError:
        return None


def check_url(url: str) -> str:
    """The URL if it names a usable proxy; else :class:`ProxyConfigError` (without credentials)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in SCHEMES:
        raise ProxyConfigError(f"proxy {display(url)}: scheme must be one of {', '.join(SCHEMES)}")
    if not parts.hostname or not _port(url):
        raise ProxyConfigError(f"proxy {display(url)}: needs a host and a port")
    return url


@dataclass(frozen=True)
class ProxyTable:
    """Which upstream proxy serves which country."""

    routes: dict[str, str] = field(default_factory=dict, repr=False)
    template: str | None = field(default=None, repr=False)
    default_country: str | None = None

    @classmethod
    def parse(cls, raw: str, default_country: str | None = None) -> ProxyTable:
        raw = raw.strip()
        routes: dict[str, str] = {}
        template = None
        if raw.startswith("{"):
            try:
                data = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ProxyConfigError(f"BROWSERFLEET_PROXIES is not valid JSON ({exc.msg})") from None
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
                raise ProxyConfigError("BROWSERFLEET_PROXIES maps country codes to proxy URLs (strings)")
            routes = {k.strip().lower(): check_url(v.strip()) for k, v in data.items()}
        elif raw:
            if "{country}" not in raw:
                raise ProxyConfigError("BROWSERFLEET_PROXIES: a JSON object or a URL template with {country}")
            template = check_url(raw.replace("{country}", "us")) and raw
        country = (default_country or "").strip().lower() or None
        table = cls(routes, template, country)
        if country is not None and table.url_for(country) is None:
            raise ProxyConfigError(f"BROWSERFLEET_PROXY_DEFAULT_COUNTRY {country!r} has no proxy")
        return table

    def url_for(self, country: str) -> str | None:
        """The proxy URL (with credentials) for ``country``, or None if none is configured."""
        country = country.lower()
        if country in self.routes:
            return self.routes[country]
        return self.template.replace("{country}", country) if self.template else None

    def countries(self) -> list[str]:
        """The configured countries (``*`` stands for any, with a template)."""
        return sorted(self.routes) + (["*"] if self.template else [])

    def choose(self, requested: str | None, explicit: bool) -> str | None:
        """The country a new session uses: the one asked for, the default when nothing was
        asked, or None (direct). Raises :class:`ProxyConfigError` for a country with no proxy."""
        if not explicit:
            return self.default_country
        if requested is None:
            return None
        if self.url_for(requested) is None:
            offered = ", ".join(self.countries()) or "none"
            raise ProxyConfigError(f"no proxy configured for country {requested!r} (configured: {offered})")
        return requested.lower()
