"""Bad payloads raise one error naming every bad field, and nothing is written or enqueued."""

from __future__ import annotations

import json

import pytest

from producer import TaskValidationError
from shared import keys

VALID = {"task": "Find the price of a widget"}
LONG = "x" * 50001

BAD_PAYLOADS: list[tuple[dict[str, object], str]] = [
    ({}, "task"),
    ({"task": ""}, "task"),
    ({"task": LONG}, "task"),
    ({**VALID, "task": 42}, "task"),
    ({**VALID, "maxSteps": 0}, "maxSteps"),
    ({**VALID, "maxSteps": 10001}, "maxSteps"),
    ({**VALID, "maxSteps": "many"}, "maxSteps"),
    ({**VALID, "llm": "gpt-99"}, "llm"),
    ({**VALID, "judgeLlm": "not-a-model"}, "judgeLlm"),
    ({**VALID, "structuredOutput": "{not json"}, "structuredOutput"),
    ({**VALID, "structuredOutput": json.dumps({"type": "nonsense"})}, "structuredOutput"),
    ({**VALID, "structuredOutput": "[1, 2]"}, "structuredOutput"),
    ({**VALID, "sessionId": "not-a-uuid"}, "sessionId"),
    ({**VALID, "metadata": {str(i): "v" for i in range(11)}}, "metadata"),
    ({**VALID, "metadata": {"k": 1}}, "metadata.k"),
    ({**VALID, "secrets": {"bad name!": "x"}}, "secrets"),
    ({**VALID, "allowedDomains": ["*"]}, "allowedDomains"),
    ({**VALID, "allowedDomains": ["*.com"]}, "allowedDomains"),
    ({**VALID, "allowedDomains": ["ftp://example.com"]}, "allowedDomains"),
    ({**VALID, "allowedDomains": ["example.com/path"]}, "allowedDomains"),
    ({**VALID, "sessionSettings": {"proxyCountryCode": "US"}}, "sessionSettings.proxyCountryCode"),
    ({**VALID, "sessionSettings": {"browserScreenWidth": 319}}, "sessionSettings.browserScreenWidth"),
    ({**VALID, "sessionSettings": {"browserScreenHeight": 3457}}, "sessionSettings.browserScreenHeight"),
    ({**VALID, "sessionSettings": {"profileId": "nope"}}, "sessionSettings.profileId"),
    ({**VALID, "sessionSettings": {"unknown": 1}}, "sessionSettings.unknown"),
    ({**VALID, "thinkingLevel": "extreme"}, "thinkingLevel"),
    ({**VALID, "vision": "sometimes"}, "vision"),
    ({**VALID, "systemPromptExtension": "x" * 10001}, "systemPromptExtension"),
    ({**VALID, "judgeGroundTruth": "x" * 10001}, "judgeGroundTruth"),
    ({**VALID, "startUrl": "file:///etc/passwd"}, "startUrl"),
    ({**VALID, "skillIds": [""]}, "skillIds"),
    ({**VALID, "unknownField": True}, "unknownField"),
    ({**VALID, "startUrl": "https://evil.example.org", "allowedDomains": ["example.com"]}, "startUrl"),
]


def _state(redis_client, queue: str) -> tuple[int, int]:
    return redis_client.llen(queue), redis_client.zcard(keys.TASK_INDEX)


@pytest.mark.parametrize(("payload", "field"), BAD_PAYLOADS)
def test_invalid_payload_names_the_field_and_enqueues_nothing(
    producer, redis_client, settings, payload, field
) -> None:
    before = _state(redis_client, settings.queue)
    with pytest.raises(TaskValidationError) as info:
        producer.create_task(payload)
    paths = [".".join(str(p) for p in e["loc"]) for e in info.value.errors]
    assert field in paths, info.value.errors
    assert field in str(info.value)
    assert _state(redis_client, settings.queue) == before


def test_every_bad_field_is_reported_at_once(producer) -> None:
    with pytest.raises(TaskValidationError) as info:
        producer.create_task({"task": "", "maxSteps": -1, "llm": "nope", "allowedDomains": ["*"]})
    paths = {".".join(str(p) for p in e["loc"]) for e in info.value.errors}
    assert {"task", "maxSteps", "llm", "allowedDomains"} <= paths


def test_unknown_model_lists_the_accepted_names(producer) -> None:
    with pytest.raises(TaskValidationError) as info:
        producer.create_task({**VALID, "llm": "gpt-99"})
    assert "accepted:" in str(info.value) and "gpt-4.1" in str(info.value)


def test_operator_model_table_adds_names(producer, settings) -> None:
    from producer import Producer

    custom = Producer(settings.model_copy(update={"models": {"local-llama": "ollama/llama3"}}))
    assert custom.validate({**VALID, "llm": "local-llama"}).llm == "local-llama"
    with pytest.raises(TaskValidationError):
        producer.validate({**VALID, "llm": "local-llama"})


def test_secrets_without_a_key_are_refused(producer, settings) -> None:
    from producer import Producer

    keyless = Producer(settings.model_copy(update={"secrets_key": None}))
    with pytest.raises(TaskValidationError) as info:
        keyless.create_task({**VALID, "secrets": {"password": "x-password"}})
    assert "BROWSERFLEET_SECRETS_KEY" in str(info.value)


def test_snake_case_and_model_input_are_accepted(producer) -> None:
    from shared.models import CreateTaskRequest

    request = producer.validate({"task": "t", "max_steps": 5, "start_url": "example.com"})
    assert request.max_steps == 5 and request.start_url == "https://example.com"
    model = CreateTaskRequest(task="t", max_steps=7)
    assert producer.validate(model).max_steps == 7


def test_defaults_follow_the_spec(producer) -> None:
    request = producer.validate(VALID)
    wire = request.wire()
    assert wire["llm"] == "browser-use-2.0" and wire["maxSteps"] == 100 and wire["vision"] is True
    assert wire["highlightElements"] is False and wire["flashMode"] is False and wire["judge"] is False
    assert wire["systemPromptExtension"] == ""


@pytest.mark.parametrize(
    ("cost", "wire"),
    [
        ("0.0049504000000000002", "0.0049504"),
        ("0", "0"),
        ("0E-10", "0"),
        ("0.000000001234567", "0.00000000123457"),
        ("1234567.891", "1234570"),
        ("12.5", "12.5"),
    ],
)
def test_costs_are_plain_decimal_strings_of_six_significant_digits(cost: str, wire: str) -> None:
    from decimal import Decimal

    from shared.models import TaskStatusView

    view = TaskStatusView.model_validate({"id": "00000000-0000-0000-0000-000000000001", "status": "finished",
                                          "cost": Decimal(cost)})
    assert view.wire()["cost"] == wire


def test_up_keeps_generated_credentials_and_never_writes_configured_ones(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json as _json
    import stat

    from producer.fleet import local_credentials
    from shared.settings import Settings

    first = local_credentials(tmp_path, Settings(api_keys=[], secrets_key=None))
    again = local_credentials(tmp_path, Settings(api_keys=[], secrets_key=None))
    assert first == again and first[0].startswith("bf-")
    path = tmp_path / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    configured = local_credentials(tmp_path, Settings(api_keys=["operator-key"], secrets_key="k" * 44))
    assert configured == ("operator-key", "k" * 44)
    assert "operator-key" not in path.read_text() and _json.loads(path.read_text())["api_key"] == first[0]
    digest = local_credentials(tmp_path, Settings(api_keys=["sha256:" + "0" * 64]))
    assert digest[0] == "<a key of BROWSERFLEET_API_KEYS>"
