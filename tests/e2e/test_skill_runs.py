"""``POST /skills/{id}/execute`` end to end with the official SDK: an operator skill runs directly (no
agent) in a fleet browser context under the network guard; parameters are checked against the
skill's schema; executions are listed with their output; authoring and marketplace routes say why
they are not served.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from browser_use_sdk import BrowserUse, BrowserUseError

from tests.support.api import FULL_KEY, SCOPED_KEY_A, SCOPED_KEY_B, ApiServer, api_settings
from tests.support.site import Site


@pytest.fixture
def client(api: ApiServer) -> Iterator[BrowserUse]:
    with BrowserUse(api_key=FULL_KEY, base_url=api.base) as sdk:
        yield sdk


def skill_id(client: BrowserUse, slug: str) -> str:
    for skill in client.skills.list(page_size=100).items:
        if skill.slug == slug:
            return str(skill.id)
    raise AssertionError(f"skill {slug} not published")


def test_execute_a_skill_directly(client: BrowserUse, site: Site) -> None:
    sid = skill_id(client, "visit_and_read")
    out = client.skills.execute(sid, parameters={"url": site.url + "/login", "selector": "h1"})
    assert out.success is True and out.result == {"text": "Sign in", "title": "Login"}, out
    assert out.latency_ms is not None and out.latency_ms > 0
    runs = client.skills.executions(sid, page_size=100)
    assert runs.total_items >= 1 and runs.items[0].success is True and runs.items[0].has_output is True
    url = client.skills.execution_output(sid, str(runs.items[0].id)).download_url
    assert httpx.get(url).json() == {"text": "Sign in", "title": "Login"}


def test_parameters_policy_and_failures(client: BrowserUse, api: ApiServer, site: Site) -> None:
    sid = skill_id(client, "visit_and_read")
    for bad in ({}, {"url": 5}, {"url": site.url, "extra": 1}):
        with pytest.raises(BrowserUseError) as refused:
            client.skills.execute(sid, parameters=bad)
        assert refused.value.status_code == 422, bad
    metadata = client.skills.execute(sid, parameters={"url": "http://169.254.169.254/latest/meta-data/"})
    assert metadata.success is False and "cloud metadata" in (metadata.error or ""), metadata
    boom = client.skills.execute(skill_id(client, "boom"), parameters={"reason": "the operator's bug"})
    assert boom.success is False and boom.error == "RuntimeError: the operator's bug"
    with pytest.raises(BrowserUseError) as missing:
        client.skills.execute("00000000-0000-0000-0000-000000000000", parameters={})
    assert missing.value.status_code == 404


def test_executions_are_per_key_and_bound_skills_only(settings: Any, worker: Any, site: Site) -> None:
    """A scoped key executes only the skills bound to it (``BROWSERFLEET_API_KEY_SKILLS``) and sees only
    its own executions."""
    server = ApiServer(api_settings(settings, api_key_skills={SCOPED_KEY_A: ["page_title"]})).start()
    try:
        with (
            server.client(SCOPED_KEY_A) as mine,
            server.client(SCOPED_KEY_B) as theirs,
            server.client() as admin,
        ):
            sid = next(
                s["id"]
                for s in admin.get("/skills", params={"pageSize": 100}).json()["items"]
                if s["slug"] == "page_title"
            )
            done = mine.post(f"/skills/{sid}/execute", json={"parameters": {}}).json()
            assert done["success"] is True and done["result"]["url"] == "about:blank"
            newest = mine.get(f"/skills/{sid}/executions").json()["items"][0]
            assert newest["id"] == done["executionId"]
            assert (
                theirs.post(f"/skills/{sid}/execute", json={"parameters": {}}).status_code == 404
            )  # not bound
            assert theirs.get(f"/skills/{sid}/executions").status_code == 404
            assert done["executionId"] in [
                e["id"] for e in admin.get(f"/skills/{sid}/executions").json()["items"]
            ]
            other = next(
                s["id"]
                for s in admin.get("/skills", params={"pageSize": 100}).json()["items"]
                if s["slug"] == "visit_and_read"
            )
            assert (
                mine.post(f"/skills/{other}/execute", json={"parameters": {"url": site.url}}).status_code
                == 404
            )
    finally:
        server.stop()


def test_authoring_and_marketplace_say_why_they_are_not_served(api: ApiServer) -> None:
    with api.client() as http:
        for method, path in [
            ("POST", "/skills"),
            ("POST", "/skills/00000000-0000-0000-0000-000000000000/refine"),
            ("POST", "/skills/00000000-0000-0000-0000-000000000000/rollback"),
            ("GET", "/marketplace/skills"),
            ("POST", "/marketplace/skills/x/execute"),
        ]:
            answer = http.request(method, path, json={})
            assert answer.status_code == 400, (method, path, answer.text)
            assert "self-hosted" in answer.json()["detail"], answer.text
