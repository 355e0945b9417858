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
    host = _one_dot_less(_unbracketed(parsed.hostname.lower()))
    port = int(parsed.port) if parsed.port else DEFAULT_PORTS.get(scheme)
    return ParsedUrl(href=parsed.href, scheme=scheme, host=host, port=port, origin=parsed.origin)


# Characters that end or restructure a host in a URL: a host holding one is no host name.
_NOT_IN_HOST = frozenset("/\\?#@:[] \t\r\n\x00")
MAX_HOST_CHARS = 1024


def host_name(host: str) -> str | None:
    """The one spelling of a host that every name decision uses, or ``None`` if it is no host.

    What the browser (the WHATWG host parser) makes of it: percent-decoded, IDNA-mapped
    (fullwidth letters and ideographic full stops become ASCII, Unicode becomes punycode),
    lower-case, numeric IPv4 forms (``0x7f.1``, ``2130706433``) as dotted quads, IPv6 in its
    short form without brackets; then one trailing dot (the DNS root) dropped. A name with
    an empty label after that (``a..b``, ``metadata.google.internal..``) is refused: name
    servers and proxies disagree on it. Used by the egress guard on both paths (direct, and
    through an upstream proxy), so a check and the name sent on are the same name.
    """
    if not host or len(host) > MAX_HOST_CHARS:
        return None
    bare = _unbracketed(host)
    if ":" in bare:  # an IPv6 literal, or nothing a URL can hold
        text = f"[{bare}]"
    elif any(c in _NOT_IN_HOST for c in host):
        return None
    else:
        text = host
    try:
        parsed = ada_url.URL(f"http://{text}/")
    except ValueError:
        return None
    if parsed.pathname != "/" or parsed.username or parsed.port:
        return None
    name = _one_dot_less(_unbracketed(parsed.hostname.lower()))
    if not name or name.startswith(".") or name.endswith(".") or ".." in name:
        return None
    return name


def _unbracketed(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _one_dot_less(host: str) -> str:
    return host[:-1] if host.endswith(".") else host


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
