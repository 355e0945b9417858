"""Every create-task option that changes the agent's behaviour, observed at the fake LLM."""

from __future__ import annotations

import base64
import json

import pytest

from shared.models import TaskStatus
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import FakeLLM, step
from tests.support.site import Site

pytestmark = pytest.mark.usefixtures("worker")

DONE = step({"done": {"text": "ok", "success": True}})


def _one_call(producer, fake_llm: FakeLLM, site: Site, **options: object):  # type: ignore[no-untyped-def]
    sid = script_id("opt")
    marker = fake_llm.script(sid, [DONE])
    view = run(producer, {"task": f"Option check. {marker}", "startUrl": site.url + "/login", **options})
    assert view.status == TaskStatus.finished, view.error
    return fake_llm.calls[sid][0], view


def _image_bytes(call) -> bytes:  # type: ignore[no-untyped-def]
    for message in call.messages:
        if isinstance(message["content"], list):
            for part in message["content"]:
                if part["type"] == "image_url":
                    return base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
    raise AssertionError("no image in request")


def test_vision_true_attaches_a_screenshot(producer, fake_llm, site) -> None:
    call, _ = _one_call(producer, fake_llm, site, vision=True)
    image = _image_bytes(call)
    assert image[:2] == b"\xff\xd8" and len(image) > 1000  # a real JPEG
    assert "and a screenshot" in call.system


def test_vision_false_sends_text_only(producer, fake_llm, site) -> None:
    call, _ = _one_call(producer, fake_llm, site, vision=False)
    assert not call.has_image
    assert "screenshot" not in call.system


def test_vision_auto_follows_the_model_capability(producer, fake_llm, site, settings) -> None:
    # browser-use-2.0 maps to openai/gpt-4.1-mini in the tests: litellm says it has vision.
    call, _ = _one_call(producer, fake_llm, site, vision="auto")
    assert call.has_image


def test_highlight_elements_draws_labels_for_the_screenshot_only(producer, fake_llm, site) -> None:
    plain, _ = _one_call(producer, fake_llm, site, vision=True, highlightElements=False)
    marked, _ = _one_call(producer, fake_llm, site, vision=True, highlightElements=True)
    assert _image_bytes(plain) != _image_bytes(marked)
    # The labels are gone from the page text and element list the model reads.
    assert marked.user.split("<state>")[1] == plain.user.split("<state>")[1]


def test_system_prompt_extension_is_appended(producer, fake_llm, site) -> None:
    call, _ = _one_call(producer, fake_llm, site, systemPromptExtension="Always answer in French.")
    assert call.system.rstrip().endswith("Always answer in French.")


def test_thinking_adds_the_thinking_field(producer, fake_llm, site) -> None:
    call, _ = _one_call(producer, fake_llm, site, thinking=True)
    assert '"thinking":' in call.system
    plain, _ = _one_call(producer, fake_llm, site)
    assert '"thinking":' not in plain.system


def test_thinking_level_sets_reasoning_effort(producer, fake_llm, site) -> None:
    call, _ = _one_call(producer, fake_llm, site, llm="o4-mini", thinkingLevel="high")
    assert call.body.get("reasoning_effort") == "high"
    assert call.body["model"] == "o4-mini"


def test_flash_mode_keeps_only_memory_and_action(producer, fake_llm, site) -> None:
    call, _ = _one_call(producer, fake_llm, site, flashMode=True, thinking=True)
    assert '"memory":' in call.system and '"action":' in call.system
    for field in ("evaluation_previous_goal", "next_goal", "thinking"):
        assert f'"{field}":' not in call.system


def test_metadata_is_stored_and_returned(producer, fake_llm, site) -> None:
    _, view = _one_call(producer, fake_llm, site, metadata={"team": "growth", "ticket": "T-9"})
    assert view.metadata == {"team": "growth", "ticket": "T-9"}
    listed = producer.list_tasks(page_size=100)
    assert any(item.id == view.id and item.metadata == view.metadata for item in listed.items)


def test_screen_size_from_session_settings(producer, fake_llm, site) -> None:
    call, _ = _one_call(
        producer, fake_llm, site, sessionSettings={"browserScreenWidth": 800, "browserScreenHeight": 600}
    )
    assert "(viewport 600px)" in call.user
    image = _image_bytes(call)
    assert image[:2] == b"\xff\xd8"


def test_structured_output_schema_is_given_to_the_model(producer, fake_llm, site) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    sid = script_id("schema")
    marker = fake_llm.script(sid, [
        step({"done": {"success": True, "data": {"n": "not a number"}}}),
        step({"done": {"success": True, "data": {"n": 4}}}),
    ])
    view = run(producer, {"task": f"Count. {marker}", "structuredOutput": json.dumps(schema)})
    assert view.status == TaskStatus.finished and json.loads(view.output or "") == {"n": 4}
    first, second = fake_llm.calls[sid]
    assert '<output_schema>\n{"type":"object"' in first.user
    assert "does not match the output schema at n" in second.user
