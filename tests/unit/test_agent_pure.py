"""The agent's pure parts: output parsing, prompt building, the model table, settings."""

from __future__ import annotations

import json

import pytest

from shared.llms import UnknownModelError, model_table, resolve_model
from shared.settings import Settings
from workers.actions import ACTIONS
from workers.agent import prompt
from workers.agent.output import OutputError, parse_output


def test_parse_accepts_fences_prose_and_actions_alias() -> None:
    text = 'Sure!\n```json\n{"memory": "m", "actions": [{"click": {"index": 3}}]}\n```'
    out = parse_output(text, ACTIONS, 5)
    assert out.memory == "m" and out.actions[0].name == "click"
    assert json.loads(out.actions[0].as_json()) == {"click": {"index": 3}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty reply"),
        ("no json here", "one JSON object"),
        ('{"action": []}', "non-empty list"),
        ('{"action": [{"fly": {}}]}', "unknown or not allowed action 'fly'"),
        ('{"action": [{"click": {"index": "x"}}]}', "bad parameters for click"),
        ('{"action": [{"click": {"index": 1}, "done": {}}]}', "one key"),
        ('{"action": [{"click": {"index": 1, "force": true}}]}', "bad parameters for click"),
        ('{"action": [{"click": {"index": 1}}', "invalid JSON"),
    ],
)
def test_parse_errors_are_readable(text: str, message: str) -> None:
    with pytest.raises(OutputError, match=message):
        parse_output(text, ACTIONS, 5)


def test_parse_caps_the_action_queue() -> None:
    text = json.dumps({"action": [{"wait": {"seconds": 0}}] * 9})
    assert len(parse_output(text, ACTIONS, 3).actions) == 3


def test_last_step_allows_only_done() -> None:
    with pytest.raises(OutputError, match="not allowed"):
        parse_output('{"action": [{"click": {"index": 1}}]}', {"done": ACTIONS["done"]}, 5)


def test_system_prompt_is_compact_and_lists_every_action() -> None:
    text = prompt.system_prompt(
        ACTIONS, flash_mode=False, thinking=True, vision=True, max_actions=5, structured=True
    )
    assert len(text) < 4000  # the reference agent sends ~24 kB every step
    for name in ACTIONS:
        assert f"- {name}{{" in text
    assert "input{index:int,text:str,clear?:bool}" in text


def test_flash_mode_format_has_only_memory_and_action() -> None:
    fmt = json.loads(prompt.output_format(flash_mode=True, thinking=True))
    assert set(fmt) == {"memory", "action"}


def test_history_is_compacted() -> None:
    history = [prompt.StepMemory(i, "ok", f"mem {i}", "goal", ["{}"], ["r"]) for i in range(1, 21)]
    text = prompt.render_history(history)
    assert "(12 earlier steps; last memory then: mem 12)" in text
    assert text.count("step ") == prompt.HISTORY_FULL_STEPS


def test_model_table_resolves_defaults_and_overrides() -> None:
    assert resolve_model("gpt-4.1", "openai/x", {}) == "openai/gpt-4.1"
    assert resolve_model("browser-use-2.0", "anthropic/y", {}) == "anthropic/y"
    assert resolve_model("gpt-4.1", "openai/x", {"gpt-4.1": "azure/my-deploy"}) == "azure/my-deploy"
    assert "ollama-local" in model_table("openai/x", {"ollama-local": "ollama/llama3"})
    with pytest.raises(UnknownModelError, match=r"accepted: .*claude-sonnet-4-5-20250929"):
        resolve_model("gpt-99", "openai/x", {})


def test_settings_budgets_must_nest() -> None:
    with pytest.raises(ValueError, match="must nest"):
        Settings(task_budget_s=5000, soft_time_limit_s=1900)
    Settings()  # defaults nest


def test_models_setting_reads_json_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROWSERFLEET_MODELS", '{"local": "ollama/llama3"}')
    assert Settings().models == {"local": "ollama/llama3"}


def test_latest_result_is_shown_whole_older_ones_short() -> None:
    long = "x" * 1000
    history = [prompt.StepMemory(i, "", "", "", ['{"extract": {}}'], [long]) for i in (1, 2)]
    first, second = prompt.render_history(history).splitlines()
    assert "…[700 more chars]" in first and long not in first
    assert long in second
