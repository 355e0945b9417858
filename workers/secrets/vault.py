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
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pyotp

from shared.masking import PLACEHOLDER as _PLACEHOLDER
from shared.masking import Masker, placeholder
from shared.models import MIN_SECRET_CHARS
from shared.urls import parse_url

TOTP_SUFFIX = "_totp"


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
        values = dict(secrets or {})
        # Too short to mask reliably ("123" is in ordinary text): never revealed (the producer
        # refuses them; a 1Password field may still hold one).
        self._too_short = {n for n, v in values.items() if len(v) < MIN_SECRET_CHARS}
        self._values = {n: v for n, v in values.items() if n not in self._too_short}
        self._scopes = {name: tuple(sites) for name, sites in (scopes or {}).items()}
        self._masker = Masker(self._values)
        self._placeholders = {name: placeholder(name) for name in self._values}
        self._issued_codes: dict[str, str] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._values)

    def _all_values(self) -> dict[str, str]:
        return {**{n: "" for n in self._too_short}, **self._values}

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
        values = {**other._all_values(), **self._all_values()}
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
            self._check_known(name)
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
            self._check_known(name)
            self._check_scope(name, url)

    def _check_known(self, name: str) -> None:
        if name in self._too_short:
            raise UnknownSecretError(
                f"secret {name!r} is shorter than {MIN_SECRET_CHARS} characters and is never typed "
                "(it could not be kept out of the page text)"
            )
        if name not in self._values:
            raise UnknownSecretError(f"no secret named {name!r}; available: {self.names}")

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
        text = self._masker.mask(text, self._placeholders)
        for code, name in self._issued_codes.items():
            if code in text:
                text = text.replace(code, self.placeholder(name))
        return text
