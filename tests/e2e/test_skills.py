"""Skills end to end: selected by ``skillIds``, called by the (fake) model, recorded in the steps.

The test worker loads the built-ins and ``tests/support/skills`` (``BROWSERFLEET_SKILLS_DIR``)
and publishes their manifest at start; the producer validates against it.
"""

from __future__ import annotations

import json

import pytest

from producer import TaskValidationError
from shared.models import TaskStatus
from tests.e2e.helpers import run, script_id
from tests.support.fake_llm import Call, FakeLLM, step
from tests.support.site import PASSWORD, Site

pytestmark = pytest.mark.usefixtures("worker")

CATALOG = """<!doctype html><html><head><title>Catalog</title></head><body>
<a href="/docs/guide">Read the guide</a> <a href="https://example.org/about">About us</a>
<a href="/docs/api">API docs</a>
<table><caption>Prices</caption>
  <thead><tr><th>Item</th><th>Price</th></tr></thead>
  <tbody><tr><td>widget</td><td>3.50</td></tr><tr><td>gadget</td><td>7.25</td></tr></tbody>
</table></body></html>"""


def done(text: str = "ok") -> dict[str, object]:
    return {"done": {"text": text, "success": True}}


def first_result(view, number: int = 1) -> str:  # type: ignore[no-untyped-def]
    return view.steps[number - 1].results[0]


def test_selected_skills_are_called_and_their_output_recorded(
    producer, fake_llm: FakeLLM, site: Site
) -> None:
    site.pages["/catalog"] = CATALOG
    sid = script_id("skills")
    marker = fake_llm.script(sid, [
        step({"skill_extract_links": {"contains": "docs"}}, {"skill_extract_tables": {"max_rows": 5}}),
        step(done("2 docs links, widget costs 3.50")),
    ])
    view = run(producer, {"task": f"Read the catalog. {marker}", "startUrl": site.url + "/catalog",
                          "skillIds": ["extract_links", "extract_tables"]})
    assert view.status == TaskStatus.finished, view.error
    links_text, tables_text = view.steps[0].results
    links = json.loads(links_text.removeprefix("skill extract_links: "))
    assert links["total"] == 2
    assert [link["href"] for link in links["links"]] == [site.url + "/docs/guide", site.url + "/docs/api"]
    tables = json.loads(tables_text.removeprefix("skill extract_tables: "))
    assert tables["tables"][0]["caption"] == "Prices"
    assert tables["tables"][0]["rows"] == [
        {"Item": "widget", "Price": "3.50"}, {"Item": "gadget", "Price": "7.25"},
    ]
    first, second = fake_llm.calls[sid]
    assert "- skill_extract_links{contains?:" in first.system and "- skill_extract_tables{" in first.system
    assert "skill_fill_form" not in first.system and "skill_boom" not in first.system
    assert "skill extract_links: {" in second.user  # the model reads the result next step


