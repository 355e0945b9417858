"""Secrets: the model sees ``<secret>name</secret>``; the browser gets the value.

``reveal`` substitutes values at the moment an action runs; ``mask`` turns any
value back into its placeholder wherever text leaves the browser or the worker.
Names ending in ``_totp`` hold a TOTP seed: revealing one yields the current code.
"""

from __future__ import annotations

import re

import pyotp

_PLACEHOLDER = re.compile(r"<secret>([A-Za-z0-9_\-]+)</secret>")
TOTP_SUFFIX = "_totp"


class UnknownSecretError(KeyError):
    """The model asked for a secret name the task does not have."""


class SecretVault:
    """The decrypted secrets of one task; lives only in the worker's memory."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self._values = dict(secrets or {})
        # Longest first, so a value that contains another is masked whole.
        self._by_length = sorted(
            ((v, n) for n, v in self._values.items() if v), key=lambda p: -len(p[0])
        )
        self._issued_codes: dict[str, str] = {}

    @property
    def names(self) -> list[str]:
        return sorted(self._values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def placeholder(self, name: str) -> str:
        return f"<secret>{name}</secret>"

    def has_placeholder(self, text: str) -> bool:
        return bool(_PLACEHOLDER.search(text))

    def reveal(self, text: str) -> str:
        """Replace every placeholder in ``text`` with its value (TOTP: a fresh code)."""

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self._values:
                raise UnknownSecretError(f"no secret named {name!r}; available: {self.names}")
            if name.endswith(TOTP_SUFFIX):
                code = pyotp.TOTP(self._values[name]).now()
                self._issued_codes[code] = name
                return code
            return self._values[name]

        return _PLACEHOLDER.sub(substitute, text)

    def mask(self, text: str) -> str:
        """Replace every known secret value (and issued TOTP code) in ``text`` by its placeholder."""
        if not text or not self._values:
            return text
        for value, name in self._by_length:
            if value in text:
                text = text.replace(value, self.placeholder(name))
        for code, name in self._issued_codes.items():
            if code in text:
                text = text.replace(code, self.placeholder(name))
        return text
