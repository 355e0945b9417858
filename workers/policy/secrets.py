"""Secrets: the model sees ``<secret>name</secret>``; the browser gets the value.

``reveal`` substitutes values at the moment an action runs; ``mask`` turns any
value back into its placeholder wherever text leaves the browser or the worker.
Names ending in ``_totp`` hold a TOTP seed (base32, or an ``otpauth://`` URI):
revealing one yields the current code. A secret may carry a *scope* (the sites
it belongs to, e.g. a 1Password item's websites): it is then revealed only for
pages on those sites.
"""

from __future__ import annotations

import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

import pyotp

from shared.redaction import placeholder
from shared.urls import parse_url

_PLACEHOLDER = re.compile(r"<secret>([A-Za-z0-9_\-]+)</secret>")
TOTP_SUFFIX = "_totp"
# A page may show a long value cut short ("sk-live-abc…"): any run of this many characters
# of a secret is masked too. Long enough that ordinary page text never matches by chance.
MIN_FRAGMENT = 16


class UnknownSecretError(KeyError):
    """The model asked for a secret the task does not have (or may not use here)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class SecretScopeError(UnknownSecretError):
    """The secret exists but belongs to other sites; a subclass so every caller refuses it."""


@dataclass(frozen=True)
class SiteScope:
    """A site a scoped secret may be typed on: a host, optionally its subdomains, optionally one port."""

    host: str
    subdomains: bool = True
    port: int | None = None

    def matches(self, url: str) -> bool:
        parsed = parse_url(url)
        if parsed is None or not parsed.web:
            return False
        if self.port is not None and parsed.port != self.port:
            return False
        host = parsed.host
        return host == self.host or (self.subdomains and host.endswith("." + self.host))

    def describe(self) -> str:
        host = f"{self.host}:{self.port}" if self.port else self.host
        return f"{host} (and subdomains)" if self.subdomains else host


def totp_code(seed: str) -> str:
    """The current code for a base32 seed or an ``otpauth://`` URI; ``ValueError`` if invalid."""
    try:
        if seed.startswith("otpauth://"):
            otp = pyotp.parse_uri(seed)
            if not isinstance(otp, pyotp.TOTP):
                raise ValueError("not a TOTP URI")
            return otp.now()
        return pyotp.TOTP(seed.replace(" ", "").upper()).now()
    except (binascii.Error, ValueError, TypeError) as exc:
        raise ValueError(f"not a valid TOTP seed ({type(exc).__name__})") from None


class SecretVault:
    """The decrypted secrets of one task; lives only in the worker's memory."""

    def __init__(
        self,
        secrets: Mapping[str, str] | None = None,
        scopes: Mapping[str, Iterable[SiteScope]] | None = None,
    ) -> None:
        self._values = dict(secrets or {})
        self._scopes = {name: tuple(sites) for name, sites in (scopes or {}).items()}
        # Every form a value may take in text (as typed, URL-encoded, JSON-escaped),
        # longest first so a value that contains another is masked whole.
        forms = {(form, name) for name, v in self._values.items() if v for form in _forms(v)}
        self._by_length = sorted(forms, key=lambda p: (-len(p[0]), p[1]))
        self._long = [(v, n) for n, v in self._values.items() if len(v) > MIN_FRAGMENT]
        self._issued_codes: dict[str, str] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def placeholder(self, name: str) -> str:
        return placeholder(name)

    def has_placeholder(self, text: str) -> bool:
        return bool(_PLACEHOLDER.search(text))

    def scope(self, name: str) -> tuple[SiteScope, ...]:
        """The sites secret ``name`` is restricted to (empty: any page the task may open)."""
        return self._scopes.get(name, ())

    def merged(self, other: SecretVault) -> SecretVault:
        """A vault with both sets of secrets; on a name clash, ``self`` wins."""
        values = {**other._values, **self._values}
        scopes = {**other._scopes, **self._scopes}
        for name in self._values:
            if name not in self._scopes:
                scopes.pop(name, None)
        return SecretVault(values, scopes)

    def reveal(self, text: str, url: str | None = None) -> str:
        """Replace every placeholder in ``text`` with its value (TOTP: a fresh code).

        ``url`` is the page the value goes to; a scoped secret is refused anywhere else.
        """

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self._values:
                raise UnknownSecretError(f"no secret named {name!r}; available: {self.names}")
            self._check_scope(name, url)
            if name.endswith(TOTP_SUFFIX):
                try:
                    code = totp_code(self._values[name])
                except ValueError as exc:
                    raise UnknownSecretError(f"secret {name!r}: {exc}") from None
                self._issued_codes[code] = name
                return code
            return self._values[name]

        return _PLACEHOLDER.sub(substitute, text)

    def check_use(self, text: str, url: str) -> None:
        """Refuse (as ``reveal`` would) if any placeholder in ``text`` may not be used at ``url``.

        For the other documents a value would be visible to (the tab holding a frame).
        """
        for match in _PLACEHOLDER.finditer(text):
            name = match.group(1)
            if name not in self._values:
                raise UnknownSecretError(f"no secret named {name!r}; available: {self.names}")
            self._check_scope(name, url)

    def _check_scope(self, name: str, url: str | None) -> None:
        sites = self._scopes.get(name)
        if not sites:
            return
        if url is None or not any(site.matches(url) for site in sites):
            allowed = ", ".join(site.describe() for site in sites)
            where = f"on {url[:200]}" if url else "without a page"
            raise SecretScopeError(f"secret {name!r} may not be used {where}; it belongs to: {allowed}")

    def contains_secret(self, text: str) -> bool:
        """Whether ``text`` shows any secret value (or a long piece of one)."""
        return bool(text) and self.mask(text) != text

    def mask(self, text: str) -> str:
        """Replace every known secret value (and issued TOTP code) in ``text`` by its placeholder."""
        if not text or not self._values:
            return text
        for value, name in self._by_length:
            if value in text:
                text = text.replace(value, self.placeholder(name))
        for value, name in self._long:
            text = _mask_fragments(text, value, self.placeholder(name))
        for code, name in self._issued_codes.items():
            if code in text:
                text = text.replace(code, self.placeholder(name))
        return text


def _forms(value: str) -> set[str]:
    forms = {value, quote(value, safe=""), quote_plus(value, safe=""), json.dumps(value)[1:-1]}
    return {f for f in forms if f}


def _mask_fragments(text: str, value: str, placeholder: str) -> str:
    """Mask every run of at least ``MIN_FRAGMENT`` characters of ``value`` found in ``text``."""
    spans: list[tuple[int, int]] = []
    for offset in range(len(value) - MIN_FRAGMENT + 1):
        window = value[offset : offset + MIN_FRAGMENT]
        start = text.find(window)
        while start >= 0:
            end = start + MIN_FRAGMENT
            left, right = start, end
            # Grow the match as far as text and value agree, both ways.
            while left > 0 and offset - (start - left) > 0 and (
                text[left - 1] == value[offset - (start - left) - 1]
            ):
                left -= 1
            while right < len(text) and offset + (right - start) < len(value) and (
                text[right] == value[offset + (right - start)]
            ):
                right += 1
            spans.append((left, right))
            start = text.find(window, start + 1)
    if not spans:
        return text
    merged: list[list[int]] = []
    for left, right in sorted(spans):
        if merged and left <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], right)
        else:
            merged.append([left, right])
    for left, right in reversed(merged):
        text = text[:left] + placeholder + text[right:]
    return text
