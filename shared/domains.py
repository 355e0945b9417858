"""Allowed-domain patterns: parsing (producer validation) and matching (worker policy).

Pure functions, no browser: ``example.com`` allows that host and ``www.example.com``;
``*.example.com`` allows the apex and every subdomain; an optional scheme prefix
(``https://example.com``) also pins the scheme, and an optional ``:port`` the port.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.urls import parse_url

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SCHEMES = {"http", "https"}


@dataclass(frozen=True)
class DomainPattern:
    """One parsed ``allowedDomains`` entry."""

    host: str
    wildcard: bool
    scheme: str | None
    port: int | None = None

    def matches(self, scheme: str, host: str, port: int | None = None) -> bool:
        host = host.lower().rstrip(".")
        if self.scheme and scheme != self.scheme:
            return False
        if self.port is not None and port != self.port:
            return False
        if host == self.host:
            return True
        if self.wildcard:
            return host.endswith("." + self.host)
        return host == "www." + self.host


def parse_pattern(raw: str) -> DomainPattern:
    """Parse one pattern; raises ``ValueError`` saying what is wrong with it."""
    text = raw.strip().lower()
    scheme: str | None = None
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme not in _SCHEMES:
            raise ValueError(f"{raw!r}: scheme must be http or https")
    text = text.rstrip("/")
    host, _, port = text.partition(":")
    if "/" in text or "?" in text or "#" in text:
        raise ValueError(f"{raw!r}: a domain pattern has no path, query or fragment")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{raw!r}: invalid port")
    wildcard = host.startswith("*.")
    if wildcard:
        host = host[2:]
    if "*" in host:
        raise ValueError(f"{raw!r}: '*' is only allowed as a leading '*.' label")
    labels = host.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise ValueError(f"{raw!r}: not a valid host name")
    if len(labels) < 2 and host != "localhost":
        raise ValueError(f"{raw!r}: too broad; name a registrable domain such as example.com")
    return DomainPattern(host=host, wildcard=wildcard, scheme=scheme, port=int(port) if port else None)


def url_allowed(url: str, patterns: list[DomainPattern]) -> bool:
    """Whether ``url``'s host, as the browser parses it, matches one of ``patterns``.

    ``about:``/``data:``/``blob:`` documents pass (an allowed page may hold them; they reach
    no new host); they are never places a secret may be typed (see the worker's policy).
    """
    parsed = parse_url(url)
    if parsed is None:
        return False
    if parsed.scheme in {"about", "data", "blob"}:
        return True
    if parsed.scheme not in {"http", "https", "ws", "wss"} or not parsed.host:
        return False
    return any(p.matches(parsed.scheme, parsed.host, parsed.port) for p in patterns)
