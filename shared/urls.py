"""URLs read as the browser reads them: every allow/deny decision on a URL goes through here.

Python's ``urlsplit`` and Chromium disagree on hostile input: with the base
``https://example.com/login`` a ``Location: /\\evil.test/`` is a path to Python and the
host ``evil.test`` to the browser; ``https://evil.test\\@example.com/`` is example.com to
Python and evil.test to the browser; tabs and newlines are dropped by the browser, hosts
are percent-decoded and IDNA-mapped. So URLs are parsed with a WHATWG URL parser (ada,
the parser Node.js uses), and a URL it rejects is refused rather than guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import ada_url

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
_KNOWN_SCHEMES = frozenset({
    "http", "https", "ws", "wss", "ftp", "file", "data", "blob", "about", "javascript",
    "filesystem", "chrome", "chrome-extension", "chrome-untrusted", "devtools", "view-source",
    "mailto", "tel", "intent",
})

DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
WEB_SCHEMES = frozenset({"http", "https"})
MAX_URL_CHARS = 2 * 1024 * 1024  # Chromium refuses longer URLs


@dataclass(frozen=True)
class ParsedUrl:
    """One URL as the WHATWG URL Standard reads it."""

    href: str  # the serialisation the browser would load
    scheme: str  # lower-case, without ':'
    host: str  # lower-case ASCII (IDNA), no brackets around IPv6, no trailing dot; "" if none
    port: int | None  # explicit, else the scheme's default, else None
    origin: str  # "null" for opaque origins (data:, javascript:, file:, ...)

    @property
    def web(self) -> bool:
        """An http(s) URL with a host: the only kind a secret may ever be typed into."""
        return self.scheme in WEB_SCHEMES and bool(self.host)


def parse_url(url: str, base: str | None = None) -> ParsedUrl | None:
    """``url`` (relative to ``base`` if given) parsed like the browser does; ``None`` if invalid."""
    if len(url) > MAX_URL_CHARS:
        return None
    try:
        parsed = ada_url.URL(url, base) if base else ada_url.URL(url)
    except ValueError:
        return None
    scheme = parsed.protocol.removesuffix(":").lower()
    host = parsed.hostname.lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    host = host.rstrip(".")
    port = int(parsed.port) if parsed.port else DEFAULT_PORTS.get(scheme)
    return ParsedUrl(href=parsed.href, scheme=scheme, host=host, port=port, origin=parsed.origin)


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries a user name or password (``https://user:pass@host/``)."""
    try:
        parsed = ada_url.URL(url)
    except ValueError:
        return False
    return bool(parsed.username or parsed.password)


def with_scheme(text: str) -> str:
    """What a person means by ``example.com/a``: ``https://`` unless the text names a scheme.

    ``https:\\evil.test`` names one (the browser reads it as ``https://evil.test/``), while
    ``localhost:8080`` does not (``localhost`` is no scheme).
    """
    text = text.strip()
    match = _SCHEME.match(text)
    if match and match.group(1).lower() in _KNOWN_SCHEMES:
        return text
    return "https://" + text


def resolve(location: str, base: str) -> str | None:
    """Where a redirect's ``Location`` (or a link) relative to ``base`` really goes."""
    parsed = parse_url(location, base)
    return parsed.href if parsed else None


def scheme_of(url: str) -> str:
    """The scheme the browser would see (``""`` when the URL does not parse)."""
    parsed = parse_url(url)
    return parsed.scheme if parsed else ""
