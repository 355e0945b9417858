"""docs/api.md's coverage table names every path and method of the served contract, and says
the truth about each: a "works" path is a route of the app, a "refused, 400" one answers 400
with a reason (not a bare 404)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from producer.api import create_app
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "tests" / "support" / "spec" / "browser-use-cloud-v2.openapi.json"
ROW = re.compile(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| (.+) \|$")


def table() -> dict[tuple[str, str], str]:
    text = (ROOT / "docs" / "api.md").read_text()
    section = text.split("### Every path of the contract", 1)[1]
    rows = {}
    for line in section.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[(match.group(1), match.group(2))] = match.group(3)
    return rows


def contract() -> set[tuple[str, str]]:
    paths = json.loads(SPEC.read_text())["paths"]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_the_table_covers_every_path_of_the_contract() -> None:
    rows = table()
    assert set(rows) == contract(), {"missing": contract() - set(rows), "extra": set(rows) - contract()}
    assert all(status.startswith(("works", "refused, 400: ")) for status in rows.values()), rows


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app(Settings(api_keys=["coverage-key"])))


def test_each_row_is_what_the_app_does(client: TestClient) -> None:
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    served = {(m.upper(), p.removeprefix("/api/v2")) for p, ops in paths.items() for m in ops}
    for (method, path), status in table().items():
        assert (method, path) in served, (method, path)
        if status.startswith("refused"):
            concrete = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
            answer = client.request(
                method, "/api/v2" + concrete, headers={"X-Browser-Use-API-Key": "coverage-key"}, json={}
            )
            assert answer.status_code == 400 and "self-hosted" in answer.json()["detail"], (method, path)