def test_star_offers_every_published_skill(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("skills-all")
    marker = fake_llm.script(sid, [step({"skill_page_title": {"upper": True}}), step(done())])
    view = run(producer, {"task": f"Title. {marker}", "startUrl": site.url + "/login", "skillIds": ["*"]})
    assert view.status == TaskStatus.finished, view.error
    assert json.loads(first_result(view).removeprefix("skill page_title: "))["title"] == "LOGIN"
    published = {s["action"] for s in producer.list_skills()}
    assert {"skill_extract_links", "skill_fill_form", "skill_download_file", "skill_boom",
            "skill_page_title"} <= published
    system = fake_llm.calls[sid][0].system
    assert all(f"- {action}{{" in system for action in published)


def test_no_skill_ids_means_no_skill_actions(producer, fake_llm: FakeLLM) -> None:
    sid = script_id("skills-none")
    marker = fake_llm.script(sid, [step(done())])
    run(producer, {"task": f"Plain. {marker}"})
    assert "skill_" not in fake_llm.calls[sid][0].system


def test_unknown_skill_is_rejected_with_the_known_ones(producer) -> None:
    with pytest.raises(TaskValidationError) as caught:
        producer.create_task({"task": "Use it", "skillIds": ["extract_links", "teleport"]})
    (error,) = caught.value.errors
    assert error["loc"] == ["skillIds"] and error["type"] == "unknown_skill"
    assert "unknown skill(s) 'teleport'; known: " in error["msg"]
    assert "extract_links" in error["msg"] and "page_title" in error["msg"]


def test_a_failing_skill_is_reported_to_the_agent_and_the_task_goes_on(
    producer, fake_llm: FakeLLM, site: Site
) -> None:
    sid = script_id("skills-boom")
    marker = fake_llm.script(sid, [
        step({"skill_boom": {"reason": "disk on fire"}}, {"scroll": {"down": True}}),
        step(done("recovered")),
    ])
    view = run(producer, {"task": f"Try it. {marker}", "startUrl": site.url, "skillIds": ["boom"]})
    assert view.status == TaskStatus.finished and view.output == "recovered", view.error
    assert view.steps[0].results == ["error: skill boom failed: RuntimeError: disk on fire"]
    assert "skill boom failed: RuntimeError: disk on fire" in fake_llm.calls[sid][1].user


def test_fill_form_reveals_secrets_only_in_the_browser(producer, fake_llm: FakeLLM, site: Site) -> None:
    sid = script_id("skills-form")

    def script(call: Call) -> str:
        if "title: Login" in call.user:
            fields = {"Username": "ada", "Password": "<secret>password</secret>"}
            return step({"skill_fill_form": {"fields": fields, "submit": True}})
        assert "title: Order" in call.user
        return step(done("logged in"))

    marker = fake_llm.script(sid, script)
    view = run(producer, {"task": f"Log in. {marker}", "startUrl": site.url + "/login",
                          "secrets": {"password": PASSWORD}, "skillIds": ["fill_form"]})
    assert view.status == TaskStatus.finished and view.output == "logged in", view.error
    assert ("POST", "/login", site.url.split("//")[1]) in site.log
    assert first_result(view).startswith("skill fill_form: filled 2 field(s): Username, Password; submitted")
    assert view.steps[1].url == site.url + "/order"
    assert all(PASSWORD not in json.dumps(call.body) for call in fake_llm.calls[sid])
    assert PASSWORD not in json.dumps(view.wire())


def test_download_file_becomes_an_output_file(producer, fake_llm: FakeLLM, site: Site) -> None:
    site.pages["/exports/report.csv"] = "id,item\n1,widget\n"
    sid = script_id("skills-download")
    marker = fake_llm.script(sid, [
        step({"skill_download_file": {"url": "/exports/report.csv"}}),
        step({"skill_download_file": {"url": "/missing.pdf"}}),
        step(done("saved")),
    ])
    view = run(producer, {"task": f"Download. {marker}", "startUrl": site.url + "/login",
                          "skillIds": ["download_file"]})
    assert view.status == TaskStatus.finished, view.error
    (kept,) = view.output_files
    assert kept.file_name == "report.csv"
    saved = json.loads(first_result(view).removeprefix("skill download_file: "))
    assert saved["id"] == str(kept.id) and saved["size"] == len("id,item\n1,widget\n")
    meta, data = producer.store.output_file(str(view.id), str(kept.id))
    assert data == b"id,item\n1,widget\n" and meta["fileName"] == "report.csv"
    assert first_result(view, 2) == f"error: download of {site.url}/missing.pdf failed: HTTP 404"


def test_skill_ids_accept_the_uuid_the_api_lists(producer) -> None:
    from shared.skill_ids import skill_uuid

    request = producer.validate({"task": "Use it", "skillIds": [str(skill_uuid("extract_links"))]})
    assert request.skill_ids == ["extract_links"]
