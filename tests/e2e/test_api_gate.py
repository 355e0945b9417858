"""The HTTP API's gate: no body is read before the key is checked, bodies are bounded, and a
scoped key may use only the 1Password vaults an operator bound to it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from tests.support.api import FULL_KEY, SCOPED_KEY_A, SCOPED_KEY_B, headers


def test_an_unauthenticated_body_is_never_read(make_api) -> None:
    api = make_api()
    with httpx.Client(base_url=api.base, timeout=30) as client:
        # Before: the body was parsed first, and this answered 422 (a parse error), not 401.
        answer = client.post("/tasks", content=b"{not json", headers={"content-type": "application/json"})
        assert answer.status_code == 401, answer.text
        wrong = client.post("/tasks", json={"task": "t"}, headers=headers("not-a-key"))
        assert wrong.status_code == 401
        assert client.get("/openapi.json").status_code == 200  # the document stays open


def test_bodies_over_the_limit_get_413(make_api) -> None:
    api = make_api(api_max_body_bytes=4096)
    big = {"task": "t" * 5000}
    with api.client() as client:
        assert client.post("/tasks", json=big).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit counts what arrives
            yield b'{"task": "'
            for _ in range(10):
                yield b"x" * 1000
            yield b'"}'

        streamed = client.post("/tasks", content=chunks(), headers={"content-type": "application/json"})
        assert streamed.status_code == 413, streamed.text
        assert "4096" in streamed.json()["detail"]
        assert client.post("/tasks", json={"task": "small"}).status_code == 202


def test_the_default_limit_is_one_mebibyte(make_api) -> None:
    api = make_api()
    with api.client() as client:
        answer = client.post("/tasks", json={"task": "t", "metadata": {"k": "v" * (1024 * 1024)}})
    assert answer.status_code == 413


def test_op_vault_ids_are_bound_to_scoped_keys(make_api) -> None:
    api = make_api(api_key_op_vaults={SCOPED_KEY_A: ["vault-a"]})
    payload = {"task": "use the vault", "opVaultId": "vault-a"}
    with api.client(SCOPED_KEY_A) as a, api.client(SCOPED_KEY_B) as b, api.client(FULL_KEY) as full:
        assert a.post("/tasks", json=payload).status_code == 202
        assert a.post("/tasks", json={**payload, "opVaultId": "operators-vault"}).status_code == 403
        refused = b.post("/tasks", json=payload)
        assert refused.status_code == 403 and "opVaultId" in refused.json()["detail"]
        assert full.post("/tasks", json={**payload, "opVaultId": "operators-vault"}).status_code == 202


def test_hostile_schemas_are_a_422_naming_the_field_over_http(make_api) -> None:
    """Before: ``{"$ref": "#"}`` raised RecursionError and deep nesting gave a 500."""
    api = make_api()
    hostile = ['{"$ref": "#"}', '{"not": ' * 2000 + "{}" + "}" * 2000, "[" * 100_000 + "]" * 100_000,
               '{"type": "string", "pattern": "(a)\\\\1"}']
    with api.client() as client:
        for schema in hostile:
            answer = client.post("/tasks", json={"task": "t", "structuredOutput": schema})
            assert answer.status_code == 422, (schema[:40], answer.text[:300])
            assert ["body", "structuredOutput"] in [e["loc"] for e in answer.json()["detail"]]


def test_the_gate_holds_behind_a_root_path(settings, redis_client) -> None:
    """``browserfleet api --root-path /fleet`` behind a proxy that strips ``/fleet``: uvicorn
    hands the app ``path=/fleet/api/v2/...`` with ``root_path=/fleet``. The gate now reads the
    path as the router does; before, it compared the raw path, which did not start with
    ``/api/v2/``, so bodies were parsed before the key was checked (422, not 401) and had no
    size limit."""
    import uuid

    from tests.support.api import ApiServer, api_settings

    queue = f"bf-idle-{uuid.uuid4().hex[:8]}"
    limited = api_settings(settings, queue=queue, api_max_body_bytes=4096)
    api = ApiServer(limited, root_path="/fleet").start()
    try:
        with httpx.Client(base_url=f"{api.url}/api/v2", timeout=30) as client:  # what the proxy forwards
            json_type = {"content-type": "application/json"}
            malformed = client.post("/tasks", content=b"{not json", headers=json_type)
            assert malformed.status_code == 401, malformed.text
            big = client.post("/tasks", json={"task": "t" * 5000}, headers=headers())
            assert big.status_code == 413, big.text
            assert client.post("/tasks", json={"task": "small"}, headers=headers()).status_code == 202
            assert client.get("/openapi.json").status_code == 200
    finally:
        api.stop()
        redis_client.delete(queue)


def test_skills_are_bound_to_scoped_keys(make_api, worker, redis_client) -> None:
    """``skillIds: ["*"]`` gave every API key every operator skill. Now a scoped key may use only
    the skills an operator bound to it, ``*`` is those, and it sees only those in ``/skills``."""
    import json as _json

    from shared import keys as _keys
    from shared.skill_ids import skill_uuid

    api = make_api(api_key_skills={SCOPED_KEY_A: ["extract_links"]})
    with api.client(SCOPED_KEY_A) as a, api.client(SCOPED_KEY_B) as b, api.client(FULL_KEY) as full:
        every = {s["slug"] for s in full.get("/skills", params={"pageSize": 100}).json()["items"]}
        assert {"extract_links", "fill_form"} <= every  # the worker published its registry

        def stored(task_id: str) -> object:
            return _json.loads(redis_client.hget(_keys.task(task_id), "request"))["skill_ids"]

        assert a.post("/tasks", json={"task": "t", "skillIds": ["extract_links"]}).status_code == 202
        star = a.post("/tasks", json={"task": "t", "skillIds": ["*"]})
        assert star.status_code == 202 and stored(star.json()["id"]) == ["extract_links"]
        for refused in (["fill_form"], [str(skill_uuid("fill_form"))], ["extract_links", "fill_form"]):
            answer = a.post("/tasks", json={"task": "t", "skillIds": refused})
            assert answer.status_code == 403 and "fill_form" in answer.json()["detail"], refused
        assert b.post("/tasks", json={"task": "t", "skillIds": ["*"]}).status_code == 403
        assert b.post("/tasks", json={"task": "t"}).status_code == 202
        assert [s["slug"] for s in a.get("/skills").json()["items"]] == ["extract_links"]
        assert b.get("/skills").json()["items"] == []
        assert a.get(f"/skills/{skill_uuid('fill_form')}").status_code == 404
        assert a.get(f"/skills/{skill_uuid('extract_links')}").status_code == 200
        full_star = full.post("/tasks", json={"task": "t", "skillIds": ["*"]})
        assert full_star.status_code == 202 and stored(full_star.json()["id"]) == ["*"]
