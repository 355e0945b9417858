"""Symmetric encryption of task secrets for transport and rest (Fernet).

Producers encrypt, workers decrypt; the key (``BROWSERFLEET_SECRETS_KEY``) is shared
by both and never stored in Redis. Plain secret values exist only in a worker's memory.
"""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken


class SecretsKeyError(RuntimeError):
    """No key configured, or the key cannot decrypt what was stored."""


def new_key() -> str:
    """A fresh key for ``BROWSERFLEET_SECRETS_KEY``."""
    return Fernet.generate_key().decode()


MISSING_KEY = (
    "secrets need BROWSERFLEET_SECRETS_KEY (the same key on producers and workers); "
    "generate one with: browserfleet keygen"
)


def _fernet(key: str | None) -> Fernet:
    if not key:
        raise SecretsKeyError(MISSING_KEY)
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise SecretsKeyError(f"BROWSERFLEET_SECRETS_KEY is not a valid Fernet key: {exc}") from None


def encrypt_json(value: object, key: str | None) -> str:
    """Encrypt a JSON-able value to an opaque token."""
    return _fernet(key).encrypt(json.dumps(value).encode()).decode()


def decrypt_json(token: str, key: str | None) -> object:
    """Decrypt a token made by :func:`encrypt_json`."""
    try:
        return json.loads(_fernet(key).decrypt(token.encode()))
    except InvalidToken:
        raise SecretsKeyError("cannot decrypt task secrets: BROWSERFLEET_SECRETS_KEY differs") from None
