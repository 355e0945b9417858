"""Encryption at rest: rotation, binding to purpose and owner, tokens written before (Fernet)."""

from __future__ import annotations

import json
import uuid

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from shared import crypto

OLD, NEW = crypto.new_key(), crypto.new_key()


def test_new_writes_use_the_newest_key_and_every_listed_key_decrypts() -> None:
    owner = str(uuid.uuid4())
    with_old = crypto.encrypt_json({"pw": "hunter22"}, OLD, purpose=crypto.TASK_SECRETS, owner=owner)
    rotated = SecretStr(f"{NEW},{OLD}")
    with_new = crypto.encrypt_json({"pw": "hunter22"}, rotated, purpose=crypto.TASK_SECRETS, owner=owner)
    for token in (with_old, with_new):
        opened = crypto.decrypt_json(token, rotated, purpose=crypto.TASK_SECRETS, owner=owner)
        assert opened == {"pw": "hunter22"}
    assert crypto.decrypt_json(with_new, NEW, purpose=crypto.TASK_SECRETS, owner=owner) == {"pw": "hunter22"}
    with pytest.raises(crypto.SecretsKeyError, match="no longer in"):  # the new key was not listed
        crypto.decrypt_json(with_new, OLD, purpose=crypto.TASK_SECRETS, owner=owner)
    assert with_new.startswith("bf2.") and "hunter22" not in with_new


def test_a_token_is_bound_to_its_purpose_and_owner() -> None:
    owner, other = str(uuid.uuid4()), str(uuid.uuid4())
    token = crypto.encrypt_json({"cookies": []}, NEW, purpose=crypto.PROFILE_STATE, owner=owner)
    for purpose, who in ((crypto.PROFILE_STATE, other), (crypto.SESSION_STATE, owner),
                         (crypto.TASK_SECRETS, owner)):
        with pytest.raises(crypto.SecretsKeyError, match="does not belong"):
            crypto.decrypt_json(token, NEW, purpose=purpose, owner=who)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(crypto.SecretsKeyError):
        crypto.decrypt_json(tampered, NEW, purpose=crypto.PROFILE_STATE, owner=owner)


def test_tokens_written_by_the_previous_release_still_decrypt() -> None:
    """The migration path: plain Fernet tokens (what ``encrypt_json`` wrote before) with any
    listed key, old or new."""
    legacy = Fernet(OLD.encode()).encrypt(json.dumps({"pw": "from-before"}).encode()).decode()
    for setting in (OLD, f"{NEW},{OLD}", SecretStr(f"{NEW}, {OLD}")):
        assert crypto.decrypt_json(legacy, setting, purpose=crypto.TASK_SECRETS, owner="any") == {
            "pw": "from-before"}
    with pytest.raises(crypto.SecretsKeyError, match="no key"):
        crypto.decrypt_json(legacy, NEW, purpose=crypto.TASK_SECRETS, owner="any")


def test_no_key_or_a_bad_key_is_a_clear_error() -> None:
    with pytest.raises(crypto.SecretsKeyError, match="browserfleet keygen"):
        crypto.encrypt_json({}, None, purpose=crypto.TASK_SECRETS, owner="x")
    with pytest.raises(crypto.SecretsKeyError, match="not a valid Fernet key") as caught:
        crypto.encrypt_json({}, "not-a-key-at-all", purpose=crypto.TASK_SECRETS, owner="x")
    assert "not-a-key-at-all" not in str(caught.value)
