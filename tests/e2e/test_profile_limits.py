"""Profiles are read per owner and limited per key, through the HTTP API.

The API runs on a Redis of its own, so the records it reads can be counted exactly: listing
one tenant's profiles must not load every tenant's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import redis

from tests.support.api import FULL_KEY, SCOPED_KEY_A, SCOPED_KEY_B, ApiServer
from tests.support.redis_server import RedisServer


def test_listing_reads_only_the_callers_profiles(
    own_api: Callable[..., ApiServer], own_redis: RedisServer
) -> None:
    server = own_api(max_profiles_per_key=0)
    client = redis.Redis(port=own_redis.port, decode_responses=True)
    with server.client(SCOPED_KEY_A) as a, server.client(SCOPED_KEY_B) as b, server.client(FULL_KEY) as full:
        for i in range(200):
            assert a.post("/profiles", json={"name": f"a-{i}"}).status_code == 201
        mine = b.post("/profiles", json={"name": "b-only", "userId": "u-b"}).json()
        before = _record_reads(client)
        listed = b.get("/profiles", params={"pageSize": 100}).json()
        queried = b.get("/profiles", params={"query": "only"}).json()
        reads = _record_reads(client) - before
        assert [p["id"] for p in listed["items"]] == [mine["id"]] and listed["totalItems"] == 1
        assert [p["id"] for p in queried["items"]] == [mine["id"]]
        assert reads <= 4, f"listing one profile read {reads} profile records (every tenant's?)"
        page = a.get("/profiles", params={"pageSize": 10, "pageNumber": 3}).json()
        assert page["totalItems"] == 200 and [p["name"] for p in page["items"]] == [
            f"a-{i}" for i in range(179, 169, -1)]  # newest first
        everyone = full.get("/profiles", params={"pageSize": 1}).json()  # the operator's view
        assert everyone["totalItems"] == 201
        assert b.delete(f"/profiles/{mine['id']}").status_code == 204
        assert b.get("/profiles").json()["totalItems"] == 0


def _record_reads(client: redis.Redis) -> int:
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("hgetall", "hmget", "hget"))


def test_a_key_may_hold_at_most_its_quota_of_profiles(own_api: Callable[..., ApiServer]) -> None:
    server = own_api(max_profiles_per_key=3)
    with server.client(SCOPED_KEY_A) as a, server.client(SCOPED_KEY_B) as b, server.client(FULL_KEY) as full:
        made = [a.post("/profiles", json={"name": f"p{i}"}) for i in range(3)]
        assert [r.status_code for r in made] == [201, 201, 201]
        refused = a.post("/profiles", json={"name": "one too many"})
        assert refused.status_code == 402, refused.text
        assert "3 profiles" in refused.json()["detail"] and "delete one" in refused.json()["detail"]
        assert a.get("/profiles").json()["totalItems"] == 3
        assert b.post("/profiles", json={"name": "another key"}).status_code == 201  # per key
        assert full.post("/profiles", json={"name": "operator"}).status_code == 201  # not limited
        assert a.delete(f"/profiles/{made[0].json()['id']}").status_code == 204
        # At the limit, racing creates have one winner.
        answers: list[int] = []

        def create() -> None:
            with server.client(SCOPED_KEY_A) as racer:
                answers.append(racer.post("/profiles", json={"name": "race"}).status_code)

        threads = [threading.Thread(target=create) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(answers) == [201, 402, 402, 402, 402, 402]
        assert a.get("/profiles").json()["totalItems"] == 3
