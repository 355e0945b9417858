"""Fleet controls without a fleet: settings, per-key resolution, event bodies, signatures, parsing.

The signature test runs the official SDK's own ``verify_webhook_event_signature`` (2.0.15, in a
subprocess) over hostile bodies: unicode, escapes, control characters, deep nesting.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from shared.accounts import Controls, Limits, account_of
from shared.limits import KeyLimits, LlmLimit
from shared.settings import Settings, key_label
from shared.task_events import decode_event
from tests.support.legacy_sdk import legacy_sdk
from workers.agent.limiter import credentials_fingerprint, estimate_tokens, limits_by_model
from workers.agent.llm import retry_after_s
from workers.webhooks.delivery import redact_url
from workers.webhooks.signing import serialize, signed_headers

SECRET = "whsec-unit-0123456789abcdef"


def make(**values: Any) -> Settings:
    return Settings(**values)


@pytest.mark.parametrize("url", ["ftp://example.com/hook", "example.com/hook", "https://user:pw@example.com/",
                                 "javascript:alert(1)", "https://[::1"])
def test_webhook_urls_must_be_plain_http_urls(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        make(webhook_url=url, webhook_secret=SECRET)
    assert "webhook URL" in str(refused.value) and "pw" not in str(refused.value)


def test_a_webhook_needs_a_secret_and_errors_never_show_one() -> None:
    with pytest.raises(ValidationError, match="needs BROWSERFLEET_WEBHOOK_SECRET"):
        make(webhook_url="https://hooks.example.com/x")
    hooks = json.dumps({"k1": {"url": "gopher://x", "secret": "s3cr3t-that-must-not-leak"}})
    with pytest.raises(ValidationError) as refused:
        make(api_key_webhooks=hooks)
    assert "s3cr3t-that-must-not-leak" not in str(refused.value) and key_label("k1") in str(refused.value)
    with pytest.raises(ValidationError, match="no secret"):
        make(api_key_webhooks=json.dumps({"k1": {"url": "https://x.example/"}}))
    with pytest.raises(ValidationError, match="not valid JSON"):
        make(api_key_webhooks="{not json")


def test_per_key_webhooks_fall_back_to_the_fleet_default_and_can_opt_out() -> None:
    settings = make(
        webhook_url="https://fleet.example/hook", webhook_secret=SECRET,
        api_key_webhooks=json.dumps({
            "own": {"url": "https://own.example/h", "secret": "own-secret-0123456789"},
            "sha256:" + "ab" * 32: {"url": None},
        }),
    )
    controls = Controls(settings)
    own = controls.webhook(account_of("own"))
    assert own is not None and (own.url, own.secret) == ("https://own.example/h", "own-secret-0123456789")
    assert controls.webhook("key:" + "ab" * 8) is None  # opted out by its digest
    fleet = controls.webhook(account_of("someone-else"))
    assert fleet is not None and (fleet.url, fleet.secret) == ("https://fleet.example/hook", SECRET)
    assert controls.webhook(None) == fleet  # tasks without a key
    assert SECRET not in own.secret_hint and SECRET not in fleet.secret_hint
    assert fleet.secret_hint.startswith("…")


def test_per_key_limits_override_the_defaults_field_by_field() -> None:
    settings = make(key_max_active_tasks=5, key_daily_budget_usd=Decimal("2"),
                    max_task_cost_usd=Decimal("0.5"), max_active_sessions=7,
                    api_key_limits={"vip": KeyLimits(max_active_tasks=50, daily_budget_usd=None)})
    controls = Controls(settings)
    vip, anyone = controls.limits(account_of("vip")), controls.limits(account_of("anyone"))
    assert (vip.max_active_tasks, vip.daily_budget_usd, vip.max_task_cost_usd) == (50, None, Decimal("0.5"))
    assert (anyone.max_active_tasks, anyone.daily_budget_usd, anyone.max_active_sessions) == (
        5, Decimal(2), 7)
    assert controls.limits(None) == Limits(max_active_sessions=7, max_task_cost_usd=Decimal("0.5"))
    assert Limits.from_record(vip.for_record()) == Limits(max_task_cost_usd=Decimal("0.5"))
    assert Limits().for_record() is None
    parsed = Settings.model_validate(
        {"api_key_limits": {"k": {"maxQueuedTasks": 3, "monthlyBudgetUsd": "10"}}})
    assert parsed.api_key_limits["k"] == KeyLimits(max_queued_tasks=3, monthly_budget_usd=Decimal(10))
    with pytest.raises(ValidationError):
        Settings.model_validate({"api_key_limits": {"k": {"maxActiveTask": 3}}})  # a typo is an error
    with pytest.raises(ValidationError):
        Settings.model_validate({"api_key_limits": {"k": {"dailyBudgetUsd": "-1"}}})


def status_entry(status: str, seq: int, **fields: Any) -> str:
    """An outbox entry as ``STATUS_EVENT_LUA`` writes it (the record's raw JSON values)."""
    raw = {"session_id": '"5c7b2f33-7d27-4b64-9d26-9d2e8d6b0a10"', "metadata": '{"a":"b"}',
           "account": '"key:0123456789abcdef"', "is_success": "null", "cost": "null", "error": "null",
           **fields}
    return json.dumps(["t-1", seq, "1790000000.123456", status, raw["session_id"], raw["metadata"],
                       raw["account"], raw["is_success"], raw["cost"], raw["error"]])


def test_outbox_entries_become_browser_use_cloud_events() -> None:
    failed = decode_event(status_entry("failed", 3, is_success="false", cost='"0.01"', error='"LLM down"'))
    assert failed.body["type"] == "agent.task.status_update"
    assert failed.body["timestamp"].startswith("2026-")
    assert failed.body["payload"] == {
        "task_id": "t-1", "session_id": "5c7b2f33-7d27-4b64-9d26-9d2e8d6b0a10", "status": "stopped",
        "metadata": {"a": "b"}, "task_status": "failed", "is_success": False, "cost": "0.01",
        "error": "LLM down",
    }
    assert failed.account == "key:0123456789abcdef"
    created = decode_event(status_entry("created", 1))
    assert created.body["payload"]["status"] == "initializing" and "is_success" not in created.body["payload"]
    assert decode_event(status_entry("created", 1)).delivery_id == created.delivery_id  # the same on retries
    assert created.delivery_id != failed.delivery_id


HOSTILE_METADATA = [
    {},
    {"ünïcödé": "日本語 🚀", "quote": '"\'\\', "ctl": "\x00\x01\u2028\u2029", "html": "</script><!--"},
    {"k" * 64: "v" * 500},
    {"nested": json.dumps({"deep": [[[[[1]]]]]})},
]

VERIFY = textwrap.dedent("""
    import json, sys
    from browser_use_sdk.lib.webhooks import verify_webhook_event_signature
    results = []
    for case in json.loads(sys.stdin.read()):
        event = verify_webhook_event_signature(body=case["body"], expected_signature=case["sig"],
                                               timestamp=case["ts"], secret=case["secret"])
        results.append(None if event is None else event.type)
    print(json.dumps(results))
""")


def test_our_signatures_verify_with_the_official_sdk_and_tampering_does_not() -> None:
    cases = []
    for n, metadata in enumerate(HOSTILE_METADATA):
        body = {"type": "agent.task.status_update", "timestamp": "2026-12-06T10:00:00+00:00",
                "payload": {"task_id": f"t{n}", "session_id": "s", "status": "finished", "metadata": metadata,
                            "task_status": "finished", "cost": "0.1", "is_success": None}}
        text = serialize(body)
        headers = signed_headers(text, 1790000000 + n, SECRET, f"d{n}", 1)
        sig, ts = headers["X-Browser-Use-Signature"], headers["X-Browser-Use-Timestamp"]
        cases.append({"body": text, "sig": sig, "ts": ts, "secret": SECRET})
        tampered = text.replace('"finished"', '"stopped"', 1)
        cases.append({"body": tampered, "sig": sig, "ts": ts, "secret": SECRET})
        cases.append({"body": text, "sig": sig, "ts": str(int(ts) + 1), "secret": SECRET})
        cases.append({"body": text, "sig": sig, "ts": ts, "secret": SECRET + "x"})
    test = {"type": "test", "timestamp": "2026-12-06T10:00:00+00:00", "payload": {"test": "ok"}}
    text = serialize(test)
    cases.append({"body": text, "sig": signed_headers(text, 1, SECRET, "t", 1)["X-Browser-Use-Signature"],
                  "ts": "1", "secret": SECRET})
    proc = subprocess.run([sys.executable, "-c", VERIFY], input=json.dumps(cases), capture_output=True,
                          text=True, env={"PYTHONPATH": str(legacy_sdk())}, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(proc.stdout)
    for n in range(len(HOSTILE_METADATA)):
        assert results[4 * n: 4 * n + 4] == ["agent.task.status_update", None, None, None], n
    assert results[-1] == "test"


@pytest.mark.parametrize(("headers", "expected"), [
    ({"retry-after": "7"}, 7.0),
    ({"Retry-After": "1.5"}, 1.5),
    ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
    ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past: no wait
    ({"retry-after": "soon"}, None),
    ({}, None),
])
def test_retry_after_is_read_from_the_providers_answer(
    headers: dict[str, str], expected: float | None
) -> None:
    class RateLimited(Exception):
        litellm_response_headers = headers

    assert retry_after_s(RateLimited()) == expected


def test_webhook_urls_are_redacted_in_logs() -> None:
    assert redact_url("https://hooks.example.com/services/T000/B000/XXXX?token=abc") == "https://hooks.example.com/…"
    assert redact_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"


def test_llm_limits_are_keyed_by_litellm_model_and_credentials() -> None:
    limits = limits_by_model({"gpt-4.1": LlmLimit(rpm=60, tpm=200_000), "openai/gpt-4.1": LlmLimit(rpm=30),
                              "browser-use-2.0": LlmLimit(tpm=1000)}, "openai/gpt-4.1-mini", {})
    assert limits == {"openai/gpt-4.1": LlmLimit(rpm=30, tpm=200_000),
                      "openai/gpt-4.1-mini": LlmLimit(tpm=1000)}
    one = credentials_fingerprint("openai/gpt-4.1", {"OPENAI_API_KEY": "sk-one"})
    two = credentials_fingerprint("openai/gpt-4.1", {"OPENAI_API_KEY": "sk-two"})
    assert one != two and "sk-one" not in one
    other_provider = [credentials_fingerprint("anthropic/claude", {"OPENAI_API_KEY": key})
                      for key in ("sk-one", "sk-two")]
    assert other_provider[0] == other_provider[1]
    text = estimate_tokens([{"role": "user", "content": "x" * 4000}])
    parts = [{"type": "text", "text": "x" * 4000}, {"type": "image_url", "image_url": {"url": "data:..."}}]
    image = estimate_tokens([{"role": "user", "content": parts}])
    assert image - text == 1000 and text == 1000 + 500


def test_secret_values_never_reach_a_repr() -> None:
    hooks = json.dumps({"k": {"url": "https://a.example/", "secret": "zzz-secret"}})
    settings = make(webhook_url="https://fleet.example/hook", webhook_secret=SECRET,
                    api_key_webhooks=SecretStr(hooks))
    assert SECRET not in repr(settings) and "zzz-secret" not in repr(settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "[::ffff:127.0.0.1]",
                                  "127.1", "LOCALHOST.", "[::1]"])
def test_webhook_deliveries_refuse_loopback_however_it_is_spelt(host: str) -> None:
    import socket

    from workers.policy.network import NetworkPolicy
    from workers.webhooks.transport import BlockedError, post

    listener = socket.socket(socket.AF_INET6 if host == "[::1]" else socket.AF_INET)
    listener.bind(("::1" if host == "[::1]" else "127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    port = listener.getsockname()[1]
    try:
        with pytest.raises(BlockedError, match=r"loopback|local machine"):
            post(f"http://{host}:{port}/hook", b"{}", {}, NetworkPolicy(), 2.0)
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()
    with pytest.raises(BlockedError, match="metadata"):
        post("http://169.254.169.254/latest/", b"{}", {}, NetworkPolicy(allow_private=True), 2.0)
    with pytest.raises(BlockedError, match="metadata"):
        post("http://metadata.google.internal/", b"{}", {}, NetworkPolicy(allow_private=True), 2.0)
