"""Masking finds a secret in every shape the browser gives it, in time linear in the text.

Each case is a form that reached the model's state or the stored steps unmasked before:
form posts, ``encodeURIComponent``, Chromium's URL canonicalisation, collapsed whitespace,
a trailing newline, CSS upper-casing, HTML entities, non-ASCII JSON, a value cut short.
"""

from __future__ import annotations

import html
import json
import time
from urllib.parse import quote, quote_plus

import pytest

from producer import TaskValidationError
from shared.models import MAX_SECRET_CHARS, MAX_SECRETS
from workers.secrets.vault import SecretVault, UnknownSecretError

TROUBADOR = "Tr0ub4dor&3*x y"
AT = "p@ssw0rd!"
SPACED = "correct  horse\tbattery staple"
NEWLINE = "line-secret\n"
UNICODE = "pässwörd-ünïcode"
QUOTE = "it's <b>\"quoted\"</b>"

CASES = [
    (TROUBADOR, quote_plus(TROUBADOR, safe="-_.*")),  # form-urlencoded: Tr0ub4dor%263+x
    (TROUBADOR, quote_plus(TROUBADOR)),
    (AT, "p%40ssw0rd!"),  # encodeURIComponent
    (AT, quote(AT, safe="")),
    (SPACED, "correct horse battery staple"),  # page text collapses whitespace
    (NEWLINE, "line-secret"),  # a field drops the trailing newline
    (AT, AT.upper()),  # text-transform: uppercase
    (QUOTE, html.escape(QUOTE)),
    (QUOTE, html.escape(QUOTE).replace("&#x27;", "&#39;")),
    (UNICODE, json.dumps(UNICODE)[1:-1]),  # \u00e4 escapes
    (UNICODE, json.dumps(UNICODE, ensure_ascii=False)[1:-1]),
    (UNICODE, quote(UNICODE, safe="")),  # Chromium percent-encodes non-ASCII in a URL
    (UNICODE, quote(UNICODE, safe="").lower()),
    ("hunter2-s3cret", "hunter2…"),  # a listing cut it short
    ("sk-live-0123456789abcdef0123", "key sk-live-0123456789ab"),  # a long piece of it
]


@pytest.mark.parametrize(("value", "shown"), CASES)
def test_every_form_of_a_value_is_masked(value: str, shown: str) -> None:
    vault = SecretVault({"pw": value})
    text = f"url: https://example.com/login?user=ada&password={shown}&next=/ done"
    masked = vault.mask(text)
    assert "<secret>pw</secret>" in masked, masked
    core = shown.rstrip("…")
    assert core not in masked or len(core) < 4, masked


def test_masking_is_linear_in_the_text() -> None:
    """The review's case: a 6,000-character state and an 81-character secret took 2.8 s."""
    secret = ("ab" * 40) + "c"
    vault = SecretVault({"k": secret, **{f"s{i}": f"secret-value-{i:03d}-" * 10 for i in range(40)}})
    text = "ab" * 3000
    started = time.perf_counter()
    masked = vault.mask(text + secret + text)
    elapsed = time.perf_counter() - started
    assert "<secret>k</secret>" in masked
    print(f"mask of {2 * len(text) + len(secret)} chars with 41 secrets: {elapsed * 1000:.1f} ms")


def test_overlapping_hits_become_one_placeholder() -> None:
    vault = SecretVault({"a": "alpha-beta-gamma-delta", "b": "gamma-delta-epsilon"})
    masked = vault.mask("x alpha-beta-gamma-delta-epsilon y")
    assert masked.startswith("x <secret>") and masked.endswith("</secret> y") and "delta" not in masked


def test_short_values_are_never_revealed() -> None:
    vault = SecretVault({"pin": "123", "pw": "long-enough"})
    with pytest.raises(UnknownSecretError, match="shorter than 4"):
        vault.reveal("<secret>pin</secret>", url="https://example.com/")
    assert vault.names == ["pw"]


@pytest.mark.parametrize(
    ("secrets", "says"),
    [
        ({"pin": "123"}, "shorter than 4 characters"),
        ({"pw": "x" * (MAX_SECRET_CHARS + 1)}, f"longer than {MAX_SECRET_CHARS}"),
        ({f"s{i}": f"value-{i}" for i in range(MAX_SECRETS + 1)}, f"at most {MAX_SECRETS} secrets"),
        ({"n" * 65: "value-1"}, "longer than 64"),
    ],
)
def test_the_producer_refuses_secrets_it_cannot_mask(producer, secrets: dict[str, str], says: str) -> None:
    with pytest.raises(TaskValidationError) as info:
        producer.validate({"task": "t", "secrets": secrets})
    assert [e["loc"] for e in info.value.errors] == [["secrets"]]
    assert says in str(info.value)
    assert "123" not in str(info.value)


def test_log_lines_and_tracebacks_are_masked_while_a_task_runs() -> None:
    import io
    import logging

    from workers.secrets import log_masking

    stream = io.StringIO()
    logger = logging.getLogger("test-masking")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    log_masking.install(logger)
    vault = SecretVault({"pw": AT})
    try:
        with log_masking.registered(vault):
            logger.warning("fetch of %s failed", f"https://example.com/?p={quote(AT, safe='')}")
            try:
                raise ValueError(f"bad value {AT}")
            except ValueError:
                logger.exception("crashed")
        logger.warning("after the task: %s", "nothing to mask")
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert AT not in text and quote(AT, safe="") not in text
    assert text.count("<secret>pw</secret>") == 2 and "after the task" in text


def test_base64_forms_are_masked_alone_and_inside_longer_base64() -> None:
    """A value base64-encoded on its own, or inside a longer base64 text at any byte alignment
    (``user:password`` in a Basic ``Authorization`` header), in either alphabet."""
    import base64 as b64

    from workers.secrets.vault import SecretVault

    value = "Tr0ub4dor&3 x/y?"
    vault = SecretVault({"pw": value})
    for prefix in ("", "a", "ab", "ada:", "someone@example.com:"):
        for encode in (b64.b64encode, b64.urlsafe_b64encode):
            encoded = encode((prefix + value + "!tail").encode()).decode()
            masked = vault.mask(f"Authorization: Basic {encoded}")
            assert "<secret>pw</secret>" in masked, (prefix, encoded)
    assert vault.mask(b64.b64encode(value.encode()).decode()) == "<secret>pw</secret>"
    assert vault.mask("Basic YWRhOnNvbWV0aGluZy1lbHNl") == "Basic YWRhOnNvbWV0aGluZy1lbHNl"  # another value
