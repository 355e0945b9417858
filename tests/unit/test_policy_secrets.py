"""Secret masking in every form a value can take, TOTP seeds, and site-scoped secrets."""

from __future__ import annotations

import re

import pyotp
import pytest

from shared.masking import MIN_FRAGMENT
from workers.secrets.vault import (
    SecretScopeError,
    SecretVault,
    SiteScope,
    UnknownSecretError,
    totp_code,
)

KEY = "sk-live-" + "9f8e7d6c5b4a" * 6


def test_values_are_masked_as_typed_url_encoded_and_json_escaped() -> None:
    vault = SecretVault({"pw": 'p@ss w/"q"'})
    assert vault.mask("pw=p%40ss%20w%2F%22q%22") == "pw=<secret>pw</secret>"
    assert vault.mask("?pw=p%40ss+w%2F%22q%22&x") == "?pw=<secret>pw</secret>&x"
    assert vault.mask('{"text": "p@ss w/\\"q\\""}') == '{"text": "<secret>pw</secret>"}'


def test_a_long_value_cut_short_on_the_page_is_still_masked() -> None:
    vault = SecretVault({"api_key": KEY})
    clipped = f"<input value={KEY[:59]}…>"
    masked = vault.mask(clipped)
    assert KEY[:MIN_FRAGMENT] not in masked and masked == "<input value=<secret>api_key</secret>…>"
    middle = KEY[10:40]
    assert vault.mask(f"x {middle} y") == "x <secret>api_key</secret> y"
    assert vault.contains_secret(clipped) and not vault.contains_secret("nothing secret here")


def test_short_pieces_of_a_value_are_left_alone() -> None:
    vault = SecretVault({"api_key": KEY})
    assert vault.mask("sk-live-9f8e") == "sk-live-9f8e"


def test_unknown_names_are_refused_without_quoting_noise() -> None:
    vault = SecretVault({"pw": "hunter2"})
    with pytest.raises(UnknownSecretError) as info:
        vault.reveal("<secret>nope</secret>")
    assert str(info.value) == "no secret named 'nope'; available: ['pw']"


def test_totp_accepts_base32_seeds_and_otpauth_uris() -> None:
    seed = pyotp.random_base32()
    uri = pyotp.TOTP(seed).provisioning_uri(name="ada@example.com", issuer_name="Example")
    assert totp_code(seed) == pyotp.TOTP(seed).now()
    assert totp_code(seed.lower()) == pyotp.TOTP(seed).now()
    assert totp_code(uri) == pyotp.TOTP(seed).now()
    vault = SecretVault({"site_totp": uri})
    code = vault.reveal("<secret>site_totp</secret>")
    assert vault.mask(f"code {code}") == "code <secret>site_totp</secret>"
    with pytest.raises(UnknownSecretError, match="not a valid TOTP seed"):
        SecretVault({"bad_totp": "not base32 !"}).reveal("<secret>bad_totp</secret>")


def test_scoped_secrets_are_revealed_only_on_their_sites() -> None:
    vault = SecretVault(
        {"gh_password": "octo-pass", "free": "anywhere"},
        {"gh_password": [SiteScope("github.com"), SiteScope("intranet.local", subdomains=False, port=8443)]},
    )
    assert vault.reveal("<secret>gh_password</secret>", url="https://github.com/login") == "octo-pass"
    assert vault.reveal("<secret>gh_password</secret>", url="https://gist.github.com/") == "octo-pass"
    assert vault.reveal("<secret>gh_password</secret>", url="https://intranet.local:8443/") == "octo-pass"
    for url in ("https://evil.com/github.com", "https://notgithub.com/", "https://intranet.local/",
                "https://a.intranet.local:8443/", "file:///github.com"):
        with pytest.raises(SecretScopeError, match=re.escape("belongs to: github.com (and subdomains)")):
            vault.reveal("<secret>gh_password</secret>", url=url)
    with pytest.raises(SecretScopeError, match="without a page"):
        vault.reveal("<secret>gh_password</secret>")
    assert vault.reveal("<secret>free</secret>") == "anywhere"


def test_merging_keeps_the_tasks_own_secrets_and_their_lack_of_scope() -> None:
    own = SecretVault({"shared": "mine"})
    other = SecretVault(
        {"shared": "theirs", "extra": "x-extra"},
        {"shared": [SiteScope("a.com")], "extra": [SiteScope("b.com")]},
    )
    merged = own.merged(other)
    assert merged.names == ["extra", "shared"]
    assert merged.reveal("<secret>shared</secret>", url="https://anything.example/") == "mine"
    assert merged.scope("extra") == (SiteScope("b.com"),)
    assert merged.mask("mine theirs x-extra") == "<secret>shared</secret> theirs <secret>extra</secret>"
