"""Encryption of what must not rest in plain text: task secrets, session and profile browser state.

Producers encrypt, workers decrypt; the keys (``BROWSERFLEET_SECRETS_KEY``) are shared by both
and never stored in Redis. Plain values exist only in a worker's memory.

**Rotation.** ``BROWSERFLEET_SECRETS_KEY`` holds one key or several, comma-separated, newest
first. New ciphertexts use the newest; every listed key still decrypts. To rotate: put a new
key in front, deploy producers and workers, and drop the old key once everything written with
it has expired or been rewritten (task records: ``BROWSERFLEET_RECORD_TTL_S``; session state: the
idle timeout; profiles: their next write).

**Binding.** Each ciphertext is AES-256-GCM (AEAD) with its *purpose* (``task-secrets``,
``session-state``, ``profile-state``) and *owner* (the task, session or profile id) as associated
data: a token copied to another record, or used for another purpose, does not decrypt. The
format is ``bf2.<key id>.<base64url(nonce | ciphertext | tag)>``; the AES key is derived from the
configured key with HKDF (so ``browserfleet keygen`` keys serve both formats), and the key id
names which configured key sealed it.

**Migration.** Tokens written before (plain Fernet, unbound) still decrypt with any listed key;
they are replaced by the bound format at their record's next write.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Sequence
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

TASK_SECRETS = "task-secrets"
SESSION_STATE = "session-state"
PROFILE_STATE = "profile-state"

_PREFIX = "bf2."
_NONCE = 12

KeySetting = SecretStr | str | None  # what settings hold: one key or several, comma-separated, newest first


class SecretsKeyError(RuntimeError):
    """No key configured, or no configured key can decrypt what was stored."""


def new_key() -> str:
    """A fresh key for ``BROWSERFLEET_SECRETS_KEY``."""
    return Fernet.generate_key().decode()


MISSING_KEY = (
    "secrets need BROWSERFLEET_SECRETS_KEY (the same key on producers and workers); "
    "generate one with: browserfleet keygen"
)


class _Key:
    """One configured key: its Fernet (old tokens) and its derived AEAD key (new ones)."""

    def __init__(self, text: str) -> None:
        try:
            self.fernet = Fernet(text.encode())
            raw = base64.urlsafe_b64decode(text.encode())
        except (ValueError, binascii.Error) as exc:
            message = f"BROWSERFLEET_SECRETS_KEY holds a key that is not a valid Fernet key: {exc}"
            raise SecretsKeyError(message) from None
        self.id = hashlib.sha256(b"browserfleet key id\0" + raw).hexdigest()[:8]
        derived = HKDF(hashes.SHA256(), 32, salt=None, info=b"browserfleet aead v2").derive(raw)
        self.aead = AESGCM(derived)


@lru_cache(maxsize=8)
def _ring(keys: tuple[str, ...]) -> tuple[_Key, ...]:
    return tuple(_Key(k) for k in keys)


def key_list(setting: KeySetting) -> list[str]:
    """The configured keys, newest first (``[]`` when none)."""
    text = setting.get_secret_value() if isinstance(setting, SecretStr) else (setting or "")
    return [part.strip() for part in text.split(",") if part.strip()]


def _keys(setting: KeySetting) -> tuple[_Key, ...]:
    found = key_list(setting)
    if not found:
        raise SecretsKeyError(MISSING_KEY)
    return _ring(tuple(found))


def _aad(purpose: str, owner: str) -> bytes:
    return f"browserfleet|{purpose}|{owner}".encode()


def encrypt_json(value: object, setting: KeySetting, *, purpose: str, owner: str) -> str:
    """Encrypt a JSON-able value with the newest key, bound to ``purpose`` and ``owner``."""
    key = _keys(setting)[0]
    nonce = os.urandom(_NONCE)
    sealed = key.aead.encrypt(nonce, json.dumps(value).encode(), _aad(purpose, owner))
    return f"{_PREFIX}{key.id}.{base64.urlsafe_b64encode(nonce + sealed).decode().rstrip('=')}"


def decrypt_json(token: str, setting: KeySetting, *, purpose: str, owner: str) -> object:
    """Decrypt a token made by :func:`encrypt_json` for the same purpose and owner (or an older,
    unbound Fernet token) with whichever configured key made it."""
    keys = _keys(setting)
    if not token.startswith(_PREFIX):
        return _legacy(token, keys)
    key_id, _, body = token[len(_PREFIX):].partition(".")
    key = next((k for k in keys if k.id == key_id), None)
    if key is None:
        raise SecretsKeyError(f"cannot decrypt {purpose}: it was sealed with a key that is no longer in "
                              "BROWSERFLEET_SECRETS_KEY (rotated out too early?)")
    try:
        blob = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        plain = key.aead.decrypt(blob[:_NONCE], blob[_NONCE:], _aad(purpose, owner))
    except (InvalidTag, ValueError, binascii.Error):
        raise SecretsKeyError(f"cannot decrypt {purpose}: it does not belong to this record "
                              "(copied from another one, or altered)") from None
    return json.loads(plain)


def _legacy(token: str, keys: Sequence[_Key]) -> object:
    """A token written before the bound format: plain Fernet, by any configured key."""
    try:
        return json.loads(MultiFernet([k.fernet for k in keys]).decrypt(token.encode()))
    except InvalidToken:
        raise SecretsKeyError("cannot decrypt: no key in BROWSERFLEET_SECRETS_KEY made it") from None
