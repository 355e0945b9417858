"""Skills without a browser: the decorator, the action wrapper, discovery, the manifest, selection."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

import pytest
from pydantic import Field

from shared import keys
from shared.settings import Settings
from shared.skill_manifests import SkillManifests
from workers.actions.base import ActionContext, ActionError, ActionResult
from workers.secrets.vault import SecretVault
from workers.skills import Skill, SkillContext, SkillParams, skill
from workers.skills import registry as reg
from workers.skills.builtin.download_file import file_name_for


class EchoParams(SkillParams):
    text: str = Field(description="what to echo")
    times: int = 1


@skill("echo", title="Echo")
async def echo(ctx: SkillContext, params: EchoParams) -> dict[str, Any]:
    """Repeat text.

    Longer notes that stay out of the prompt.
    """
    return {"echo": [params.text] * params.times, "skill": ctx.skill_id}


@skill("fails")
async def fails(ctx: SkillContext, params: EchoParams) -> None:
    """Raise."""
    raise ValueError(f"cannot echo {params.text}\nsecond line")


def _ctx(vault: SecretVault | None = None) -> ActionContext:
    async def extract(query: str, page_text: str) -> str:
        return ""

    return ActionContext(
        tabs=cast(Any, None), elements=None, vault=vault or SecretVault(), extract=extract,
        guard=lambda url: "not allowed" if "evil" in url else None,
    )


def _run(item: Skill, params: dict[str, Any], ctx: ActionContext | None = None) -> ActionResult:
    action = item.action(files=None)
    return asyncio.run(action.run(ctx or _ctx(), action.params.model_validate(params)))


def test_decorator_infers_params_description_and_title() -> None:
    assert echo.params is EchoParams
    assert echo.description == "Repeat text."
    assert fails.title == "Fails"
    assert echo.action_name == "skill_echo"
    action = echo.action(files=None)
    assert action.signature() == "skill_echo{text:str,times?:int}"
    assert action.doc == "Repeat text."


def test_manifest_is_metadata_with_a_json_schema() -> None:
    entry = echo.manifest()
    assert entry["id"] == "echo" and entry["title"] == "Echo" and entry["action"] == "skill_echo"
    assert entry["parameters"]["properties"]["text"]["description"] == "what to echo"
    assert entry["parameters"]["required"] == ["text"]
    json.dumps(entry)


@pytest.mark.parametrize("bad_id", ["Echo", "1st", "with-dash", "x" * 49, ""])
def test_skill_ids_must_be_action_name_safe(bad_id: str) -> None:
    with pytest.raises(ValueError, match="must match"):
        skill(bad_id)(echo.run)


def test_params_must_be_skill_params_and_run_async() -> None:
    async def untyped(ctx, params):  # type: ignore[no-untyped-def]
        return None

    with pytest.raises(TypeError, match="SkillParams"):
        skill("untyped")(untyped)

    def sync(ctx: SkillContext, params: EchoParams) -> None:
        return None

    with pytest.raises(TypeError, match="async"):
        skill("sync")(cast(Any, sync))


def test_result_is_compact_json_for_the_model() -> None:
    result = _run(echo, {"text": "hi", "times": 2})
    assert result.text == 'skill echo: {"echo":["hi","hi"],"skill":"echo"}'
    assert result.error is None


def test_long_results_are_cut() -> None:
    result = _run(echo, {"text": "y" * 20000})
    assert len(result.text) < 12100 and "more characters" in result.text


def test_an_exception_becomes_an_action_error_for_the_model() -> None:
    with pytest.raises(ActionError, match=r"^skill fails failed: ValueError: cannot echo x$"):
        _run(fails, {"text": "x"})


def test_action_errors_and_guard_refusals_pass_through() -> None:
    class UrlParams(SkillParams):
        url: str

    async def local(ctx: SkillContext, params: UrlParams) -> None:
        return None

    with pytest.raises(TypeError, match=r"cannot resolve the params annotation .*; pass params="):
        skill("local")(local)

    @skill("visit", params=UrlParams)
    async def visit(ctx: SkillContext, params: UrlParams) -> str:
        """Check a URL."""
        ctx.check_url(params.url)
        return "ok"

    assert _run(visit, {"url": "https://fine.example"}).text == "skill visit: ok"
    with pytest.raises(ActionError, match=r"https://evil\.example is blocked: not allowed"):
        _run(visit, {"url": "https://evil.example"})


def test_save_file_without_a_store_is_an_action_error() -> None:
    @skill("saver")
    async def saver(ctx: SkillContext, params: EchoParams) -> dict[str, str]:
        """Save."""
        return await ctx.save_file("a.txt", params.text.encode(), "text/plain")

    with pytest.raises(ActionError, match="cannot keep output files"):
        _run(saver, {"text": "x"})


# -- discovery -------------------------------------------------------------
SKILL_FILE = '''
from workers.skills import SkillContext, SkillParams, skill

class P(SkillParams):
    n: int = 1

@skill("from_dir")
async def from_dir(ctx: SkillContext, params: P) -> int:
    """From the directory."""
    return params.n
'''


def _settings(**values: Any) -> Settings:
    # Explicit: the e2e fixtures export BROWSERFLEET_SKILLS_DIR into this process's environment.
    return Settings(**{"skills_dir": None, **values})


def test_builtins_are_registered() -> None:
    registry = reg.load_registry(_settings(builtin_skills=True))
    assert {"extract_links", "extract_tables", "fill_form", "download_file"} <= set(registry)
    assert reg.load_registry(_settings(builtin_skills=False)) == {}


def test_skills_dir_is_loaded_and_a_broken_module_skipped(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mine.py").write_text(SKILL_FILE)
    (tmp_path / "broken.py").write_text("raise RuntimeError('bad plugin')\n")
    (tmp_path / "_private.py").write_text("raise RuntimeError('never imported')\n")
    (tmp_path / "dupe.py").write_text(SKILL_FILE.replace('"from_dir"', '"extract_links"'))
    registry = reg.load_registry(_settings(builtin_skills=True, skills_dir=str(tmp_path)))
    assert registry["from_dir"].description == "From the directory."
    assert registry["extract_links"].title == "Extract links"  # the built-in keeps its id
    assert "broken.py" in caplog.text and "bad plugin" in caplog.text
    assert "never imported" not in caplog.text
    assert "extract_links from" in caplog.text and "already taken" in caplog.text


def test_missing_skills_dir_is_logged(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    assert reg.load_registry(_settings(builtin_skills=False, skills_dir=str(tmp_path / "nope"))) == {}
    assert "is not a directory" in caplog.text


def test_entry_points_offer_a_skill_a_list_or_a_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    module = types.ModuleType("plugin")
    module.fails = fails  # type: ignore[attr-defined]

    class Entry:
        def __init__(self, name: str, obj: Any) -> None:
            self.name, self.value, self.obj = name, f"plugin:{name}", obj

        def load(self) -> Any:
            return self.obj

    entries = [Entry("one", echo), Entry("mod", module), Entry("bad", 42)]
    monkeypatch.setattr(reg, "entry_points", lambda group: entries if group == reg.ENTRY_POINT_GROUP else [])
    registry = reg.load_registry(_settings(builtin_skills=False))
    assert set(registry) == {"echo", "fails"}


def test_select_skills() -> None:
    registry = {"echo": echo, "fails": fails}
    assert reg.select_skills(registry, None) == []
    assert reg.select_skills(registry, ["*"]) == [echo, fails]
    assert reg.select_skills(registry, ["fails", "echo", "fails"]) == [fails, echo]
    with pytest.raises(reg.UnknownSkillError, match="nope not installed on this worker; installed: echo, "):
        reg.select_skills(registry, ["echo", "nope"])
    actions = reg.skill_actions(registry, ["echo"], files=None)
    assert list(actions) == ["skill_echo"]


def test_file_names_are_safe() -> None:
    assert file_name_for("https://x.test/a/report%20v2.csv?x=1", {}, None) == "report v2.csv"
    assert file_name_for("https://x.test/dl", {"content-disposition": 'attachment; filename="inv 1.pdf"'},
                         None) == "inv 1.pdf"
    assert file_name_for("https://x.test/", {}, None) == "download"
    assert file_name_for("https://x.test/a", {}, "../../etc/passwd") == "passwd"
    assert file_name_for("https://x.test/a", {}, "a<b>|c.txt") == "a_b_c.txt"


# -- manifest in Redis and producer validation --------------------------------
def test_published_manifest_drives_producer_validation(producer, redis_client) -> None:  # type: ignore[no-untyped-def]
    from producer import TaskValidationError

    saved = redis_client.hgetall(keys.SKILLS)
    try:
        redis_client.delete(keys.SKILLS)
        with pytest.raises(TaskValidationError) as nothing:
            producer.validate({"task": "t", "skillIds": ["echo"]})
        assert "no skills are known yet" in str(nothing.value)
        producer.validate({"task": "t", "skillIds": ["*"]})

        reg.publish_manifest(SkillManifests(redis_client), {"echo": echo, "fails": fails}, "unit@test")
        listed = producer.list_skills()
        assert [s["id"] for s in listed] == ["echo", "fails"]
        assert listed[0]["parameters"]["required"] == ["text"] and listed[0]["publishedBy"] == "unit@test"
        assert producer.validate({"task": "t", "skillIds": ["echo"]}).skill_ids == ["echo"]
        with pytest.raises(TaskValidationError) as unknown:
            producer.validate({"task": "t", "skillIds": ["echo", "nope"]})
        assert unknown.value.errors[0]["loc"] == ["skillIds"]
        assert unknown.value.errors[0]["msg"] == "unknown skill(s) 'nope'; known: echo, fails"
    finally:
        redis_client.delete(keys.SKILLS)
        if saved:
            redis_client.hset(keys.SKILLS, mapping=saved)
