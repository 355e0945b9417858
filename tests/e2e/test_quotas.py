"""Per-key quotas and budgets, through the HTTP API, the Python producer and a real worker.

- a key's active (queued + running) tasks and queued tasks are capped inside the create
  script: the refusal is the v2 API's 429 ``TooManyConcurrentActiveSessionsError`` (or a
  clear "waiting" 429), nothing is written, and racing creates cannot pass the limit;
- a key whose daily/monthly budget is spent gets 402 for new tasks and sessions;
- a running task that crosses its cost cap or its key's budget stops before its next step,
  with the reason and its cost so far; the fleet-wide per-task cap applies to tasks
  created without a key;
- ``GET /billing/account`` reports the key's budget, spend, limits and usage.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
import redis

from producer import Producer
from shared import keys
from shared.accounts import account_of
from shared.limits import KeyLimits
from shared.models import TaskStatus
from shared.settings import Settings
from tests.e2e.helpers import script_id
from tests.support.api import ApiServer, check_against_spec
from tests.support.fake_llm import FakeLLM, step

TOO_MANY = ("Too many concurrent active sessions. Please wait for one to finish, kill one, or upgrade "
            "your plan.")
WAIT = step({"wait": {"seconds": 0}})
DONE = step({"done": {"text": "done", "success": True}})


def fresh_key() -> str:
    return f"bf-test-quota-{uuid.uuid4().hex}"


def task_count(redis_client: redis.Redis) -> int:
    return int(redis_client.zcard(keys.TASK_INDEX))


def test_active_tasks_per_key_answer_the_v2_429_and_write_nothing(
    make_api: Callable[..., ApiServer], redis_client: redis.Redis, official_spec: dict[str, Any]
) -> None:
    key, other = fresh_key(), fresh_key()
    server = make_api(scoped_api_keys=[key, other],
                      api_key_limits={key: KeyLimits(max_active_tasks=2)}, retry_after_s=3)
    with server.client(key) as client, server.client(other) as neighbour:
        first = [client.post("/tasks", json={"task": "x"}) for _ in range(2)]
        assert [r.status_code for r in first] == [202, 202]
        before = task_count(redis_client)
        refused = client.post("/tasks", json={"task": "x"})
        assert refused.status_code == 429 and refused.json() == {"detail": TOO_MANY}
        check_against_spec(official_spec, "TooManyConcurrentActiveSessionsError", refused.json())
        assert refused.headers["retry-after"] == "3"
        assert task_count(redis_client) == before  # nothing written, nothing enqueued
        assert redis_client.llen(server.settings.queue) == 2
        assert neighbour.post("/tasks", json={"task": "x"}).status_code == 202  # another key: its own count
        account = client.get("/billing/account").json()
        assert (account["maxActiveTasks"], account["activeTaskCount"]) == (2, 2)
        # a stopped task frees its place at once
        assert client.patch(f"/tasks/{first[0].json()['id']}", json={"action": "stop"}).status_code == 200
        assert client.post("/tasks", json={"task": "x"}).status_code == 202
        from tests.e2e.test_metrics import scrape, value

        samples = scrape(server.url + "/metrics")
        assert value(samples, "browserfleet_budget_refusals_total", reason="active") >= 1
        # a batch through the producer is refused whole
        producer: Producer = server.app.state.producer
        with pytest.raises(Exception, match="Too many concurrent"):
            producer.create_tasks([{"task": "a"}, {"task": "b"}], owner=None, account=account_of(key))


def test_racing_creates_never_pass_the_limit(make_api: Callable[..., ApiServer]) -> None:
    key = fresh_key()
    server = make_api(scoped_api_keys=[key], api_key_limits={key: KeyLimits(max_active_tasks=3)})
    results: list[int] = []
    barrier = threading.Barrier(10)

    def create() -> None:
        with server.client(key) as client:
            barrier.wait()
            results.append(client.post("/tasks", json={"task": "race"}).status_code)

    threads = [threading.Thread(target=create) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [202] * 3 + [429] * 7


def test_queued_tasks_per_key_and_the_default_for_every_key(make_api: Callable[..., ApiServer]) -> None:
    key, other = fresh_key(), fresh_key()
    server = make_api(scoped_api_keys=[key, other], key_max_queued_tasks=1,
                      api_key_limits={other: KeyLimits(max_queued_tasks=3)})
    with server.client(key) as client, server.client(other) as roomy:
        assert client.post("/tasks", json={"task": "x"}).status_code == 202
        refused = client.post("/tasks", json={"task": "x"})
        assert refused.status_code == 429
        assert "1 tasks waiting to start (its limit is 1)" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) >= 1
        codes = [roomy.post("/tasks", json={"task": "x"}).status_code for _ in range(4)]
        assert codes == [202, 202, 202, 429]


def test_a_spent_budget_answers_402_for_tasks_and_sessions(
    make_api: Callable[..., ApiServer], redis_client: redis.Redis, official_spec: dict[str, Any]
) -> None:
    key = fresh_key()
    server = make_api(scoped_api_keys=[key],
                      api_key_limits={key: KeyLimits(daily_budget_usd=Decimal("0.01"),
                                                     monthly_budget_usd=Decimal("1"))})
    producer: Producer = server.app.state.producer
    with server.client(key) as client:
        account = client.get("/billing/account").json()
        check_against_spec(official_spec, "AccountView", account)
        assert account["totalCreditsBalanceUsd"] == pytest.approx(0.01)
        assert account["monthlyCreditsBalanceUsd"] == pytest.approx(1)
        producer.stores.spend.charge(account_of(key), Decimal("0.0125"))  # what a worker records
        before = task_count(redis_client)
        refused = client.post("/tasks", json={"task": "x"})
        assert refused.status_code == 402, refused.text
        assert "daily budget of $0.01 is spent" in refused.json()["detail"]
        assert task_count(redis_client) == before
        assert client.post("/sessions", json={}).status_code == 402
        account = client.get("/billing/account").json()
        assert account["totalCreditsBalanceUsd"] == 0 and account["spentTodayUsd"] == pytest.approx(0.0125)
        assert account["monthlyCreditsBalanceUsd"] == pytest.approx(0.9875)
        assert account["dailyBudgetUsd"] == pytest.approx(0.01)


def run_view(client: httpx.Client, body: dict[str, Any], timeout: float = 90) -> dict[str, Any]:
    import time

    created = client.post("/tasks", json=body)
    assert created.status_code == 202, created.text
    task_id = created.json()["id"]
    deadline = time.monotonic() + timeout
    while (view := client.get(f"/tasks/{task_id}").json())["status"] not in ("finished", "failed", "stopped"):
        assert time.monotonic() < deadline, view
        time.sleep(0.1)
    return dict(view)


@pytest.mark.usefixtures("worker")
def test_a_running_task_stops_at_its_cap_or_its_keys_budget_with_its_cost_recorded(
    settings: Settings, fake_llm: FakeLLM, redis_client: redis.Redis
) -> None:
    from tests.support.api import api_settings

    capped, budgeted = fresh_key(), fresh_key()
    limits = {capped: KeyLimits(max_task_cost_usd=Decimal("0.0000001")),
              budgeted: KeyLimits(daily_budget_usd=Decimal("0.0000001"))}
    server = ApiServer(api_settings(settings, scoped_api_keys=[capped, budgeted],
                                    api_key_limits=limits)).start()
    try:
        for key, reason in ((capped, "reached its cap of $0.0000001"),
                            (budgeted, "daily budget of $0.0000001 is spent")):
            sid = script_id("budget")
            marker = fake_llm.script(sid, [WAIT, WAIT, WAIT, DONE])
            with server.client(key) as client:
                view = run_view(client, {"task": f"Wait a lot. {marker}"})
                assert view["status"] == "stopped", view
                assert reason in view["error"] and "stopped before its next step" in view["error"]
                assert len(view["steps"]) == 1 and len(fake_llm.calls[sid]) == 1  # no second LLM call
                assert Decimal(view["cost"]) > 0  # its cost so far, recorded
                spent = client.get("/billing/account").json()["spentTodayUsd"]
                assert spent == pytest.approx(float(Decimal(view["cost"])), rel=1e-6)
    finally:
        server.stop()


@pytest.mark.usefixtures("worker")
def test_the_fleet_default_cap_applies_to_tasks_without_a_key(settings: Settings, fake_llm: FakeLLM) -> None:
    producer = Producer(settings.model_copy(update={"max_task_cost_usd": Decimal("0.0000001")}))
    sid = script_id("fleet-cap")
    marker = fake_llm.script(sid, [WAIT, WAIT, DONE])
    view = producer.wait(producer.create_task({"task": f"Wait. {marker}"}).id, timeout=90)
    assert view.status == TaskStatus.stopped and "reached its cap" in (view.error or "")
    assert len(view.steps) == 1 and view.cost and view.cost > 0


def test_a_per_key_session_limit(make_api: Callable[..., ApiServer]) -> None:
    key = fresh_key()
    server = make_api(scoped_api_keys=[key], max_active_sessions=0,
                      api_key_limits={key: KeyLimits(max_active_sessions=1)})
    with server.client(key) as client:
        assert client.post("/sessions", json={}).status_code == 201
        refused = client.post("/sessions", json={})
        assert refused.status_code == 429 and refused.json() == {"detail": TOO_MANY}
        assert client.get("/billing/account").json()["concurrentSessionLimit"] == 1
