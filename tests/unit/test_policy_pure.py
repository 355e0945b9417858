"""Pure policy: secret masking/revealing and allowed-domain patterns."""

from __future__ import annotations

import pyotp
import pytest

from shared.domains import parse_pattern, url_allowed
from workers.secrets.vault import SecretVault, UnknownSecretError


def test_vault_reveals_and_masks() -> None:
    vault = SecretVault({"pw": "hunter2", "pw_long": "hunter2-extra"})
    assert vault.reveal("x <secret>pw</secret> y") == "x hunter2 y"
    assert vault.mask("a hunter2-extra b hunter2") == "a <secret>pw_long</secret> b <secret>pw</secret>"
    with pytest.raises(UnknownSecretError, match="no secret named 'nope'"):
        vault.reveal("<secret>nope</secret>")


def test_totp_secret_yields_a_fresh_code_that_is_masked() -> None:
    seed = pyotp.random_base32()
    vault = SecretVault({"otp_totp": seed})
    code = vault.reveal("<secret>otp_totp</secret>")
    assert code == pyotp.TOTP(seed).now() and len(code) == 6
    assert vault.mask(f"typed {code}") == "typed <secret>otp_totp</secret>"


@pytest.mark.parametrize(
    ("pattern", "url", "allowed"),
    [
        ("example.com", "https://example.com/a", True),
        ("example.com", "https://www.example.com/", True),
        ("example.com", "https://api.example.com/", False),
        ("*.example.com", "https://api.example.com/", True),
        ("*.example.com", "https://example.com/", True),
        ("*.example.com", "https://badexample.com/", False),
        ("https://example.com", "http://example.com/", False),
        ("https://example.com", "https://example.com/", True),
        ("example.com", "about:blank", True),
    ],
)
def test_domain_patterns(pattern: str, url: str, allowed: bool) -> None:
    assert url_allowed(url, [parse_pattern(pattern)]) is allowed


@pytest.mark.parametrize("bad", ["*", "*.com", "com", "ex*ample.com", "ftp://example.com", "a.com/path", ""])
def test_invalid_patterns(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_pattern(bad)


def test_secret_values_pasted_elsewhere_are_replaced_before_storing() -> None:
    from shared.models import CreateTaskRequest
    from shared.redaction import redact_request

    request = CreateTaskRequest(
        task="log in with hunter2-s3cret please",
        secrets={"pw": "hunter2-s3cret"},
        judge_ground_truth="used hunter2-s3cret",
        metadata={"note": "hunter2-s3cret"},
        start_url="https://example.com/?p=hunter2-s3cret",
    )
    redacted = redact_request(request)
    dumped = redacted.model_dump_json(exclude={"secrets"})
    assert "hunter2-s3cret" not in dumped
    assert redacted.task == "log in with <secret>pw</secret> please"
    assert redacted.secrets == request.secrets  # still encrypted and used by the worker
